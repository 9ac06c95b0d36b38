"""Top-ups that must reach a card or meter (issue 17, item 8): a two-phase transfer in the ledger.

Phase 1 holds the money (collection → TOPUP:<biller>); phase 2 either moves it to the biller's payable
(written) or reverses it and refunds the payer (voided), exactly once, whoever decides first."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import topups
from billing.choices import AllocationKind, EntryKind, PaymentMode, PaymentStatus
from billing.exceptions import TopUpRefused
from billing.models import AuditEvent, JournalEntry, OutboxEvent, Payment
from billing.selectors import trial_balance, unbalanced_entry_ids
from billing.services import reverse_payment
from billing.topup_holds import TOPUP_WRITTEN_EVENT
from billing.topup_models import CardWriteRule, TopUpHold, TopUpSource, TopUpStatus
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory
from tests.support import pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def gas(db):
    biller = BillerFactory(
        code="GASCARD", payment_mode=PaymentMode.PREPAID, min_amount="10.00", max_amount="2000.00"
    )
    CardWriteRule.objects.create(biller=biller, timeout_minutes=15)
    return biller


@pytest.fixture
def card(gas):
    return CustomerAccountFactory(biller=gas, account_no="62000001")


def held(card, amount="50.00", key="k1", **kwargs):
    return pay(card, amount, key, **kwargs).payment


def balances():
    return trial_balance()


class TestPhaseOne:
    def test_a_top_up_is_held_not_owed_to_the_biller(self, card):
        payment = held(card)
        hold = payment.topup_hold
        assert hold.status == TopUpStatus.HELD
        assert hold.expires_at == payment.posted_at + datetime.timedelta(minutes=15)
        assert payment.status == PaymentStatus.POSTED
        assert payment.allocations.get().kind == AllocationKind.TOPUP
        lines = balances()
        assert lines["CLEARING:ONLINE"] == Decimal("50.00")
        assert lines["TOPUP:GASCARD"] == Decimal("-50.00")
        assert lines.get("PAYABLE:GASCARD", Decimal("0")) == Decimal("0")

    def test_a_prepaid_biller_without_the_rule_is_paid_as_before(self):
        plain = BillerFactory(code="PHONE", payment_mode=PaymentMode.PREPAID)
        payment = pay(CustomerAccountFactory(biller=plain), "30.00").payment
        assert not TopUpHold.objects.filter(payment=payment).exists()
        assert balances()["PAYABLE:PHONE"] == Decimal("-30.00")

    def test_statement_bills_are_not_held(self, gas):
        bill = BillFactory(amount_due=Decimal("100.00"))
        payment = pay(bill.account, "100.00").payment
        assert not TopUpHold.objects.filter(payment=payment).exists()

    def test_the_amount_is_the_payers_within_the_billers_limits(self, card):
        from billing.exceptions import PaymentRefused

        with pytest.raises(PaymentRefused) as refused:
            held(card, "2000.01")
        assert refused.value.code == "amount_above_maximum"
        assert not TopUpHold.objects.exists()


class TestWritten:
    def test_confirming_moves_the_money_to_the_billers_payable(self, card):
        payment = held(card)
        hold = topups.confirm_topup(payment=payment, source=TopUpSource.BILLER, write_ref="W-1")
        assert (hold.status, hold.decided_by, hold.write_ref) == (TopUpStatus.WRITTEN, "biller", "W-1")
        lines = balances()
        assert lines["TOPUP:GASCARD"] == Decimal("0.00")
        assert lines["PAYABLE:GASCARD"] == Decimal("-50.00")
        entry = JournalEntry.objects.get(kind=EntryKind.TOPUP_WRITTEN)
        assert entry.payment_id == payment.pk
        assert OutboxEvent.objects.filter(type=TOPUP_WRITTEN_EVENT, aggregate_id=str(payment.pk)).count() == 1
        assert AuditEvent.objects.filter(action="topup.written").count() == 1
        assert unbalanced_entry_ids() == []

    def test_a_duplicate_confirmation_is_the_first_one(self, card):
        payment = held(card)
        topups.confirm_topup(payment=payment, source=TopUpSource.BILLER, write_ref="W-1")
        again = topups.confirm_topup(payment=payment, source=TopUpSource.BILLER, write_ref="W-1")
        assert again.status == TopUpStatus.WRITTEN
        assert JournalEntry.objects.filter(kind=EntryKind.TOPUP_WRITTEN).count() == 1
        assert balances()["PAYABLE:GASCARD"] == Decimal("-50.00")

    def test_voiding_a_written_top_up_is_refused(self, card):
        payment = held(card)
        topups.confirm_topup(payment=payment, source=TopUpSource.TERMINAL)
        with pytest.raises(TopUpRefused) as refused:
            topups.void_topup(payment=payment, source=TopUpSource.BILLER, reason="card jammed")
        assert refused.value.code == "topup_already_written"
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.POSTED

    def test_reversing_a_written_top_up_takes_it_from_the_payable(self, card, admin_user):
        payment = held(card)
        topups.confirm_topup(payment=payment, source=TopUpSource.BILLER)
        reverse_payment(payment=payment, actor=admin_user, reason="complaint")
        lines = balances()
        assert lines["CLEARING:ONLINE"] == Decimal("0.00")
        assert lines["TOPUP:GASCARD"] == Decimal("0.00")
        assert lines["PAYABLE:GASCARD"] == Decimal("0.00")
        assert unbalanced_entry_ids() == []

    def test_a_payment_that_is_not_a_held_top_up_cannot_be_confirmed(self):
        bill = BillFactory(amount_due=Decimal("100.00"))
        payment = pay(bill.account, "100.00").payment
        with pytest.raises(TopUpRefused) as refused:
            topups.confirm_topup(payment=payment, source=TopUpSource.BILLER)
        assert refused.value.code == "topup_not_held"

    def test_a_bad_write_reference_stores_nothing(self, card):
        payment = held(card)
        with pytest.raises(TopUpRefused) as refused:
            topups.confirm_topup(payment=payment, source=TopUpSource.BILLER, write_ref="has space")
        assert refused.value.code == "topup_ref_invalid"
        assert TopUpHold.objects.get().status == TopUpStatus.HELD


class TestVoided:
    def test_a_failed_write_reverses_the_hold_and_refunds_once(self, card, monkeypatch):
        refunded = []
        monkeypatch.setitem(topups._refunders, "online", lambda payment, hold: refunded.append(payment.pk))
        payment = held(card)
        hold = topups.void_topup(payment=payment, source=TopUpSource.BILLER, reason="card unreadable")
        again = topups.void_topup(payment=payment, source=TopUpSource.BILLER, reason="card unreadable")
        assert hold.status == again.status == TopUpStatus.VOIDED
        assert refunded == [payment.pk]
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.REVERSED
        lines = balances()
        assert lines["CLEARING:ONLINE"] == Decimal("0.00") and lines["TOPUP:GASCARD"] == Decimal("0.00")
        assert JournalEntry.objects.filter(kind=EntryKind.REVERSAL).count() == 1
        assert unbalanced_entry_ids() == []

    def test_confirming_after_the_void_is_refused(self, card):
        payment = held(card)
        topups.void_topup(payment=payment, source=TopUpSource.TIMEOUT, reason="no answer")
        with pytest.raises(TopUpRefused) as refused:
            topups.confirm_topup(payment=payment, source=TopUpSource.BILLER, write_ref="late")
        assert refused.value.code == "topup_already_voided"
        assert "refunded" in refused.value.message or "退" in refused.value.message
        assert not JournalEntry.objects.filter(kind=EntryKind.TOPUP_WRITTEN).exists()

    def test_a_void_needs_a_reason(self, card):
        payment = held(card)
        with pytest.raises(TopUpRefused) as refused:
            topups.void_topup(payment=payment, source=TopUpSource.BILLER, reason="  ")
        assert refused.value.code == "topup_reason_required"

    def test_a_top_up_reversed_another_way_is_not_voided_again(self, card, admin_user, monkeypatch):
        refunded = []
        monkeypatch.setitem(topups._refunders, "online", lambda payment, hold: refunded.append(payment.pk))
        payment = held(card)
        reverse_payment(payment=payment, actor=admin_user, reason="taken twice")
        hold = TopUpHold.objects.get()
        assert (hold.status, hold.decided_by) == (TopUpStatus.VOIDED, TopUpSource.REVERSAL)
        hold.expires_at = timezone.now() - datetime.timedelta(minutes=1)
        assert topups.void_expired_topups() == 0
        assert refunded == []
        assert balances()["TOPUP:GASCARD"] == Decimal("0.00")


class TestTimeout:
    def test_an_unconfirmed_top_up_is_voided_once_after_its_timeout(self, card, monkeypatch):
        refunded = []
        monkeypatch.setitem(topups._refunders, "online", lambda payment, hold: refunded.append(payment.pk))
        payment = held(card)
        assert topups.void_expired_topups() == 0  # not yet
        later = timezone.now() + datetime.timedelta(minutes=16)
        assert topups.void_expired_topups(now=later) == 1
        assert topups.void_expired_topups(now=later) == 0
        hold = TopUpHold.objects.get()
        assert (hold.status, hold.decided_by) == (TopUpStatus.VOIDED, TopUpSource.TIMEOUT)
        assert refunded == [payment.pk]
        assert Payment.objects.get().status == PaymentStatus.REVERSED

    def test_a_confirmed_top_up_is_left_alone_by_the_sweep(self, card):
        payment = held(card)
        topups.confirm_topup(payment=payment, source=TopUpSource.BILLER)
        assert topups.void_expired_topups(now=timezone.now() + datetime.timedelta(hours=1)) == 0
        assert Payment.objects.get().status == PaymentStatus.POSTED

    def test_the_beat_task_runs_the_sweep(self, card, settings):
        from billing import tasks

        assert settings.CELERY_BEAT_SCHEDULE["billing-void-expired-topups"]["task"] == (
            "billing.tasks.void_expired_topups"
        )
        held(card)
        TopUpHold.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
        assert tasks.void_expired_topups() == 1
