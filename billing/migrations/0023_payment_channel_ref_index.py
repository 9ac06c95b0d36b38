"""Issue 16: payments by their channel reference. The reconciliation looks up the payment a refund line
refunds (any day of the channel) and the disputed debits theirs by `channel_ref`; without an index both
scanned every payment online (10.8 million in a province). Built concurrently: posting goes on meanwhile."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("billing", "0022_merge_fiscal_receipts"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="payment",
            index=models.Index(
                condition=~models.Q(channel_ref=""), fields=["channel_ref"], name="payment_channel_ref"
            ),
        ),
    ]
