"""deploy/restore_drill.py: a base backup and the WAL archive restore the ledger as it was at a recovery
target time into a new cluster, verified entry by entry; a restore that differs is reported."""

import subprocess
import sys
from decimal import Decimal

import pytest
from django.conf import settings

from tests.factories import BillFactory
from tests.support import database_url, load_file_module, pay

DRILL = settings.BASE_DIR / "deploy" / "restore_drill.py"


def load_drill():
    return load_file_module(DRILL, "restore_drill")


@pytest.mark.django_db
def test_the_restore_drill_restores_the_ledger_to_the_recovery_point(django_db_blocker):
    migrated = database_url()
    workdir = settings.BASE_DIR / "var" / "restore-drill-test"
    result = subprocess.run(
        [sys.executable, str(DRILL), "--schema-from", migrated, "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "recovery point: " in output and "time taken: " in output
    assert "restored ledger verified" in output and "MISMATCH" not in output
    assert not workdir.exists()


@pytest.mark.django_db
def test_the_drill_reports_counts_that_differ_from_the_recovery_point():
    drill = load_drill()
    bill = BillFactory(amount_due=Decimal("12.00"))
    pay(bill.account, "12.00", key="drill-verify")
    counts = drill.ledger_counts()
    assert drill.verify(counts, {**counts, "payments": counts["payments"] + 1}) == []
    wrong = {**counts, "payments": counts["payments"] + 5}
    (problem,) = drill.verify(wrong, {})
    assert problem.startswith("payments: ")
    assert drill.verify(counts, counts) == [
        "the restore includes the payments posted after the recovery point"
    ]
