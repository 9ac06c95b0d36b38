"""The transactional outbox (billing.outbox): every money event is written with its ledger entry, in the
same transaction, and published by relays that never take the same event twice."""

import datetime
import threading
import time
import uuid
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from billing import ledger, outbox, plain_sql
from billing.choices import AmountRule, Channel
from billing.models import JournalEntry, OutboxEvent, Payment
from billing.services import reverse_payment
from tests.factories import BillerFactory, BillFactory
from tests.support import pay

pytestmark = pytest.mark.django_db


def partly_payable_bill():
    return BillFactory(account__biller__amount_rule=AmountRule.EXACT_DOWN, amount_due=Decimal("1000.00"))


def test_a_payment_writes_its_event_with_its_entry(admin_user):
    bill = BillFactory(amount_due=Decimal("64.00"))
    payment = pay(bill.account, "64.00", key="o-1").payment
    event = OutboxEvent.objects.get()
    assert event.type == "payment.posted" and event.aggregate_id == str(payment.pk)
    assert event.published_at is None
    assert event.payload["receipt_no"] == payment.receipt_no
    assert event.payload["amount"] == "64.00"
    assert event.payload["biller_code"] == bill.account.biller.code
    assert event.payload["bills"] == [{"period": bill.period, "amount": "64.00"}]

    reverse_payment(payment=payment, actor=admin_user, reason="错收")
    reversed_event = OutboxEvent.objects.get(type="payment.reversed")
    assert reversed_event.aggregate_id == str(payment.pk) and reversed_event.pk != event.pk
    assert reversed_event.payload["status"] == "reversed"


def test_a_rolled_back_payment_leaves_no_event():
    bill = BillFactory(amount_due=Decimal("64.00"))
    with pytest.raises(RuntimeError), transaction.atomic():
        pay(bill.account, "64.00", key="o-2")
        assert OutboxEvent.objects.count() == 1  # written, inside the transaction
        raise RuntimeError("the caller fails after posting")
    assert not Payment.objects.exists()
    assert not OutboxEvent.objects.exists()


def test_a_rolled_back_settlement_leaves_no_event_and_a_committed_one_does():
    biller = BillerFactory()
    day = datetime.date(2026, 11, 30)
    with pytest.raises(RuntimeError), transaction.atomic():
        ledger.post_settlement_entry(
            biller=biller, gross=Decimal("100.00"), fees=Decimal("1.00"), business_date=day, memo="S1"
        )
        raise RuntimeError
    assert not OutboxEvent.objects.exists() and not JournalEntry.objects.exists()

    with transaction.atomic():
        entry = ledger.post_settlement_entry(
            biller=biller, gross=Decimal("100.00"), fees=Decimal("1.00"), business_date=day, memo="S2"
        )
    event = OutboxEvent.objects.get()
    assert event.type == "settlement.settled" and event.aggregate_id == str(entry.pk)
    assert event.payload == {
        "biller_code": biller.code,
        "gross": "100.00",
        "fees": "1.00",
        "net": "99.00",
        "business_date": "2026-11-30",
        "reference": "S2",
    }


def test_a_write_off_writes_its_event():
    with transaction.atomic():
        entry = ledger.post_write_off_entry(
            channel=Channel.ONLINE,
            amount=Decimal("-0.50"),
            business_date=datetime.date(2026, 11, 30),
            memo="D1",
        )
    event = OutboxEvent.objects.get()
    assert (event.type, event.aggregate_id, event.payload["amount"]) == (
        "ledger.written_off",
        str(entry.pk),
        "-0.50",
    )


def test_an_event_outside_a_transaction_is_refused():
    wrapper = transaction.get_connection()
    wrapper.in_atomic_block = False  # as outside the test's own transaction
    try:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            outbox.record(type="x", aggregate_type="y", aggregate_id=1, payload={})
    finally:
        wrapper.in_atomic_block = True


def test_the_relay_hands_each_event_to_every_consumer_and_marks_it_published():
    for n in range(3):
        pay(partly_payable_bill().account, "30.00", key=f"r-{n}")
    seen = []
    outbox.register_consumer("test", lambda events: seen.extend(e.pk for e in events))
    try:
        assert outbox.relay(batch_size=2) == 3
        assert outbox.relay() == 0
    finally:
        outbox.unregister_consumer("test")
    assert sorted(seen) == sorted(OutboxEvent.objects.values_list("pk", flat=True))
    assert not outbox.unpublished().exists()


def test_a_failing_consumer_publishes_nothing():
    bill = BillFactory(amount_due=Decimal("30.00"))
    pay(bill.account, "30.00", key="f-1")

    def broken(events):
        raise ValueError("consumer down")

    outbox.register_consumer("broken", broken)
    try:
        with pytest.raises(ValueError):
            outbox.relay()
    finally:
        outbox.unregister_consumer("broken")
    assert outbox.unpublished().count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_relays_side_by_side_publish_each_event_exactly_once(monkeypatch):
    monkeypatch.setattr(outbox, "relay_soon", lambda: None)  # no relay on commit: the two threads do it
    bill = partly_payable_bill()
    for n in range(40):
        pay(bill.account, "1.00", key=f"t-{n}")
    handed: list = []
    guard = threading.Lock()

    def slow_consumer(events):
        time.sleep(0.02)  # hold the claimed rows while the other relay looks
        with guard:
            handed.extend((threading.current_thread().name, e.pk) for e in events)

    outbox.register_consumer("slow", slow_consumer)
    counts = {}

    def run(name):
        try:
            counts[name] = outbox.relay(batch_size=5)
        finally:
            connection.close()

    try:
        threads = [threading.Thread(target=run, args=(name,), name=name) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        outbox.unregister_consumer("slow")
    ids = [pk for _name, pk in handed]
    assert len(ids) == len(set(ids)) == 40
    assert counts["a"] + counts["b"] == 40
    assert {name for name, _pk in handed} == {"a", "b"}  # both worked: SKIP LOCKED, not a queue
    assert not outbox.unpublished().exists()


def test_event_ids_are_in_time_order_and_unguessable():
    """Version 7 ids (outbox.new_event_id): each new event goes to the end of the primary key's index, and
    74 random bits stay, so one id does not give away another."""
    earlier = outbox.new_event_id()
    time.sleep(0.002)
    later = [outbox.new_event_id() for _ in range(1000)]
    assert all(event_id.version == 7 and event_id.variant == "specified in RFC 4122" for event_id in later)
    assert all(earlier < event_id for event_id in later)
    assert len(set(later)) == 1000
    now_ms = time.time_ns() // 1_000_000
    assert 0 <= now_ms - (later[-1].int >> 80) < 1000


def test_a_payment_event_has_a_time_ordered_id():
    bill = BillFactory(amount_due=Decimal("64.00"))
    pay(bill.account, "64.00", key="o-v7")
    assert OutboxEvent.objects.get().id.version == 7


# --- retention (outbox.purge_published) -------------------------------------------------------------------

NOW = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.UTC)


def event_made(days_ago: float, *, published_days_ago: float | None, serial: int = 1) -> OutboxEvent:
    """An event whose id was made `days_ago` before NOW (as new_event_id makes them), published or not."""
    made = NOW - datetime.timedelta(days=days_ago)
    event_id = uuid.UUID(int=outbox.event_id_floor(made).int | 0x7 << 76 | 0b10 << 62 | serial)
    published = None if published_days_ago is None else NOW - datetime.timedelta(days=published_days_ago)
    return OutboxEvent.objects.create(
        id=event_id,
        type=outbox.EventType.PAYMENT_POSTED,
        aggregate_type="payment",
        aggregate_id=str(serial),
        payload={},
        created_at=made,
        published_at=published,
    )


def test_events_published_before_the_retention_are_deleted_and_no_other(settings):
    settings.OUTBOX_RETENTION_DAYS = 90
    gone = event_made(100, published_days_ago=100, serial=1)
    never_published = event_made(120, published_days_ago=None, serial=2)
    published_late = event_made(100, published_days_ago=80, serial=3)  # the relay was down for weeks
    recent = event_made(10, published_days_ago=10, serial=4)

    assert outbox.purge_published(now=NOW) == 1

    kept = set(OutboxEvent.objects.values_list("id", flat=True))
    assert kept == {never_published.id, published_late.id, recent.id}
    assert gone.id not in kept
    assert outbox.purge_published(now=NOW) == 0  # a second run finds nothing more


def test_a_retention_of_zero_keeps_every_event(settings):
    settings.OUTBOX_RETENTION_DAYS = 0
    event_made(1000, published_days_ago=1000)
    assert outbox.purge_published(now=NOW) == 0
    assert OutboxEvent.objects.count() == 1


def test_the_purge_deletes_batch_after_batch(settings, monkeypatch):
    settings.OUTBOX_RETENTION_DAYS = 30
    monkeypatch.setattr(plain_sql, "PURGE_BATCH", 2)
    for serial in range(5):
        event_made(40 + serial, published_days_ago=40, serial=serial)
    event_made(40, published_days_ago=None, serial=9)
    with CaptureQueriesContext(connection) as queries:
        assert outbox.purge_published(now=NOW) == 5
    deletes = [q["sql"] for q in queries.captured_queries if "DELETE FROM billing_outboxevent" in q["sql"]]
    assert len(deletes) == 3  # 2 + 2 + 1, each in its own short transaction
    assert list(OutboxEvent.objects.values_list("aggregate_id", flat=True)) == ["9"]


def test_event_ids_made_before_a_moment_sort_below_its_floor():
    before = outbox.new_event_id()
    time.sleep(0.002)
    floor = outbox.event_id_floor(datetime.datetime.now(datetime.UTC))
    time.sleep(0.002)
    after = outbox.new_event_id()
    assert before < floor < after


def test_the_purge_runs_hourly_on_the_batch_queue(settings):
    from billing.tasks import purge_outbox

    entry = settings.CELERY_BEAT_SCHEDULE["billing-purge-outbox"]
    assert entry == {"task": "billing.tasks.purge_outbox", "schedule": 3600.0}
    assert settings.CELERY_TASK_ROUTES["billing.tasks.purge_outbox"] == {"queue": "batch"}
    settings.OUTBOX_RETENTION_DAYS = 90
    event_made(365, published_days_ago=364)
    event_made(0, published_days_ago=None, serial=2)
    assert purge_outbox.apply().get() == 1
    assert OutboxEvent.objects.count() == 1


# --- asking for a relay (outbox.relay_soon) -----------------------------------------------------------------


@pytest.fixture
def counted_asks(monkeypatch):
    """The process's asks for a relay, counted instead of sent, with Celery not eager (as in production) and a
    short interval; a fresh `_RelayAsks` so that no other test's window or timer carries over."""
    from billing.tasks import relay_outbox

    asks = []
    monkeypatch.setattr(outbox, "_ask_for_relay", lambda: asks.append(time.monotonic()))
    monkeypatch.setattr(outbox, "RELAY_ASK_INTERVAL_SECONDS", 0.3)
    monkeypatch.setattr(outbox, "_relay_asks", outbox._RelayAsks())
    conf = relay_outbox.app.conf
    eager, conf.task_always_eager = conf.task_always_eager, False
    yield asks
    conf.task_always_eager = eager  # an ask still owed is dropped: eager commits ask themselves


def wait_for(condition, seconds=3.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_the_first_commit_asks_at_once_and_those_after_it_once_when_the_interval_ends(counted_asks):
    started = time.monotonic()
    outbox.relay_soon()
    assert len(counted_asks) == 1  # at once, on the committing thread
    for _ in range(50):
        outbox.relay_soon()
    assert len(counted_asks) == 1  # within the interval: only owed
    assert wait_for(lambda: len(counted_asks) == 2)
    assert counted_asks[1] - started >= 0.3  # one ask for all fifty, when the interval ended
    time.sleep(0.5)
    assert len(counted_asks) == 2  # nothing more was owed


def test_a_commit_after_a_quiet_interval_asks_at_once_again(counted_asks):
    outbox.relay_soon()
    time.sleep(0.35)
    outbox.relay_soon()
    assert len(counted_asks) == 2
    time.sleep(0.5)
    assert len(counted_asks) == 2  # neither owed a follow-up


def test_commits_that_keep_coming_ask_about_once_an_interval(counted_asks):
    started, commits = time.monotonic(), 0
    while time.monotonic() - started < 1.0:
        outbox.relay_soon()
        commits += 1
        time.sleep(0.005)
    assert wait_for(lambda: len(counted_asks) >= 4)
    time.sleep(0.4)
    # 1.0 s of commits: an ask at once, then one each 0.3 s interval (4 or 5); a timer thread that a busy
    # machine wakes late, racing a commit that asks at once, can add one: a few more, never one a commit.
    assert 4 <= len(counted_asks) <= 8 < commits


def test_commits_on_other_threads_share_the_interval(counted_asks):
    threads = [threading.Thread(target=lambda: [outbox.relay_soon() for _ in range(20)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wait_for(lambda: len(counted_asks) >= 2)
    time.sleep(0.4)
    assert len(counted_asks) <= 3  # 2, or 3 if a busy machine spread the 80 commits past the interval


def test_an_ask_that_fails_leaves_the_timer_asking_for_the_next(counted_asks, monkeypatch):
    failures = []

    def failing_once():
        if not failures:
            failures.append(1)
            raise RuntimeError("broker gone")
        counted_asks.append(time.monotonic())

    outbox.relay_soon()  # at once, counted
    monkeypatch.setattr(outbox, "_ask_for_relay", failing_once)
    outbox.relay_soon()  # owed: the timer's ask fails
    assert wait_for(lambda: failures)
    outbox.relay_soon()  # owed again: the same timer asks
    assert wait_for(lambda: len(counted_asks) == 2)


def test_with_celery_eager_every_commit_asks(counted_asks):
    from billing.tasks import relay_outbox

    relay_outbox.app.conf.task_always_eager = True  # the fixture puts it back
    for _ in range(3):
        outbox.relay_soon()
    assert len(counted_asks) == 3


def test_an_ask_queues_one_relay_while_one_is_pending(monkeypatch):
    """`_ask_for_relay`: the shared mark in the cache lets one relay task be queued until a relay starts."""
    from django.core.cache import cache

    from billing.tasks import relay_outbox

    queued = []
    monkeypatch.setattr(relay_outbox, "delay", lambda: queued.append(1))
    cache.delete(outbox.RELAY_PENDING_KEY)
    outbox._ask_for_relay()
    outbox._ask_for_relay()
    assert queued == [1]
    outbox.relay()  # clears the mark as it starts
    outbox._ask_for_relay()
    assert queued == [1, 1]


def test_a_reset_forgets_the_interval_and_the_owed_ask(counted_asks):
    outbox.relay_soon()
    outbox.relay_soon()  # owed
    outbox.reset_relay_asks()  # as the real worker's fixture does when Celery turns eager again
    outbox.relay_soon()
    assert len(counted_asks) == 2  # at once: a new interval
