"""The bill-lookup page's bills from an index of the payable bills only (docs/benchmarks.md, "Bill-lookup
page"): PostgreSQL 15 descends the (account, status, due date) index once per status of `status IN (…)`, and
at a province's size that index has four levels; this one holds a tenth of the bills, gives them in the
page's order in one descent, and stays in memory. Built concurrently (posting goes on meanwhile): one scan
of the bills' table, which writes only the payable bills' entries. The (account, status, due date) index
stays: the posting's lock and other pages of an account's bills by status read it."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("billing", "0027_posting_writes_fewer_index_entries"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="bill",
            index=models.Index(
                condition=models.Q(("status__in", ("open", "partly_paid"))),
                fields=["account", "due_date", "period"],
                name="bill_account_payable_due",
            ),
        ),
    ]
