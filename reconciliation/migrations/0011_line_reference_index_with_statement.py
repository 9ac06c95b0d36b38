"""Issue 16: a statement line's reference index also holds its statement and kind, so the matching engine's
"seen in an earlier file of the channel?" test is answered from the index, one look-up per line of the day's
file, however many lines the channel sent before. Replaces the plain reference index (every look-up by
reference uses the new one). Built concurrently: imports go on meanwhile."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("reconciliation", "0010_merge_shares_and_channel_refunds"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="statementline",
            index=models.Index(
                fields=["channel_ref", "statement"], include=["kind"], name="recon_line_ref_statement"
            ),
        ),
        RemoveIndexConcurrently(model_name="statementline", name="recon_line_channel_ref"),
    ]
