"""The posting desk (billing/posting_desk.py), on the real Redis and PostgreSQL: single payments handed to a
desk thread are posted together and answered as post_payment answers them (the payment, a replay, the
refusal raised); with no desk, a silent desk or a failing batch, the caller posts directly, and nothing is
ever paid twice."""

import threading
import time
from collections import Counter
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from billing import posting_desk
from billing.audit import PaymentAudit
from billing.choices import BillStatus, Channel
from billing.exceptions import PaymentRefused
from billing.models import AuditEvent, Bill, Payment
from billing.services import PaymentOrder, PostingResult
from tests.api.conftest import SignedClient
from tests.billing.test_concurrency import assert_clean, run_concurrently
from tests.billing.test_post_payments import assert_books_balance
from tests.factories import BillFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

D = Decimal


@pytest.fixture
def desk_url(settings):
    if not settings.CACHE_URL.startswith("redis://"):
        pytest.skip("the posting desk's queue is on Redis: run with CACHE_URL=redis://…")
    settings.POSTING_DESK_URL = settings.CACHE_URL
    settings.POSTING_DESK_WAIT = 5
    posting_desk._alive_seen["until"] = 0.0
    posting_desk.empty_queue()
    yield posting_desk._client()
    posting_desk.empty_queue()
    posting_desk._alive_seen["until"] = 0.0


class Desk:
    """A desk serving in a thread of its own (with its own database connection) until stopped."""

    def __init__(self, client, batch=posting_desk.DESK_BATCH):
        self.stop_event = threading.Event()
        self.taken = None

        def serve():
            try:
                self.taken = posting_desk.serve(batch=batch, stop=self.stop_event)
            finally:
                connections.close_all()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        assert posting_desk.wait_until_serving(10), "the desk never said it was alive"

    def stop(self) -> dict:
        self.stop_event.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()
        return self.taken


@pytest.fixture
def desk(desk_url):
    running = Desk(desk_url)
    yield running
    if running.thread.is_alive():
        running.stop()


def order_for(bill, key, amount=None, **fields) -> PaymentOrder:
    return PaymentOrder(
        idempotency_key=key,
        biller_code=bill.account.biller.code,
        account_no=bill.account.account_no,
        amount=bill.amount_due if amount is None else amount,
        **fields,
    )


def at_desk(order, channel=Channel.PARTNER):
    return posting_desk.post_payment_at_desk(channel=channel, order=order)


def test_payments_arriving_together_are_posted_in_batches_each_answered_with_its_own_payment(desk):
    bills = [BillFactory(amount_due=D("100.00") + n) for n in range(12)]
    calls = [
        lambda bill=bill, n=n: at_desk(
            order_for(bill, f"desk-{n}", audit=PaymentAudit("partner.payment_taken", {"n": n}))
        )
        for n, bill in enumerate(bills)
    ]

    outcomes = run_concurrently(calls)
    taken = desk.stop()

    assert_clean(outcomes)
    results = [value for _, value in outcomes]
    assert all(isinstance(result, PostingResult) and not result.replayed for result in results)
    for n, (bill, result) in enumerate(zip(bills, results, strict=True)):
        payment = Payment.objects.get(pk=result.payment.pk)
        assert (payment.idempotency_key, payment.amount) == (f"desk-{n}", bill.amount_due)
        assert payment.receipt_no == result.payment.receipt_no and payment.account_id == bill.account_id
        assert Bill.objects.get(pk=bill.pk).status == BillStatus.PAID
        assert AuditEvent.objects.get(action="partner.payment_taken", target_id=str(payment.pk)).data == {
            "n": str(n)
        }
    assert taken["requests"] == 12
    assert taken["batches"] < 12, "requests that arrived together were posted together"
    assert_books_balance()


def test_the_same_key_again_is_answered_as_a_replay_of_the_same_payment(desk):
    bill = BillFactory(amount_due=D("80.00"))
    first = at_desk(order_for(bill, "again"))
    second = at_desk(order_for(bill, "again"))
    assert not first.replayed and second.replayed
    assert second.payment.pk == first.payment.pk
    assert Payment.objects.count() == 1


def test_a_refusal_is_raised_in_the_caller_with_its_code_stores_nothing_and_frees_the_key(desk):
    bill = BillFactory(amount_due=D("80.00"))
    with pytest.raises(PaymentRefused) as refused:
        at_desk(order_for(bill, "wrong", amount="1,00"))
    assert refused.value.code == "amount_invalid" and "1,00" in str(refused.value.message)
    with pytest.raises(PaymentRefused) as refused:
        at_desk(order_for(bill, "too-much", amount="500.00"))
    assert refused.value.code in {"amount_not_exact", "amount_exceeds_due"}
    assert Payment.objects.count() == 0

    corrected = at_desk(order_for(bill, "too-much"))
    assert not corrected.replayed and corrected.payment.amount == D("80.00")


def test_many_callers_paying_one_bill_through_the_desk_pay_it_once(desk):
    bill = BillFactory(amount_due=D("100.00"))
    calls = [lambda n=n: at_desk(order_for(bill, f"race-{n}")) for n in range(8)]

    outcomes = run_concurrently(calls)
    desk.stop()

    assert_clean(outcomes)
    kinds = Counter(kind for kind, _ in outcomes)
    assert kinds == {"ok": 1, "refused": 7}
    assert {value.code for kind, value in outcomes if kind == "refused"} <= {
        "no_open_bill",
        "bill_already_paid",
    }
    assert Payment.objects.count() == 1
    assert Bill.objects.get(pk=bill.pk).amount_paid == D("100.00")
    assert_books_balance()


def test_with_no_desk_running_the_caller_posts_directly_and_queues_nothing(desk_url):
    bill = BillFactory(amount_due=D("60.00"))
    result = at_desk(order_for(bill, "no-desk"))
    assert Payment.objects.get().pk == result.payment.pk
    assert desk_url.llen(posting_desk._REQUESTS) == 0


def test_without_a_desk_url_the_caller_posts_directly(settings):
    settings.POSTING_DESK_URL = ""
    bill = BillFactory(amount_due=D("60.00"))
    assert at_desk(order_for(bill, "no-url")).payment.amount == D("60.00")


def test_a_desk_that_does_not_answer_in_time_is_posted_around_and_its_late_copy_is_dropped(
    desk_url, settings
):
    """The heartbeat says a desk is alive, but nobody serves: the caller waits POSTING_DESK_WAIT, then posts
    itself. A desk that starts later finds the request past its deadline and drops it."""
    settings.POSTING_DESK_WAIT = 1
    desk_url.set(posting_desk._ALIVE, 1, ex=30)
    bill = BillFactory(amount_due=D("70.00"))

    started = time.monotonic()
    result = at_desk(order_for(bill, "silent"))
    assert time.monotonic() - started >= 1
    assert not result.replayed and Payment.objects.count() == 1
    assert desk_url.llen(posting_desk._REQUESTS) == 1

    late = Desk(desk_url)
    deadline = time.monotonic() + 5
    while desk_url.llen(posting_desk._REQUESTS):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert late.stop() == {"requests": 1, "batches": 1}
    assert Payment.objects.count() == 1


def test_a_desk_whose_batch_fails_leaves_its_callers_to_post_directly(desk, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(posting_desk, "post_payments", broken)
    bill = BillFactory(amount_due=D("90.00"))
    result = at_desk(order_for(bill, "broken-batch"))
    assert not result.replayed and Payment.objects.get().pk == result.payment.pk


def test_a_partner_payment_goes_through_the_desk_and_its_retry_replays_it(desk, client, admin_user):
    from api import services
    from api.models import Partner
    from billing.models import BillerCategory

    bill = BillFactory(
        amount_due=D("128.40"), account__biller__category=BillerCategory.objects.get(code="water")
    )
    partner = Partner.objects.create(code="ACME", name="Acme Pay", rate_limit_per_minute=1000)
    partner.allowed_categories.add(BillerCategory.objects.get(code="water"))
    issued = services.issue_credential(owner=partner, actor=admin_user)
    api = SignedClient(client, issued.credential.key_id, issued.secret)
    body = {
        "biller_code": bill.biller.code,
        "account_no": bill.account.account_no,
        "amount": "128.40",
        "partner_ref": "ACME-1",
    }

    first = api.post("/api/v1/partner/payments", body, idempotency_key="desk-1")
    again = api.post("/api/v1/partner/payments", body, idempotency_key="desk-1")
    taken = desk.stop()

    assert first.status_code == 201, first.json()
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    payment = Payment.objects.get()
    assert payment.idempotency_key == "ACME:desk-1" and first.json()["receipt_no"] == payment.receipt_no
    assert AuditEvent.objects.filter(action="partner.payment_taken").count() == 1
    assert taken == {"requests": 1, "batches": 1}, "posted by the desk, not by the request"


def test_the_command_refuses_to_start_without_a_queue(settings):
    settings.POSTING_DESK_URL = ""
    with pytest.raises(CommandError, match="POSTING_DESK_URL"):
        call_command("run_posting_desk")


def test_a_message_that_is_not_a_request_is_dropped_and_the_desk_goes_on(desk_url, desk):
    desk_url.lpush(posting_desk._REQUESTS, b"not a pickle", b"\x80\x05K\x01.")
    bill = BillFactory(amount_due=D("50.00"))
    assert not at_desk(order_for(bill, "after-junk")).replayed
    assert desk.stop()["requests"] == 3
