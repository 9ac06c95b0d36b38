"""The (account, status, due date) index goes: the index of payable bills (0028) serves the lookup page and
the posting's lock, which now write their statuses in. Every payment put an entry into it (a bill's status
is in it, so its update is never HOT) at a random leaf of an index of every bill ever issued: on a province
a page read from disk and a full-page image in the WAL. Other look-ups of an account's bills by status read
the (account, period) unique index: a year of an account's bills is twelve rows. Dropped concurrently:
posting goes on meanwhile."""

from django.contrib.postgres.operations import RemoveIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("billing", "0028_bill_account_payable_due"),
    ]

    operations = [
        RemoveIndexConcurrently(model_name="bill", name="bill_account_status_due"),
    ]
