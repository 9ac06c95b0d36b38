"""A payment's bill update becomes HOT (heap-only): the index of payable bills (0028) goes, and a bill's
pages keep a tenth free.

A bill's status was in that index's condition, so every payment that changed it wrote a new entry into each
of the bill's seven indexes, at random leaves of indexes over every bill ever issued: on a province, seven
pages dirtied and seven full-page images in the WAL after each checkpoint (docs/benchmarks.md, "Bill
updates in place"). With no indexed column changed and room on its page, the new row version goes on the
same page and no index is touched. The lookup page and the posting's lock read an account's bills through
the (account, period) unique index instead: a year of bills is twelve rows.

The fill factor applies to pages written from now on (each month's bills); a table loaded before keeps
its full pages until it is rewritten (VACUUM FULL or CLUSTER, in a maintenance window). Dropped
concurrently: posting goes on meanwhile."""

from django.contrib.postgres.operations import RemoveIndexConcurrently
from django.db import migrations

FILL_FACTOR = 90


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("billing", "0030_payment_idempotency_key_160"),
    ]

    operations = [
        RemoveIndexConcurrently(model_name="bill", name="bill_account_payable_due"),
        migrations.RunSQL(
            f"ALTER TABLE billing_bill SET (fillfactor = {FILL_FACTOR})",
            reverse_sql="ALTER TABLE billing_bill RESET (fillfactor)",
        ),
    ]
