"""Database-level guards of the ledger: posted rows are append-only and every entry balances.

The service checks balance before writing; these triggers make the database refuse a mistake that gets
past it (a raw SQL fix, a future bug). On PostgreSQL the balance check is a deferred constraint trigger,
run at commit when all of an entry's lines are in.
"""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE FUNCTION billing_refuse_ledger_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are append-only: % on % refused (post a reversing entry instead)',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER billing_journalline_append_only BEFORE UPDATE OR DELETE ON billing_journalline
    FOR EACH ROW EXECUTE FUNCTION billing_refuse_ledger_change();
CREATE TRIGGER billing_journalentry_append_only BEFORE UPDATE OR DELETE ON billing_journalentry
    FOR EACH ROW EXECUTE FUNCTION billing_refuse_ledger_change();
CREATE TRIGGER billing_paymentallocation_append_only BEFORE UPDATE OR DELETE ON billing_paymentallocation
    FOR EACH ROW EXECUTE FUNCTION billing_refuse_ledger_change();

CREATE FUNCTION billing_check_entry_balances() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE total numeric;
BEGIN
    SELECT COALESCE(SUM(amount), 0) INTO total FROM billing_journalline WHERE entry_id = NEW.entry_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'journal entry % does not balance: its lines sum to %', NEW.entry_id, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER billing_journalline_balances AFTER INSERT ON billing_journalline
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION billing_check_entry_balances();
"""

POSTGRES_REVERSE = """
DROP TRIGGER IF EXISTS billing_journalline_balances ON billing_journalline;
DROP FUNCTION IF EXISTS billing_check_entry_balances();
DROP TRIGGER IF EXISTS billing_paymentallocation_append_only ON billing_paymentallocation;
DROP TRIGGER IF EXISTS billing_journalentry_append_only ON billing_journalentry;
DROP TRIGGER IF EXISTS billing_journalline_append_only ON billing_journalline;
DROP FUNCTION IF EXISTS billing_refuse_ledger_change();
"""

def forward(apps, schema_editor):
    schema_editor.execute(POSTGRES_FORWARD, params=None)


def reverse(apps, schema_editor):
    schema_editor.execute(POSTGRES_REVERSE, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(forward, reverse)]
