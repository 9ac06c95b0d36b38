"""A journal entry's reversal stays unique, and a payment's entry no longer adds to its index.

`JournalEntry.reverses` was a OneToOneField: its unique index took an entry for every journal entry, NULL
for all but the few reversals (9.9 million NULLs, 61 MB, on a province), one more index insertion in every
payment's statement. The uniqueness is now a partial unique index over the reversals only
(`entry_reversed_once`), built concurrently first, so that posting goes on and an entry is never without
the guarantee; then the old constraint goes."""

from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("billing", "0031_bill_updates_hot"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS entry_reversed_once "
                    "ON billing_journalentry (reverses_id) WHERE reverses_id IS NOT NULL",
                    reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS entry_reversed_once",
                )
            ],
            state_operations=[
                migrations.AddConstraint(
                    model_name="journalentry",
                    constraint=models.UniqueConstraint(
                        condition=Q(reverses__isnull=False), fields=("reverses",), name="entry_reversed_once"
                    ),
                )
            ],
        ),
        migrations.AlterField(
            model_name="journalentry",
            name="reverses",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=models.deletion.PROTECT,
                related_name="reversed_by",
                to="billing.journalentry",
                verbose_name="reverses",
            ),
        ),
    ]
