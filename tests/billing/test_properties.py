"""Money invariants under random sequences of payments and reversals (hypothesis)."""

from decimal import Decimal

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.choices import AllocationKind, AmountRule
from billing.exceptions import PaymentRefused
from billing.models import Bill, CustomerAccount, JournalLine, LedgerAccount, Payment, PaymentAllocation
from billing.money import ZERO
from billing.rules import allocate_statement_payment
from billing.selectors import ledger_balance, unbalanced_entry_ids
from billing.services import reverse_payment
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory
from tests.support import pay

cents = st.integers(min_value=1, max_value=500_000).map(lambda c: Decimal(c) / 100)
rules = st.sampled_from([AmountRule.EXACT, AmountRule.EXACT_DOWN, AmountRule.EXACT_UP])


@given(rule=rules, outstanding=st.lists(cents, min_size=1, max_size=6), amount=cents, named=st.booleans())
def test_an_allocation_never_loses_or_invents_money(rule, outstanding, amount, named):
    try:
        plan = allocate_statement_payment(
            rule=rule, outstanding=outstanding, amount=amount, bills_named=named, biller="X"
        )
    except PaymentRefused:
        return
    assert sum(plan.bill_amounts, ZERO) + plan.credit == amount
    for share, owed in zip(plan.bill_amounts, outstanding, strict=True):
        assert ZERO <= share <= owed
    if rule != AmountRule.EXACT_DOWN:
        assert all(share in (ZERO, owed) for share, owed in zip(plan.bill_amounts, outstanding, strict=True))
    if rule != AmountRule.EXACT_UP:
        assert plan.credit == ZERO
    if named and rule != AmountRule.EXACT_DOWN:
        assert plan.bill_amounts == tuple(outstanding)


@given(rule=rules, outstanding=st.lists(cents, min_size=1, max_size=6))
def test_paying_everything_due_is_always_accepted(rule, outstanding):
    total = sum(outstanding, ZERO)
    plan = allocate_statement_payment(
        rule=rule, outstanding=outstanding, amount=total, bills_named=False, biller="X"
    )
    assert plan.bill_amounts == tuple(outstanding) and plan.credit == ZERO


operation = st.one_of(
    st.tuples(st.just("pay"), st.integers(0, 2), st.integers(1, 40_000).map(lambda c: Decimal(c) / 100)),
    st.tuples(st.just("pay_all"), st.integers(0, 2), st.just(None)),
    st.tuples(st.just("reverse"), st.integers(0, 50), st.just(None)),
)


@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule=rules, operations=st.lists(operation, min_size=1, max_size=12))
def test_books_stay_balanced_through_any_sequence(admin_user, rule, operations):
    biller = BillerFactory(amount_rule=rule)
    accounts = [CustomerAccountFactory(biller=biller) for _ in range(3)]
    for account in accounts:
        for month, due in ((7, "120.35"), (8, "99.90"), (9, "47.00")):
            BillFactory(
                account=account,
                period=f"2026-0{month}",
                amount_due=Decimal(due),
                due_date=f"2026-{month + 1:02d}-20",
            )
    posted: list[Payment] = []
    for step, (kind, index, amount) in enumerate(operations):
        try:
            if kind == "pay":
                account = accounts[index]
                posted.append(pay(account, amount, key=f"{biller.code}-{step}").payment)
            elif kind == "pay_all":
                account = accounts[index]
                due = sum((b.outstanding for b in Bill.objects.filter(account=account)), ZERO)
                if due:
                    posted.append(pay(account, due, key=f"{biller.code}-{step}").payment)
            elif posted:
                reverse_payment(payment=posted[index % len(posted)], actor=admin_user, reason="property test")
        except PaymentRefused:
            pass
    _assert_invariants(biller, accounts)


def _assert_invariants(biller, accounts):
    assert unbalanced_entry_ids() == []
    assert (JournalLine.objects.aggregate(s=Sum("amount"))["s"] or ZERO) == ZERO
    for bill in Bill.objects.filter(account__in=accounts):
        allocated = PaymentAllocation.objects.filter(bill=bill).aggregate(s=Sum("amount"))["s"] or ZERO
        assert bill.amount_paid == allocated
        assert ZERO <= bill.amount_paid <= bill.total_due
    for account in CustomerAccount.objects.filter(pk__in=[a.pk for a in accounts]):
        credit = PaymentAllocation.objects.filter(payment__account=account, kind=AllocationKind.CREDIT)
        assert account.credit_balance == (credit.aggregate(s=Sum("amount"))["s"] or ZERO)
    payable = LedgerAccount.objects.filter(code=f"PAYABLE:{biller.code}").first()
    net_collected = (
        Payment.objects.filter(biller=biller, status="posted").aggregate(s=Sum("amount"))["s"] or ZERO
    )
    assert (-ledger_balance(payable) if payable else ZERO) == net_collected
