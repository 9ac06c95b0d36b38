"""A card top-up's confirmation and its timeout void racing each other, on PostgreSQL with real row locks:
exactly one of them decides, the other answers as the winner did or is refused, and the payer is refunded
at most once."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import topups
from billing.choices import EntryKind, PaymentMode, PaymentStatus
from billing.exceptions import TopUpRefused
from billing.models import JournalEntry, Payment
from billing.selectors import trial_balance, unbalanced_entry_ids
from billing.topup_models import CardWriteRule, TopUpHold, TopUpSource, TopUpStatus
from tests.billing.test_concurrency import assert_clean, run_concurrently
from tests.factories import BillerFactory, CustomerAccountFactory
from tests.support import pay

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

ROUNDS = 6


def answer_of(call):
    """The call's result, or its refusal's code: a refusal is an answer, not a failure."""

    def run():
        try:
            return call()
        except TopUpRefused as refused:
            return ("refused", refused.code)

    return run


def test_confirmations_and_timeout_sweeps_racing_decide_each_top_up_once(monkeypatch):
    refunded = []
    lock = threading.Lock()

    def refunder(payment, hold):
        with lock:
            refunded.append(payment.pk)

    monkeypatch.setitem(topups._refunders, "online", refunder)
    biller = BillerFactory(code="GASCARD", payment_mode=PaymentMode.PREPAID)
    CardWriteRule.objects.create(biller=biller, timeout_minutes=1)
    card = CustomerAccountFactory(biller=biller, account_no="62000001")
    later = timezone.now() + datetime.timedelta(minutes=5)
    for round_no in range(ROUNDS):
        payment = pay(card, "20.00", f"race-{round_no}").payment
        outcomes = run_concurrently(
            [
                answer_of(lambda p=payment: topups.confirm_topup(payment=p, source=TopUpSource.BILLER)),
                answer_of(lambda p=payment: topups.confirm_topup(payment=p, source=TopUpSource.BILLER)),
                answer_of(lambda: topups.void_expired_topups(now=later)),
                answer_of(lambda: topups.void_expired_topups(now=later)),
            ]
        )
        assert_clean(outcomes)
        outcomes = [value for _kind, value in outcomes]
        hold = TopUpHold.objects.get(payment=payment)
        confirms, sweeps = outcomes[:2], outcomes[2:]
        if hold.status == TopUpStatus.WRITTEN:
            assert all(isinstance(answer, TopUpHold) for answer in confirms), confirms
            assert sweeps == [0, 0]
            assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.POSTED
        else:
            assert hold.status == TopUpStatus.VOIDED
            assert all(o == ("refused", "topup_already_voided") for o in confirms), confirms
            assert sorted(sweeps) == [0, 1]
            assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.REVERSED
        entries = JournalEntry.objects.filter(payment=payment)
        assert (
            entries.filter(kind=EntryKind.TOPUP_WRITTEN).count()
            + entries.filter(kind=EntryKind.REVERSAL).count()
            == 1
        )
    voided = TopUpHold.objects.filter(status=TopUpStatus.VOIDED).count()
    written = TopUpHold.objects.filter(status=TopUpStatus.WRITTEN).count()
    assert voided + written == ROUNDS
    assert len(refunded) == voided == len(set(refunded))
    balances = trial_balance()
    assert balances["TOPUP:GASCARD"] == Decimal("0.00")
    assert balances.get("PAYABLE:GASCARD", Decimal("0.00")) == Decimal("-20.00") * written
    assert unbalanced_entry_ids() == []
