"""Cash: each branch's till closings against its counter payments, per day."""

import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from billing.choices import Channel
from billing.models import JournalLine
from billing.money import ZERO, format_money
from branches import services as counter
from reconciliation import selectors, services, working_days
from reconciliation.choices import DiscrepancyStatus, MatchClass, Resolution, RunStatus
from reconciliation.exceptions import ReconciliationError
from reconciliation.models import Discrepancy, ReconciliationRun, SettlementBatch
from tests.factories import BillFactory, CustomerAccountFactory
from tests.support import log_in, pay, take_cash

pytestmark = pytest.mark.django_db
M = MatchClass
COUNT_586_50 = {10000: 5, 5000: 1, 2000: 1, 1000: 1, 500: 1, 100: 1, 50: 1}


@pytest.fixture
def day_at_x(dave, sam, bill, water, branch_x, till):
    kept = take_cash(dave, till, bill, "k1").counter_payment
    other = BillFactory(
        account=CustomerAccountFactory(biller=water), period=bill.period, amount_due=Decimal("30.00")
    )
    voided = take_cash(dave, till, other, "k2").counter_payment
    counter.void_counter_payment(counter_payment=voided, clerk=dave, supervisor=sam, reason="输错户号")
    third = BillFactory(
        account=CustomerAccountFactory(biller=water), period=bill.period, amount_due=Decimal("12.00")
    )
    stray = pay(third.account, "12.00", key="stray-1", channel=Channel.COUNTER, branch=branch_x).payment
    count = {**COUNT_586_50, 50: 0}  # fifty fen short
    till = counter.close_till(till_id=till.pk, clerk=dave, counts=count, note="少五角")
    return till, kept, voided, stray


def test_till_closings_are_matched_against_counter_payments(day_at_x, branch_x):
    till, kept, voided, stray = day_at_x
    run = services.reconcile_cash(branch=branch_x, day=till.business_date)
    assert run.status == RunStatus.DONE and run.channel_code == "COUNTER:BR-X"
    got = {(r.klass, r.payment_id, r.till_id) for r in run.results.all()}
    assert got == {
        (M.MATCHED, kept.payment_id, till.pk),
        (M.MATCHED, voided.payment_id, till.pk),
        (M.MISSING_CHANNEL, stray.pk, None),
        (M.AMOUNT_MISMATCH, None, till.pk),
    }
    variance = Discrepancy.objects.get(run=run, till=till)
    assert variance.difference == Decimal("-0.50")


def test_a_rerun_changes_nothing(day_at_x, branch_x):
    till = day_at_x[0]
    first = services.reconcile_cash(branch=branch_x, day=till.business_date)
    again = services.reconcile_cash(branch=branch_x, day=till.business_date)
    assert again.pk == first.pk and again.results.count() == 4
    assert ReconciliationRun.objects.count() == 1


def test_the_variance_is_accepted_with_the_tills_own_entry(day_at_x, branch_x, officer):
    till = day_at_x[0]
    run = services.reconcile_cash(branch=branch_x, day=till.business_date)
    discrepancy = Discrepancy.objects.get(run=run, till=till)
    assert services.allowed_resolutions(discrepancy) == (Resolution.ACCEPT_VARIANCE,)
    services.resolve_discrepancy(
        discrepancy=discrepancy, action=Resolution.ACCEPT_VARIANCE, note="点钞差错", actor=officer
    )
    discrepancy.refresh_from_db()
    assert discrepancy.status == DiscrepancyStatus.RESOLVED
    assert discrepancy.resolution_entry == till.variance_entry
    assert sum(JournalLine.objects.values_list("amount", flat=True), ZERO) == ZERO


def test_cash_no_till_took_is_reversed_or_written_off(day_at_x, branch_x, officer, second_officer):
    till, _kept, _voided, stray = day_at_x
    run = services.reconcile_cash(branch=branch_x, day=till.business_date)
    discrepancy = Discrepancy.objects.get(run=run, payment=stray)
    services.resolve_discrepancy(
        discrepancy=discrepancy, action=Resolution.WRITE_OFF, note="现金未入柜", actor=officer
    )
    services.approve_write_off(discrepancy=discrepancy, actor=second_officer)
    discrepancy.refresh_from_db()
    lines = {
        line.account.code: line.amount
        for line in discrepancy.resolution_entry.lines.select_related("account")
    }
    assert lines == {"CASH:BR-X": Decimal("-12.00"), "WRITEOFF:RECON": Decimal("12.00")}


def test_an_open_till_holds_the_branch_back(dave, branch_x):
    till = counter.open_till(clerk=dave, branch=branch_x, opening_float="100.00")
    with pytest.raises(ReconciliationError) as caught:
        services.reconcile_cash(branch=branch_x, day=till.business_date)
    assert caught.value.code == "tills_open"
    assert services.reconcile_cash_day(day=till.business_date) == []


def test_reconciled_cash_is_settled(day_at_x, branch_x, water):
    till, kept, _voided, _stray = day_at_x
    call_command("reconcile", "--channel", "COUNTER:BR-X", "--date", till.business_date.isoformat())
    services.settle_day(day=till.business_date, as_of=working_days.next_working_day(till.business_date))
    batch = SettlementBatch.objects.get(biller=water)
    assert list(batch.items.values_list("payment_id", flat=True)) == [kept.payment_id]


def test_a_statement_cannot_be_imported_for_the_cash_channel(today):
    with pytest.raises(ReconciliationError):
        services.import_statement(channel_code="COUNTER:BR-X", business_date=today, data=b"x", file_name="x")


def test_a_short_till_is_reported_as_its_difference_not_its_takings(day_at_x, branch_x, officer, client):
    till = day_at_x[0]
    assert (till.counted_cash - till.expected_cash) == Decimal("-0.50")
    out = io.StringIO()
    call_command(
        "reconcile", "--channel", "COUNTER:BR-X", "--date", till.business_date.isoformat(), stdout=out
    )
    run = ReconciliationRun.objects.get(branch=branch_x)

    assert run.counts[M.AMOUNT_MISMATCH] == {
        "count": 1,
        "amount": "-0.50",
        "expected": str(till.expected_cash),
        "counted": str(till.counted_cash),
        "difference": "-0.50",
    }
    expected, counted = format_money(till.expected_cash), format_money(till.counted_cash)
    assert f"应有 ¥{expected}，实点 ¥{counted}，差额 -¥0.50" in out.getvalue()
    with translation.override("en"):
        described = selectors.till_differences(run)[0].describe()
    assert described == f"expected ¥{expected}, counted ¥{counted}, difference -¥0.50"
    report = selectors.daily_report(till.business_date)
    mismatch = report["totals"][list(M.values).index(M.AMOUNT_MISMATCH)]
    assert mismatch == {"count": 1, "amount": Decimal("-0.50")}

    discrepancy = Discrepancy.objects.get(run=run, till=till)
    log_in(client, officer)
    page = client.get(reverse("admin:reconciliation_discrepancy_change", args=[discrepancy.pk]))
    assert "差额 -¥0.50" in page.text and f"应有 ¥{expected}" in page.text
