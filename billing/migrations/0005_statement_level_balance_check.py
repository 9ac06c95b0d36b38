"""Check ledger balance once per INSERT statement instead of once per line at commit.

The per-line deferred trigger ran a SUM for every line and cost ~0.8 ms of PostgreSQL CPU per payment
under 8 concurrent writers (docs/benchmarks.md). A statement-level trigger with a transition table checks
every entry the statement touched, once. It is also stricter: an entry's lines must arrive in one
statement, so no line can later be added to an existing entry.
"""

from django.db import migrations

FORWARD = """
DROP TRIGGER IF EXISTS billing_journalline_balances ON billing_journalline;
DROP FUNCTION IF EXISTS billing_check_entry_balances();

CREATE FUNCTION billing_check_entries_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad record;
BEGIN
    SELECT line.entry_id, SUM(line.amount) AS total INTO bad
    FROM billing_journalline line
    WHERE line.entry_id IN (SELECT DISTINCT entry_id FROM new_lines)
    GROUP BY line.entry_id
    HAVING SUM(line.amount) <> 0 OR COUNT(*) < 2
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance: its lines sum to % (or it has fewer than two)',
            bad.entry_id, bad.total USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER billing_journalline_balance AFTER INSERT ON billing_journalline
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION billing_check_entries_balance();
"""

REVERSE = """
DROP TRIGGER IF EXISTS billing_journalline_balance ON billing_journalline;
DROP FUNCTION IF EXISTS billing_check_entries_balance();

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


def forward(apps, schema_editor):
    schema_editor.execute(FORWARD, params=None)


def reverse(apps, schema_editor):
    schema_editor.execute(REVERSE, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0004_bill_description")]
    operations = [migrations.RunPython(forward, reverse)]
