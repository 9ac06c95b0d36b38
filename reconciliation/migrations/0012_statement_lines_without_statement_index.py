"""Issue 16: a statement line's statement has no index of its own. The unique (statement, line_no) index
serves every look-up by statement (the matching engine, the run's count, the cascade), and a million-line
import then writes three indexes per line, not four. Dropped concurrently: imports go on meanwhile."""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "reconciliation_statementline_statement_id_08e70db3"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("reconciliation", "0011_line_reference_index_with_statement"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="statementline",
                    name="statement",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="lines",
                        to="reconciliation.statementfile",
                        verbose_name="statement",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}",
                    reverse_sql=(
                        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} "
                        "ON reconciliation_statementline (statement_id)"
                    ),
                ),
            ],
        ),
    ]
