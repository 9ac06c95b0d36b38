"""A journal entry's reversal stays unique, and a payment's entry no longer adds to its index.

`JournalEntry.reverses` was a OneToOneField: its unique index took an entry for every journal entry, NULL
for all but the few reversals (9.9 million NULLs, 61 MB, on a province), one more index insertion in every
payment's statement. The uniqueness is now a partial unique index over the reversals only
(`entry_reversed_once`), built concurrently first, so that posting goes on and an entry is never without
the guarantee; then the old constraint goes, found by its column (PostgreSQL named it when the table was
made). The foreign key itself is left as it is: Django's AlterField would drop and add it again, and
adding it checks every entry under a lock that holds posting back."""

from django.db import migrations, models
from django.db.models import Q

DROP_OLD_UNIQUE = """
DO $$
DECLARE
    old_unique text;
BEGIN
    SELECT c.conname INTO old_unique
    FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
    WHERE c.conrelid = 'billing_journalentry'::regclass AND c.contype = 'u'
        AND cardinality(c.conkey) = 1 AND a.attname = 'reverses_id';
    IF old_unique IS NOT NULL THEN
        EXECUTE format('ALTER TABLE billing_journalentry DROP CONSTRAINT %I', old_unique);
    END IF;
END $$
"""


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
                ),
                migrations.RunSQL(
                    DROP_OLD_UNIQUE,
                    reverse_sql="ALTER TABLE billing_journalentry "
                    "ADD CONSTRAINT billing_journalentry_reverses_id_key UNIQUE (reverses_id)",
                ),
            ],
            state_operations=[
                migrations.AddConstraint(
                    model_name="journalentry",
                    constraint=models.UniqueConstraint(
                        condition=Q(reverses__isnull=False), fields=("reverses",), name="entry_reversed_once"
                    ),
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
            ],
        ),
    ]
