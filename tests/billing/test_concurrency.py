"""Many callers at the same bill at the same moment, on PostgreSQL with real row locks.

Each test starts its threads behind a barrier so the requests really overlap; every thread must get a
clean answer: a payment, or a PaymentRefused with a message — never a raw database error.
"""

import threading
import time
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction

from billing.choices import AmountRule, BillStatus, Channel
from billing.exceptions import PaymentRefused
from billing.models import Bill, Payment, PaymentAllocation
from billing.selectors import trial_balance, unbalanced_entry_ids
from billing.services import post_payment, reverse_payment
from tests.factories import BillFactory, BranchFactory, CustomerAccountFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

THREADS = 20


def run_concurrently(calls):
    """Run each callable in its own thread, all released at once; return what each returned or raised."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait()
            outcomes[index] = ("ok", call())
        except PaymentRefused as exc:
            outcomes[index] = ("refused", exc)
        except Exception as exc:  # anything else is a failure of the test subject
            outcomes[index] = ("error", exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def assert_clean(outcomes):
    errors = [repr(value) for kind, value in outcomes if kind == "error"]
    assert errors == [], errors
    for kind, value in outcomes:
        if kind == "refused":
            assert value.code and value.message


def test_twenty_payments_of_one_bill_pay_it_once():
    bill = BillFactory(amount_due=Decimal("100.00"))
    account = bill.account
    calls = [
        lambda i=i: post_payment(
            channel=Channel.ONLINE,
            idempotency_key=f"citizen-{i}",
            biller_code=account.biller.code,
            account_no=account.account_no,
            amount="100.00",
            periods=[bill.period],
        )
        for i in range(THREADS)
    ]
    outcomes = run_concurrently(calls)
    assert_clean(outcomes)
    kinds = Counter(kind for kind, _ in outcomes)
    assert kinds == {"ok": 1, "refused": THREADS - 1}
    assert {value.code for kind, value in outcomes if kind == "refused"} == {"bill_already_paid"}
    bill.refresh_from_db()
    assert bill.amount_paid == Decimal("100.00") and bill.status == BillStatus.PAID
    assert Payment.objects.count() == 1
    assert unbalanced_entry_ids() == []


def test_partial_payments_racing_never_pay_beyond_what_is_due():
    bill = BillFactory(amount_due=Decimal("100.00"), account__biller__amount_rule=AmountRule.EXACT_DOWN)
    account = bill.account
    calls = [
        lambda i=i: post_payment(
            channel=Channel.ONLINE,
            idempotency_key=f"part-{i}",
            biller_code=account.biller.code,
            account_no=account.account_no,
            amount="30.00",
        )
        for i in range(THREADS)
    ]
    outcomes = run_concurrently(calls)
    assert_clean(outcomes)
    assert Counter(kind for kind, _ in outcomes) == {"ok": 3, "refused": THREADS - 3}
    bill.refresh_from_db()
    assert bill.amount_paid == Decimal("90.00") and bill.status == BillStatus.PARTLY_PAID
    assert (
        sum(PaymentAllocation.objects.filter(bill=bill).values_list("amount", flat=True)) == bill.amount_paid
    )


def test_two_clerks_a_citizen_and_a_partner_at_one_bill():
    bill = BillFactory(amount_due=Decimal("256.40"))
    account = bill.account
    branch_a, branch_b = BranchFactory(), BranchFactory()

    def payer(channel, key, branch=None):
        return lambda: post_payment(
            channel=channel,
            idempotency_key=key,
            biller_code=account.biller.code,
            account_no=account.account_no,
            amount="256.40",
            branch=branch,
        )

    outcomes = run_concurrently(
        [
            payer(Channel.COUNTER, "clerk-a", branch_a),
            payer(Channel.COUNTER, "clerk-b", branch_b),
            payer(Channel.ONLINE, "citizen"),
            payer(Channel.PARTNER, "partner"),
        ]
    )
    assert_clean(outcomes)
    assert Counter(kind for kind, _ in outcomes) == {"ok": 1, "refused": 3}
    bill.refresh_from_db()
    assert bill.amount_paid == Decimal("256.40")
    assert sum(trial_balance().values()) == 0


def test_twenty_retries_of_one_key_create_one_payment():
    bill = BillFactory(amount_due=Decimal("58.00"))
    account = bill.account
    call = lambda: post_payment(  # noqa: E731
        channel=Channel.PARTNER,
        idempotency_key="retry-storm",
        biller_code=account.biller.code,
        account_no=account.account_no,
        amount="58.00",
    )
    outcomes = run_concurrently([call] * THREADS)
    assert_clean(outcomes)
    assert all(kind == "ok" for kind, _ in outcomes)
    results = [value for _, value in outcomes]
    assert len({result.payment.pk for result in results}) == 1
    assert sum(not result.replayed for result in results) == 1
    assert Payment.objects.count() == 1
    bill.refresh_from_db()
    assert bill.amount_paid == Decimal("58.00")


def test_one_key_raced_with_different_requests_executes_once():
    account = CustomerAccountFactory()
    BillFactory(account=account, period="2026-08", amount_due=Decimal("10.00"), due_date="2026-09-20")
    BillFactory(account=account, period="2026-09", amount_due=Decimal("20.00"), due_date="2026-10-20")
    calls = [
        lambda amount=amount: post_payment(
            channel=Channel.ONLINE,
            idempotency_key="same-key",
            biller_code=account.biller.code,
            account_no=account.account_no,
            amount=amount,
        )
        for amount in ["10.00", "30.00"] * (THREADS // 2)
    ]
    outcomes = run_concurrently(calls)
    assert_clean(outcomes)
    assert Payment.objects.count() == 1
    winner = Payment.objects.get()
    for kind, value in outcomes:
        if kind == "ok":
            assert value.payment.pk == winner.pk
        else:
            assert value.code == "idempotency_conflict"


def test_racing_reversals_reverse_once(admin_user):
    bill = BillFactory(amount_due=Decimal("40.00"))
    payment = post_payment(
        channel=Channel.ONLINE,
        idempotency_key="to-reverse",
        biller_code=bill.biller.code,
        account_no=bill.account.account_no,
        amount="40.00",
    ).payment
    outcomes = run_concurrently(
        [lambda: reverse_payment(payment=payment, actor=admin_user, reason="并发撤销")] * 10
    )
    assert_clean(outcomes)
    assert Counter(kind for kind, _ in outcomes) == {"ok": 1, "refused": 9}
    assert Bill.objects.get(pk=bill.pk).amount_paid == Decimal("0.00")
    assert all(balance == 0 for balance in trial_balance().values())


@pytest.mark.parametrize("other_bill", [False, True], ids=["nothing-left-to-pay", "another-bill-open"])
def test_a_retry_that_waited_for_the_lock_answers_as_the_replay_of_the_payment_that_held_it(other_bill):
    """The posting looks the key up in the same statement that locks the account, so a retry queued behind
    the first request sees the key as unused: it must still answer as the first one's replay, whether it
    then finds nothing to pay (a refusal, re-asked) or another open bill (its insert fails on the key)."""
    account = CustomerAccountFactory()
    first = BillFactory(account=account, period="2026-08", amount_due=Decimal("25.00"), due_date="2026-09-20")
    if other_bill:
        BillFactory(account=account, period="2026-09", amount_due=Decimal("25.00"), due_date="2026-10-20")
    request = {
        "channel": Channel.PARTNER,
        "idempotency_key": "retried",
        "biller_code": account.biller.code,
        "account_no": account.account_no,
        "amount": "25.00",
    }
    holding, release, answers = threading.Event(), threading.Event(), {}

    def first_request():
        try:
            with transaction.atomic():
                answers["first"] = post_payment(**request)
                holding.set()
                release.wait(timeout=30)  # holds the account's lock, uncommitted
        finally:
            connections.close_all()

    def retry():
        try:
            answers["retry"] = post_payment(**request)
        except Exception as exc:  # the test's subject must answer, not raise
            answers["retry"] = exc
        finally:
            connections.close_all()

    holder = threading.Thread(target=first_request)
    holder.start()
    assert holding.wait(timeout=30)
    waiter = threading.Thread(target=retry)
    waiter.start()
    with connection.cursor() as cursor:  # the retry's statement has begun and waits for the lock
        for _ in range(300):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the retry never waited for the account's lock")
    release.set()
    holder.join(timeout=30)
    waiter.join(timeout=30)
    retried = answers["retry"]
    assert not isinstance(retried, Exception), repr(retried)
    assert retried.replayed and retried.payment.pk == answers["first"].payment.pk
    assert Payment.objects.count() == 1
    first.refresh_from_db()
    assert first.status == BillStatus.PAID
