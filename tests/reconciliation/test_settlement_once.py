"""Every reconciled yuan is settled exactly once: a property over generated sequences of postings,
reconciliations, reversals and settlements, and two settle runs at once on PostgreSQL."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from billing.choices import PaymentStatus
from billing.models import JournalLine, LedgerAccount, Payment
from billing.money import ZERO
from billing.services import reverse_payment
from reconciliation import services, working_days
from reconciliation.choices import MatchClass, RunStatus
from reconciliation.models import MatchResult, SettlementBatch, SettlementItem
from tests.factories import BillerFactory
from tests.reconciliation.conftest import Shop, billpay_csv

SOURCES = ("SANDBOX", "ALIPAY", "WECHAT")
AMOUNTS = ("10.00", "0.01", "99.99", "250.50")
# One round: some payments, some channels' statements (each channel once, the channel maybe missing the
# last payment), some reversals (of any payment so far), then a settlement with the next cut-off.
ROUND = st.fixed_dictionaries(
    {
        "pay": st.lists(st.tuples(st.sampled_from(SOURCES), st.sampled_from(AMOUNTS)), max_size=4),
        "reconcile": st.lists(st.sampled_from(SOURCES), max_size=2, unique=True),
        "leave_one_out": st.booleans(),
        "reverse": st.lists(st.integers(min_value=0, max_value=15), max_size=2),
    }
)


def reconcile(day, source, payments, leave_one_out):
    """The source's statement of the day: its payments so far (the last left out if asked: the channel
    never saw it)."""
    mine = [p for p in payments if p.idempotency_key.startswith(f"{source}:")]
    if leave_one_out and mine:
        mine = mine[:-1]
    lines = [("PAYMENT", p.channel_ref, f"{p.amount:.2f}", "", None) for p in mine]
    if not lines:
        return
    services.reconcile_file(
        channel_code=f"ONLINE:{source}",
        business_date=day,
        data=billpay_csv(day, lines, f"ONLINE:{source}"),
        file_name=f"{source}.csv",
    )


def settled_net_of(payment) -> Decimal:
    return sum(SettlementItem.objects.filter(payment=payment).values_list("amount", flat=True), ZERO)


def matched(payment) -> bool:
    return MatchResult.objects.filter(
        payment_id=payment.pk, klass=MatchClass.MATCHED, run__status=RunStatus.DONE
    ).exists()


@pytest.mark.django_db
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rounds=st.lists(ROUND, min_size=1, max_size=4))
@example(
    rounds=[
        {
            "pay": [("SANDBOX", "10.00"), ("ALIPAY", "0.01")],
            "reconcile": ["SANDBOX"],
            "leave_one_out": False,
            "reverse": [],
        },
        {"pay": [], "reconcile": ["ALIPAY"], "leave_one_out": False, "reverse": [0]},
    ]
)
def test_every_reconciled_yuan_is_settled_exactly_once(shop, today, rounds):
    with transaction.atomic():
        payments: list[Payment] = []
        reconciled: set[str] = set()
        cut_off = today
        for step in rounds:
            payments += [shop.pay(amount, source=source) for source, amount in step["pay"]]
            for source in step["reconcile"]:
                if source not in reconciled:
                    reconciled.add(source)
                    reconcile(today, source, payments, leave_one_out=step["leave_one_out"])
            for index in step["reverse"]:
                if payments:
                    payment = payments[index % len(payments)]
                    payment.refresh_from_db()
                    if payment.status == PaymentStatus.POSTED:
                        reverse_payment(payment=payment, actor=None, reason="generated")
            services.settle_day(day=cut_off, as_of=working_days.next_working_day(cut_off))
            cut_off += datetime.timedelta(days=1)
        # a last settlement takes what is left (reversals included)
        services.settle_day(day=cut_off, as_of=working_days.next_working_day(cut_off))
        unsettled = ZERO
        for payment in payments:
            payment.refresh_from_db()
            owed = payment.amount if payment.status == PaymentStatus.POSTED and matched(payment) else ZERO
            assert settled_net_of(payment) == owed, payment
            assert SettlementItem.objects.filter(payment=payment).count() <= 2
            if payment.status == PaymentStatus.POSTED:
                unsettled += payment.amount - owed
        batches = SettlementBatch.objects.all()
        assert sum((b.gross for b in batches), ZERO) == sum(
            SettlementItem.objects.values_list("amount", flat=True), ZERO
        )
        assert sum(JournalLine.objects.values_list("amount", flat=True), ZERO) == ZERO
        payable = LedgerAccount.objects.filter(code=f"PAYABLE:{shop.biller.code}").first()
        if payable is not None:  # the biller still owes nothing it was not paid: unreconciled money waits
            assert sum(payable.lines.values_list("amount", flat=True), ZERO) == -unsettled
        transaction.set_rollback(True)


@pytest.mark.django_db(transaction=True)
def test_two_settle_runs_at_once_settle_each_payment_once(today):
    """The nightly task settling one day while an officer settles the next from the admin: both cut-offs
    take the same payments, the biller lock makes them take turns, and each payment is settled once."""
    shops = []
    payments = []
    for index in range(3):
        shop = Shop.__new__(Shop)
        shop.biller = BillerFactory(code=f"RACE0{index}")
        shop.counter = index * 100
        shops.append(shop)
        payments += [shop.pay("10.00"), shop.pay("15.50")]
    lines = [("PAYMENT", p.channel_ref, f"{p.amount:.2f}", "", None) for p in payments]
    services.reconcile_file(
        channel_code="ONLINE:SANDBOX", business_date=today, data=billpay_csv(today, lines), file_name="s"
    )
    tomorrow = today + datetime.timedelta(days=1)
    as_of = working_days.next_working_day(tomorrow)
    start = threading.Barrier(4)
    errors = []

    def settle(day):
        try:
            start.wait(timeout=30)
            services.settle_day(day=day, as_of=as_of)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=settle, args=(day,)) for day in (today, tomorrow, today, tomorrow)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert SettlementItem.objects.count() == len(payments)
    for payment in payments:
        assert settled_net_of(payment) == payment.amount
    assert sum(SettlementBatch.objects.values_list("net", flat=True), ZERO) == Decimal("76.50")
    assert SettlementBatch.objects.count() == 3  # one per biller, whichever cut-off came first
    assert sum(JournalLine.objects.values_list("amount", flat=True), ZERO) == ZERO
