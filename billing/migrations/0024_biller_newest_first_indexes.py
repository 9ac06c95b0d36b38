"""Issue 16: a biller operator's back-office lists at a province's size. Bills, payments and journal lines
are listed newest first; one biller's rows, filtered or not, were found by walking the whole table's newest
ids backwards (a biller's monthly file is one block of ids: 2 s for the grid's bills of one period). These
indexes give each biller's (and each ledger account's) rows in id order. The bill index on (biller, period)
becomes (biller, period, id), which serves its old uses too. Built concurrently: posting goes on meanwhile."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("billing", "0023_payment_channel_ref_index"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="bill",
            index=models.Index(fields=["biller", "period", "id"], name="bill_biller_period_id"),
        ),
        RemoveIndexConcurrently(model_name="bill", name="bill_biller_period"),
        AddIndexConcurrently(
            model_name="bill",
            index=models.Index(fields=["biller", "id"], name="bill_biller_id"),
        ),
        AddIndexConcurrently(
            model_name="payment",
            index=models.Index(fields=["biller", "id"], name="payment_biller_id"),
        ),
        AddIndexConcurrently(
            model_name="journalline",
            index=models.Index(fields=["account", "id"], name="journalline_account_id"),
        ),
    ]
