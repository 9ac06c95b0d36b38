"""Money that becomes settleable after its day's batch exists is settled in the biller's next batch, once,
with its own business day shown ("carried from"): a later statement or cash reconciliation, a payment
posted from the workbench, a complaint closed by a write-off the next morning, a reversal or a refund of
money already paid out. Each route runs through the real service that does it."""

import datetime
import logging
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.choices import PaymentStatus
from billing.models import AuditEvent, JournalLine, LedgerAccount
from billing.money import ZERO
from billing.services import reverse_payment
from reconciliation import selectors, services, tasks, working_days
from reconciliation.adapters import camt
from reconciliation.choices import (
    ComplaintReason,
    ComplaintStatus,
    MatchClass,
    Resolution,
    SettlementItemKind,
)
from reconciliation.models import Discrepancy, SettlementBatch, SettlementItem
from tests.factories import BillFactory, CustomerAccountFactory, FeeScheduleFactory
from tests.reconciliation.conftest import CHANNEL, billpay_csv
from tests.reconciliation.test_cash import day_at_x  # noqa: F401 - a branch's day at the counter
from tests.support import log_in

pytestmark = pytest.mark.django_db

ONE_DAY = datetime.timedelta(days=1)


def flat_fee(biller):
    FeeScheduleFactory(biller=biller, fixed_fee=Decimal("0.50"), percentage=ZERO, min_fee=ZERO)


def settle(day: datetime.date) -> list[SettlementBatch]:
    """Settle `day` on its T+1 working day; the batches it built."""
    services.settle_day(day=day, as_of=working_days.next_working_day(day))
    return list(SettlementBatch.objects.filter(business_date=day).order_by("biller__code"))


def reconcile(day, lines, channel=CHANNEL):
    return services.reconcile_file(
        channel_code=channel,
        business_date=day,
        data=billpay_csv(day, lines, channel),
        file_name=f"{channel}.csv",
    )


def items_of(payment) -> list[tuple[str, Decimal]]:
    return sorted(SettlementItem.objects.filter(payment=payment).values_list("kind", "amount"))


def assert_books_balance():
    assert sum(JournalLine.objects.values_list("amount", flat=True), ZERO) == ZERO


def payable_balance(biller) -> Decimal:
    account = LedgerAccount.objects.get(code=f"PAYABLE:{biller.code}")
    return sum(JournalLine.objects.filter(account=account).values_list("amount", flat=True), ZERO)


def assert_carried(batch, payment, day):
    """The batch settles the payment as carried from `day`: in its report and both remittance files."""
    item = batch.items.get(payment=payment)
    assert item.business_date == day and item.carried
    row = next(r for r in selectors.settlement_report_rows(batch) if r["receipt_no"] == payment.receipt_no)
    assert row["carried"] and f"{day:%Y-%m-%d}" in row["carried"]
    [line] = [ln for ln in batch.remittance_csv.splitlines() if payment.receipt_no in ln]
    assert line.endswith(f",{day:%Y-%m-%d},{day:%Y-%m-%d}")
    assert f"carried from {day:%Y-%m-%d}" in batch.remittance_xml


def test_a_statement_reconciled_after_the_batch_is_settled_in_the_next_batch_once(shop, today):
    flat_fee(shop.biller)
    early = shop.pay("100.00")
    late = shop.pay("40.00", source="ALIPAY")
    reconcile(today, [("PAYMENT", early.channel_ref, "100.00", "", None)])
    [first] = settle(today)
    assert [i.payment_id for i in first.items.all()] == [early.pk]
    # the other gateway's statement of the same day comes in after the batch
    reconcile(today, [("PAYMENT", late.channel_ref, "40.00", "", None)], channel="ONLINE:ALIPAY")
    assert settle(today) == [first]  # a rerun of the day returns its batch and takes nothing more
    [second] = settle(today + ONE_DAY)
    assert (second.gross, second.fees, second.net) == (Decimal("40.00"), Decimal("0.50"), Decimal("39.50"))
    assert_carried(second, late, today)
    assert second.value_date == working_days.value_date(
        today + ONE_DAY, working_days.next_working_day(today + ONE_DAY)
    )
    settle(today + 2 * ONE_DAY)
    assert items_of(early) == [("payment", Decimal("100.00"))]
    assert items_of(late) == [("payment", Decimal("40.00"))]
    assert payable_balance(shop.biller) == ZERO
    assert_books_balance()


def test_cash_reconciled_after_the_batch_is_settled_in_the_next_batch(day_at_x, branch_x, water, shop):  # noqa: F811
    till, kept, _voided, _stray = day_at_x
    day = till.business_date
    online = shop.pay("10.00")  # another biller's online payment makes the day's first batch
    reconcile(day, [("PAYMENT", online.channel_ref, "10.00", "", None)])
    assert [batch.biller for batch in settle(day)] == [shop.biller]
    services.reconcile_cash(branch=branch_x, day=day)
    [carried] = settle(day + ONE_DAY)
    assert carried.biller == water
    assert_carried(carried, kept.payment, day)
    assert items_of(kept.payment) == [("payment", kept.payment.amount)]
    assert_books_balance()


def test_a_payment_posted_from_the_workbench_after_the_batch_is_carried(shop, today, officer):
    known = shop.pay("20.00")
    account = CustomerAccountFactory(biller=shop.biller)  # whose bill the channel's payment was for
    BillFactory(account=account, amount_due=Decimal("75.00"))
    reconcile(
        today, [("PAYMENT", known.channel_ref, "20.00", "", None), ("PAYMENT", "GONE-1", "75.00", "", None)]
    )
    [first] = settle(today)
    missing = Discrepancy.objects.get(klass=MatchClass.MISSING_PLATFORM)
    services.resolve_discrepancy(
        discrepancy=missing,
        action=Resolution.POST_MISSING,
        note="网关已扣款，平台漏记",
        actor=officer,
        biller_code=shop.biller.code,
        account_no=account.account_no,
    )
    missing.refresh_from_db()
    posted = missing.resolution_payment
    assert not first.items.filter(payment=posted).exists()
    [second] = settle(today + ONE_DAY)
    assert_carried(second, posted, today)
    assert items_of(posted) == [("payment", Decimal("75.00"))]
    assert_books_balance()


def test_a_complaint_closed_by_a_write_off_next_morning_settles_the_payment_then(
    shop, today, officer, second_officer
):
    short = shop.pay("100.00")
    reconcile(today, [("PAYMENT", short.channel_ref, "99.99", "", None)])
    complaint = services.raise_complaint(
        receipt_no=short.receipt_no,
        reason=ComplaintReason.WRONG_AMOUNT,
        contact_name="王小明",
        contact_email="citizen@example.com",
    )
    assert settle(today) == []  # an amount mismatch is not settleable until someone decides
    difference = Discrepancy.objects.get(payment=short)
    services.resolve_discrepancy(
        discrepancy=difference, action=Resolution.WRITE_OFF, note="一分钱差异核销", actor=officer
    )
    services.approve_write_off(discrepancy=difference, actor=second_officer)
    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.RESOLVED
    [batch] = settle(today + ONE_DAY)
    assert_carried(batch, short, today)
    assert batch.net == Decimal("100.00")  # the biller gets what we credited; the fen was written off
    assert_books_balance()


def test_a_reversal_of_money_paid_out_is_taken_back_in_the_next_batch(shop, today, officer):
    flat_fee(shop.biller)
    kept, undone = shop.pay("60.00"), shop.pay("25.00")
    reconcile(today, [("PAYMENT", p.channel_ref, f"{p.amount:.2f}", "", None) for p in (kept, undone)])
    [first] = settle(today)
    assert first.net == Decimal("84.00")
    reverse_payment(payment=undone, actor=officer, reason="重复缴费退回")
    [second] = settle(today + ONE_DAY)
    item = second.items.get()
    assert (item.kind, item.amount, item.fee) == (
        SettlementItemKind.REVERSAL,
        Decimal("-25.00"),
        Decimal("-0.50"),
    )
    assert (second.gross, second.fees, second.net) == (Decimal("-25.00"), Decimal("-0.50"), Decimal("-24.50"))
    assert "<CdtDbtInd>DBIT</CdtDbtInd>" in second.remittance_xml
    assert camt.parse(second.remittance_xml.encode()).lines[0].amount == Decimal("24.50")
    assert settle(today + 2 * ONE_DAY) == []
    assert items_of(undone) == [("payment", Decimal("25.00")), ("reversal", Decimal("-25.00"))]
    assert payable_balance(shop.biller) == ZERO
    assert_books_balance()


def test_a_refund_recorded_from_the_next_days_statement_is_taken_back(shop, today, officer):
    paid = shop.pay("30.00")
    reconcile(today, [("PAYMENT", paid.channel_ref, "30.00", "", None)])
    settle(today)
    tomorrow = today + ONE_DAY
    reconcile(tomorrow, [("REFUND", "RF-1", "30.00", paid.channel_ref, None)])
    refund = Discrepancy.objects.get(payment=paid, business_date=tomorrow)
    assert Resolution.RECORD_REFUND in services.allowed_resolutions(refund)
    services.resolve_discrepancy(
        discrepancy=refund, action=Resolution.RECORD_REFUND, note="渠道已退款", actor=officer
    )
    paid.refresh_from_db()
    assert paid.status == PaymentStatus.REVERSED
    [batch] = settle(tomorrow)
    assert items_of(paid) == [("payment", Decimal("30.00")), ("reversal", Decimal("-30.00"))]
    assert batch.net == Decimal("-30.00")
    assert_books_balance()


def test_a_payment_reversed_before_it_was_settled_is_never_settled(shop, today, officer):
    paid = shop.pay("30.00")
    reconcile(today, [("PAYMENT", paid.channel_ref, "30.00", "", None)])
    reverse_payment(payment=paid, actor=officer, reason="当日撤销")
    assert settle(today) == [] and settle(today + ONE_DAY) == []
    assert items_of(paid) == []


def test_money_left_unsettled_too_long_fails_loudly(shop, today, caplog, settings):
    paid = shop.pay("12.00")
    reconcile(today, [("PAYMENT", paid.channel_ref, "12.00", "", None)])
    settings.SETTLEMENT_OVERDUE_WORKING_DAYS = 2
    soon = working_days.next_working_day(today)
    assert services.check_unsettled_money(soon) == []
    late = working_days.next_working_day(working_days.next_working_day(soon))
    with caplog.at_level(logging.ERROR, logger="reconciliation.services.settlement"):
        [overdue] = services.check_unsettled_money(late)
    assert overdue.payment == paid and overdue.business_date == today
    assert any(r.levelno == logging.ERROR and shop.biller.code in r.getMessage() for r in caplog.records)
    alarm = AuditEvent.objects.get(action="settlement.money_overdue")
    assert alarm.target_repr == str(shop.biller) and alarm.data["amount"] == "12.00"


def test_the_nightly_task_settles_the_due_days_and_reports_what_waits(shop, today, settings):
    paid = shop.pay("12.00")
    reconcile(today, [("PAYMENT", paid.channel_ref, "12.00", "", None)])
    due = working_days.next_working_day(today)
    done = tasks.nightly_settle.delay(as_of=due.isoformat()).get()
    assert {"day": today.isoformat(), "status": "done", "batches": 1} in done["days"]
    assert done["overdue"] == 0 and items_of(paid) == [("payment", Decimal("12.00"))]


def test_the_admin_shows_what_a_batch_carried(shop, today, officer, client):
    late = shop.pay("40.00", source="ALIPAY")
    settle(today)
    reconcile(today, [("PAYMENT", late.channel_ref, "40.00", "", None)], channel="ONLINE:ALIPAY")
    [batch] = settle(today + ONE_DAY)
    log_in(client, officer)
    page = client.get(reverse("admin:reconciliation_settlementbatch_change", args=[batch.pk]))
    assert page.status_code == 200
    assert f"{today:%Y-%m-%d}" in page.text and late.receipt_no in page.text
