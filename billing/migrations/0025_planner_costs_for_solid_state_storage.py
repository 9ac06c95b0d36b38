"""Issue 16: PostgreSQL's default `random_page_cost` (4) prices a read through an index as if the disk
were spinning. At a province's size that makes the planner walk the whole payments table's newest ids and
skip a million rows of other billers (0.6 s) rather than read one biller's newest rows through its
(biller, id) index (0.2 ms) for a biller operator's back-office list. 1.1 is the usual value for SSD and
NVMe storage, which a payment platform runs on. Set for the database, so it applies to every new
connection, including those through a pooler that refuses startup options. A role that may not alter the
database (a managed server) gets a notice instead: then the DBA sets it (docs/deploy.md)."""

from django.db import migrations

SET_FOR_DATABASE = """
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET random_page_cost = 1.1', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'random_page_cost left as it is: set it to 1.1 for this database (docs/deploy.md)';
END $$;
"""

RESET_FOR_DATABASE = """
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I RESET random_page_cost', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    NULL;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0024_biller_newest_first_indexes"),
    ]

    operations = [migrations.RunSQL(SET_FOR_DATABASE, RESET_FOR_DATABASE)]
