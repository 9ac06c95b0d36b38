"""A disputed debit (D11) online whose bill was paid meanwhile: reconciliation refunds the bank's trade
through the gateway, once, by payers' retried refund; the dispute is resolved when the bank confirms it,
and the payer is told in their language (reconciliation/services/disputed_debits.py)."""

import datetime
import threading

import pytest
from django.core import mail
from django.db import connection
from django.template.loader import render_to_string
from django.utils import timezone, translation

from billing.models import AuditEvent, FailedTask, JournalLine, Payment
from config import retries
from disputes import services as dispute_services
from disputes.choices import DisputeChannel
from payers import services
from payers.choices import LineOutcome
from payers.gateways.base import RefundResult
from payers.gateways.sandbox import SandboxGateway
from payers.models import OrderLine, SandboxBankTrade
from reconciliation import services as recon
from reconciliation import tasks
from reconciliation.choices import DiscrepancyStatus, Resolution
from reconciliation.models import Discrepancy, StatementLine
from tests.payers.test_gateway_flow import paid_online_while_the_counter_takes_it
from tests.reconciliation.conftest import billpay_csv


def disputed_and_on_the_statement(water, *, trade_no: str, merchant_no: str):
    """The October bill cancelled (September was paid at the counter), so no bill can take the debit; the
    payer disputes it (in English) by the merchant number; the bank's statement carries the trade, with
    that merchant number as the banks' own formats carry it (Alipay's / WeChat's 商户订单号)."""
    october = water["bills"][1]
    october.status = "cancelled"
    october.save(update_fields=["status"])
    dispute = dispute_services.raise_dispute(
        channel=DisputeChannel.PORTAL,
        reason="D11",
        biller_code="WATER01",
        account_no="31005678",
        amount="100.00",
        channel_ref=merchant_no,
        contact_email="payer@example.com",
        language="en",
    )
    day = timezone.localdate()
    recon.reconcile_file(
        channel_code="ONLINE:SANDBOX",
        business_date=day,
        data=billpay_csv(day, [("PAYMENT", trade_no, "100.00", "", None)]),
        file_name=f"s-{trade_no}",
    )
    StatementLine.objects.filter(channel_ref=trade_no).update(merchant_ref=merchant_no)
    return dispute


def debit_lost_and_bill_paid_elsewhere(bank, water):
    """The payer paid order X at the bank; its notification never came and the bill was paid at the
    counter meanwhile; the platform has no payment for the bank's trade."""
    order = paid_online_while_the_counter_takes_it(bank, water)
    trade = bank.trade(order)
    return order, disputed_and_on_the_statement(water, trade_no=trade.trade_no, merchant_no=order.order_no)


@pytest.mark.django_db
def test_an_online_debit_the_bills_cannot_take_is_refunded_at_the_bank_once(
    bank, water, django_capture_on_commit_callbacks
):
    order, dispute = debit_lost_and_bill_paid_elsewhere(bank, water)
    entries_before = JournalLine.objects.count()
    with django_capture_on_commit_callbacks(execute=True):  # the refund task runs (eager)
        assert tasks.resolve_disputed_debits() == {"refund": 1}
    line = OrderLine.objects.get(order=order)
    assert line.outcome == LineOutcome.REFUNDED and line.refund_no == f"RF{order.order_no}-0001"
    trade = SandboxBankTrade.objects.get(merchant_order_no=order.order_no)
    assert trade.status == "refunded" and [r["refund_no"] for r in trade.refunds] == [line.refund_no]
    dispute.refresh_from_db()
    assert (dispute.status, dispute.outcome, dispute.refund_state) == ("open", "refund_required", "pending")
    assert dispute.refund_ref == line.refund_no and dispute.debit_order_no == order.order_no
    discrepancy = Discrepancy.objects.get(line__channel_ref=trade.trade_no)
    assert discrepancy.status == DiscrepancyStatus.RESOLVED
    assert (
        discrepancy.resolution == Resolution.REFUND_AT_CHANNEL
        and line.refund_no in discrepancy.resolution_note
    )
    told = [m for m in mail.outbox if dispute.ref in m.subject]
    assert told[-1].subject == f"Your money for dispute {dispute.ref} is being returned"
    assert "¥100.00 will be returned to you" in told[-1].body
    with translation.override("en"):
        shown = render_to_string("disputes/portal_detail.html", {"dispute": dispute})
    assert line.refund_no in shown and "Refund pending at the channel" in shown
    assert "Withdraw the dispute" not in shown  # the money is on its way back: nothing to withdraw

    # The bank's lost notification comes after all: the line already given back is left alone.
    with django_capture_on_commit_callbacks(execute=True):
        assert bank.notify(order).status_code == 200
    line.refresh_from_db()
    assert line.outcome == LineOutcome.REFUNDED and line.payment is None
    assert Payment.objects.filter(channel="online").count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.resolve_disputed_debits() == {"refunded": 1}
    dispute.refresh_from_db()
    assert (dispute.status, dispute.outcome, dispute.refund_state) == ("resolved", "refunded", "refunded")
    assert dispute.answer == f"The money was returned through your bank: refund {line.refund_no}."
    told = [m for m in mail.outbox if dispute.ref in m.subject]
    assert told[-1].subject == f"Your dispute {dispute.ref} is resolved" and line.refund_no in told[-1].body
    # The platform never held the money: no entry, no payment of that debit; a second run changes nothing.
    assert JournalLine.objects.count() == entries_before
    assert Payment.objects.filter(channel="online").count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.resolve_disputed_debits() == {}
    trade.refresh_from_db()
    assert len(trade.refunds) == 1
    assert AuditEvent.objects.filter(action="dispute.resolved", target_id=str(dispute.pk)).count() == 1

    # The bank's next statement carries that refund: it is matched to the dispute, once.
    day = timezone.localdate() - datetime.timedelta(days=1)
    run = recon.reconcile_file(
        channel_code="ONLINE:SANDBOX",
        business_date=day,
        data=billpay_csv(day, [("REFUND", f"RF{trade.trade_no}", "100.00", trade.trade_no, None)]),
        file_name="r",
    )
    refund_line = Discrepancy.objects.get(run=run)
    assert refund_line.status != DiscrepancyStatus.RESOLVED
    assert tasks.resolve_disputed_debits() == {"refund_line_matched": 1}
    refund_line.refresh_from_db()
    assert refund_line.status == DiscrepancyStatus.RESOLVED and dispute.ref in refund_line.resolution_note
    assert tasks.resolve_disputed_debits() == {}


@pytest.mark.django_db
def test_a_refund_the_bank_refuses_is_retried_then_left_to_staff(
    bank, water, monkeypatch, django_capture_on_commit_callbacks
):
    order, dispute = debit_lost_and_bill_paid_elsewhere(bank, water)
    monkeypatch.setattr(
        SandboxGateway,
        "refund",
        lambda gateway, **kw: RefundResult(ok=False, refund_no=kw["refund_no"], message="system busy"),
    )
    with django_capture_on_commit_callbacks(execute=False):  # the task's attempts are driven here
        assert tasks.resolve_disputed_debits() == {"refund": 1}
    line = OrderLine.objects.get(order=order)
    for attempt in range(1, retries.REFUND.max_attempts):
        assert services.refund_line(line_id=line.pk, attempt=attempt) == LineOutcome.REFUND_PENDING
    assert services.refund_line(line_id=line.pk, attempt=retries.REFUND.max_attempts) == "refund_failed"
    failed = FailedTask.objects.get()
    assert failed.task_name == "payers.tasks.refund_order_line" and failed.args == [line.pk]
    assert "system busy" in failed.error
    # The dispute waits, its refund pending, for staff to send the refund again.
    assert tasks.resolve_disputed_debits() == {"refund_pending": 1}
    dispute.refresh_from_db()
    assert (dispute.status, dispute.refund_state) == ("open", "pending")
    assert SandboxBankTrade.objects.get(merchant_order_no=order.order_no).refunds == []


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_refund_the_debit_once(bank, water):
    from reconciliation.services import resolve_disputed_debit

    order, dispute = debit_lost_and_bill_paid_elsewhere(bank, water)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def work():
        try:
            barrier.wait()
            results.append(resolve_disputed_debit(dispute.pk))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) in (["refund", "refund_pending"], ["refund", "refunded"])
    assert AuditEvent.objects.filter(action="order_line.refund_pending").count() == 1
    assert AuditEvent.objects.filter(action="dispute.refund_required").count() == 1
    trade = SandboxBankTrade.objects.get(merchant_order_no=order.order_no)
    assert len(trade.refunds) == 1


def trade_without_order(bank, water, merchant_no="AGR-LOST-1"):
    """A bank trade of ours whose platform record is gone (no GatewayOrder: an agreement debit, say), its
    bill paid at the counter meanwhile; the payer disputes it by that merchant number."""
    paid_online_while_the_counter_takes_it(bank, water)  # September paid at the counter
    trade = SandboxBankTrade.objects.create(
        trade_no="SBX-T-LOST",
        merchant_order_no=merchant_no,
        amount="100.00",
        subject="water",
        notify_url="http://127.0.0.1/n",
        return_url="http://127.0.0.1/r",
        status="success",
        paid_at=timezone.now(),
    )
    return trade, disputed_and_on_the_statement(water, trade_no=trade.trade_no, merchant_no=merchant_no)


@pytest.mark.django_db
def test_a_debit_with_no_order_of_ours_is_refunded_by_its_merchant_number(
    bank, water, django_capture_on_commit_callbacks
):
    trade, dispute = trade_without_order(bank, water)
    with django_capture_on_commit_callbacks(execute=True):  # the trade refund task runs (eager)
        assert tasks.resolve_disputed_debits() == {"refund": 1}
    trade.refresh_from_db()
    assert trade.status == "refunded" and [r["refund_no"] for r in trade.refunds] == [f"RF{dispute.ref}"]
    dispute.refresh_from_db()
    assert (dispute.status, dispute.outcome, dispute.refund_ref) == (
        "resolved",
        "refunded",
        f"RF{dispute.ref}",
    )
    assert [m.subject for m in mail.outbox if dispute.ref in m.subject][-1].endswith("is resolved")
    assert tasks.resolve_disputed_debits() == {}


@pytest.mark.django_db
def test_a_trade_refund_the_bank_refuses_is_left_to_staff_after_the_last_attempt(
    bank, water, django_capture_on_commit_callbacks
):
    from reconciliation.services import refund_disputed_trade

    trade, dispute = trade_without_order(bank, water)
    SandboxBankTrade.objects.filter(pk=trade.pk).update(status="closed")  # the bank will not refund it
    with django_capture_on_commit_callbacks(execute=False):
        assert tasks.resolve_disputed_debits() == {"refund": 1}
    last = retries.REFUND.max_attempts
    for attempt in range(1, last):
        assert refund_disputed_trade(dispute_id=dispute.pk, gateway_code="SANDBOX", attempt=attempt) == (
            "refund_pending"
        )
    assert not FailedTask.objects.exists()
    assert (
        refund_disputed_trade(dispute_id=dispute.pk, gateway_code="SANDBOX", attempt=last) == "refund_pending"
    )
    failed = FailedTask.objects.get()
    assert (failed.task_name, failed.args) == (
        "reconciliation.tasks.refund_disputed_trade",
        [dispute.pk, "SANDBOX"],
    )
    assert "trade not paid" in failed.error
    dispute.refresh_from_db()
    assert (dispute.status, dispute.refund_state) == ("open", "pending")
