"""A settlement and a write-off each write one money line (issue 15)."""

import pytest

from reconciliation import services, working_days
from reconciliation.choices import MatchClass, Resolution
from reconciliation.models import SettlementBatch
from tests.reconciliation.test_settlement import reconciled  # noqa: F401 (fixture)
from tests.reconciliation.test_workbench import found  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def money_lines(log_lines, event):
    return [line for line in log_lines() if line["event"] == event]


def test_a_settlement_writes_one_money_line(reconciled, today, log_lines, django_capture_on_commit_callbacks):  # noqa: F811
    shop, _payments = reconciled
    with django_capture_on_commit_callbacks(execute=True):
        services.settle_day(day=today, as_of=working_days.next_working_day(today))
    batch = SettlementBatch.objects.get(biller=shop.biller, business_date=today)
    (line,) = money_lines(log_lines, "money.settle")
    assert line["amount"] == str(batch.net) and line["gross"] == str(batch.gross)
    assert line["batch_id"] == batch.pk and line["biller_id"] == shop.biller.pk
    assert line["entry_id"] == batch.journal_entry_id


def test_a_write_off_writes_one_money_line(
    found,  # noqa: F811
    officer,
    second_officer,
    log_lines,
    django_capture_on_commit_callbacks,
):
    discrepancy = found[MatchClass.AMOUNT_MISMATCH]
    services.resolve_discrepancy(
        discrepancy=discrepancy, action=Resolution.WRITE_OFF, note="short", actor=officer
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.approve_write_off(discrepancy=discrepancy, actor=second_officer, note="ok")
    discrepancy.refresh_from_db()
    (line,) = money_lines(log_lines, "money.write_off")
    assert line["amount"] == "-1.00" and line["discrepancy_id"] == discrepancy.pk
    assert line["entry_id"] == discrepancy.resolution_entry_id and line["channel"]
