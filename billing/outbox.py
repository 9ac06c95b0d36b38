"""The transactional outbox: money events leave with the transaction that moved the money.

Writing: every writer of a money movement calls one of the `*_event` helpers below (or, for payments and
reversals, `billing.posting` inserts the row inside its own statement) in the SAME transaction as the
ledger entry. A rollback takes the event with it; a commit keeps both. After commit, `relay_soon` asks a
worker to publish.

Publishing (`relay`): a worker claims unpublished rows with `SELECT … FOR UPDATE SKIP LOCKED`
(billing.locks.claim_unpublished_events), so two relays never take the same event; hands each to every
registered consumer inside that transaction (a consumer writes rows only, e.g. the webhook deliveries of
api/webhooks.py, and schedules its outside calls with `transaction.on_commit`); then marks them published.
A relay that dies mid-batch rolls back and the next one (on commit, or beat's every 30 s) does it again:
consumers must be idempotent on the event id. Delivery to outside parties is therefore at least once.
"""

import datetime
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from billing import locks, plain_sql
from billing.models import OutboxEvent

logger = logging.getLogger(__name__)


class EventType:
    """The money events, as receivers see them (X-BillPay-Event, docs/biller-api.md)."""

    PAYMENT_POSTED = "payment.posted"
    PAYMENT_REVERSED = "payment.reversed"
    PAYMENT_REFUNDED = "payment.refunded"
    SETTLEMENT_SETTLED = "settlement.settled"
    LEDGER_WRITTEN_OFF = "ledger.written_off"
    MANDATE_DEBIT = "mandate.debit"
    # Not money, but it leaves the same way: a payment's fiscal e-receipt was issued (billing.fiscal).
    FISCAL_RECEIPT_ISSUED = "fiscal_receipt.issued"


Consumer = Callable[[Sequence[OutboxEvent]], None]
_consumers: dict[str, Consumer] = {}

RELAY_PENDING_KEY = "billing:outbox-relay-pending"
RELAY_PENDING_SECONDS = 10
# A process asks for a relay at most once per this (`_RelayAsks`): an event waits at most this long more.
RELAY_ASK_INTERVAL_SECONDS = 0.2


def register_consumer(name: str, consumer: Consumer) -> None:
    """Apps above billing subscribe here (from their AppConfig.ready): a consumer gets each batch of events
    inside the relay's transaction and must only write rows (idempotently, keyed by event id)."""
    _consumers[name] = consumer


def unregister_consumer(name: str) -> None:
    _consumers.pop(name, None)


def as_json(value) -> dict:
    """Dates, datetimes and Decimals as the strings receivers read (money with two decimals)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def new_event_id() -> uuid.UUID:
    """A UUID version 7 (RFC 9562): the millisecond it was made, then 74 random bits. Events are kept, and
    ids in time order put each new one at the end of the primary key's index, on pages already in memory;
    a random (version 4) id put it at a random leaf of an index of every event ever written: a page read,
    and after each checkpoint a full-page image in the WAL, for every payment. Receivers still cannot guess
    one id from another."""
    millis = time.time_ns() // 1_000_000
    random_bits = int.from_bytes(os.urandom(10), "big")  # 80 bits, of which 74 are kept
    value = _millisecond_bits(millis) | 0x7 << 76 | (random_bits >> 68) << 64 | 0b10 << 62
    return uuid.UUID(int=value | random_bits & (1 << 62) - 1)


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def event_id_floor(at: datetime.datetime) -> uuid.UUID:
    """The smallest event id `new_event_id` can make at `at`'s millisecond: every event made before `at` has
    a smaller one. (`at` is aware; its millisecond counted in integers, not through a float timestamp.)"""
    return uuid.UUID(int=_millisecond_bits((at - _EPOCH) // datetime.timedelta(milliseconds=1)))


def _millisecond_bits(millis: int) -> int:
    """An event id's first 48 bits: the Unix millisecond it was made (RFC 9562, version 7)."""
    return (millis & (1 << 48) - 1) << 80


def record(*, type: str, aggregate_type: str, aggregate_id, payload: dict) -> OutboxEvent:
    """Write one event in the caller's transaction (which must be open: no event without its entry)."""
    (event,) = record_many(
        [{"type": type, "aggregate_type": aggregate_type, "aggregate_id": aggregate_id, "payload": payload}]
    )
    return event


def record_many(events: Sequence[dict]) -> list[OutboxEvent]:
    """`record` for many events (keys as its arguments), in one insert."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("an outbox event is written inside the transaction of its ledger entry")
    now = timezone.now()
    rows = OutboxEvent.objects.bulk_create(
        [
            OutboxEvent(
                id=new_event_id(),
                type=event["type"],
                aggregate_type=event["aggregate_type"],
                aggregate_id=str(event["aggregate_id"]),
                payload=as_json(event["payload"]),
                created_at=now,
            )
            for event in events
        ]
    )
    relay_on_commit()
    return rows


def money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def settlement_events(settled: Sequence[dict]) -> list[OutboxEvent]:
    """The hook of settlement (billing.ledger.post_settlement_entries): each biller was paid what it is
    owed. One dict per settlement entry (biller, gross, fees, business_date, memo, entry_id), one insert."""
    return record_many(
        [
            {
                "type": EventType.SETTLEMENT_SETTLED,
                "aggregate_type": "journal_entry",
                "aggregate_id": one["entry_id"],
                "payload": {
                    "biller_code": one["biller"].code,
                    "gross": money(one["gross"]),
                    "fees": money(one["fees"]),
                    "net": money(one["gross"] - one["fees"]),
                    "business_date": one["business_date"],
                    "reference": one["memo"],
                },
            }
            for one in settled
        ]
    )


def write_off_event(
    *, channel: str, amount: Decimal, business_date: datetime.date, memo: str, entry_id: int
) -> OutboxEvent:
    return record(
        type=EventType.LEDGER_WRITTEN_OFF,
        aggregate_type="journal_entry",
        aggregate_id=entry_id,
        payload={"channel": channel, "amount": money(amount), "business_date": business_date, "memo": memo},
    )


def refund_event(*, line, refund_no: str, biller_code: str, account_no: str) -> OutboxEvent:
    """A portal order line's money went back to the payer (the gateway confirmed the refund)."""
    return record(
        type=EventType.PAYMENT_REFUNDED,
        aggregate_type="order_line",
        aggregate_id=line.pk,
        payload={
            "refund_no": refund_no,
            "order_no": line.order.order_no,
            "biller_code": biller_code,
            "account_no": account_no,
            "amount": money(line.amount),
            "refunded_at": line.refunded_at,
        },
    )


def mandate_debit_event(
    *,
    debit_id: int,
    mandate_id,
    receipt_no: str,
    biller_code: str,
    account_no: str,
    period: str,
    amount: Decimal,
) -> OutboxEvent:
    """An auto-pay mandate paid a bill (payers.mandates), written with its payment's transaction."""
    return record(
        type=EventType.MANDATE_DEBIT,
        aggregate_type="mandate_debit",
        aggregate_id=debit_id,
        payload={
            "mandate_id": str(mandate_id),
            "receipt_no": receipt_no,
            "biller_code": biller_code,
            "account_no": account_no,
            "period": period,
            "amount": money(amount),
        },
    )


def relay_on_commit() -> None:
    transaction.on_commit(relay_soon)


def relay_soon() -> None:
    """Ask a worker to run the relay soon after an event committed (`_RelayAsks`)."""
    _relay_asks.ask()


def _ask_for_relay() -> None:
    """Queue one relay unless one is queued already and has not started (the shared mark, at most one per
    RELAY_PENDING_SECONDS): at 200 payments a second one task per payment would swamp the queue. The relay
    clears the mark before it reads, so an event committed after that read asks again; beat's relay every
    30 s covers a lost message or cache."""
    from django.core.cache import cache

    from billing.tasks import relay_outbox

    try:
        first = cache.add(RELAY_PENDING_KEY, 1, timeout=RELAY_PENDING_SECONDS)
    except Exception:  # the cache is down: ask anyway
        logger.warning("outbox: cache unavailable, relay asked without de-duplication", exc_info=True)
        first = True
    if first:
        try:
            relay_outbox.delay()
        except Exception:  # the broker is down: beat's backstop publishes the event later
            logger.warning("outbox: relay not queued; beat's backstop will publish", exc_info=True)


class _RelayAsks:
    """This process's asks for a relay, at most one every RELAY_ASK_INTERVAL_SECONDS.

    The first commit after a quiet interval asks at once, on its own thread. A commit within the interval
    after an ask only notes that one is owed; a timer thread asks once when the interval ends, for all of
    them: each event still has a relay asked for after it committed, at most an interval later. Asking
    Redis on every commit put a round trip in every payment: without it `post_payment` called directly by
    two processes posts 17 % more a second (docs/benchmarks.md, "The outbox relay asked at most five times
    a second"). With Celery eager (tests, the demo) every commit asks, as the relay then runs in the asking
    thread. An owed ask is lost if the process exits within the interval: beat's relay every 30 s
    publishes the event then."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a forked worker starts with no timer thread

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._next_ask = 0.0  # time.monotonic() from which a commit asks at once
        self._owed = False
        self._timer: threading.Thread | None = None

    def ask(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now >= self._next_ask:
                self._next_ask = now + RELAY_ASK_INTERVAL_SECONDS
                self._owed = False  # this ask, made after the commits that owed one, covers them
                at_once = True
            elif self._owed:
                return
            else:
                at_once = _relay_runs_eagerly()  # then the relay runs in this thread, now
                if not at_once:
                    self._owed = True
                    self._start_timer()
                    self._wake.set()
        if at_once:
            _ask_for_relay()

    def _start_timer(self) -> None:
        if self._timer is None or not self._timer.is_alive():
            self._timer = threading.Thread(target=self._ask_when_owed, name="outbox-relay-asks", daemon=True)
            self._timer.start()

    def _ask_when_owed(self) -> None:
        while True:
            self._wake.wait()
            with self._lock:
                wait = self._next_ask - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            with self._lock:
                self._wake.clear()
                owed, self._owed = self._owed, False
                if owed:
                    self._next_ask = time.monotonic() + RELAY_ASK_INTERVAL_SECONDS
            if owed:
                try:
                    if not _relay_runs_eagerly():  # eager since (a test's end): every commit asks itself
                        _ask_for_relay()
                except Exception:  # never let the timer die: the next owed ask would wait for beat
                    logger.exception("outbox: relay ask failed")


def reset_relay_asks() -> None:
    """Forget this process's interval and any owed ask: for a test that turned Celery eager again, whose
    commits must each ask (and run the relay) at once."""
    _relay_asks._reset()


def _relay_runs_eagerly() -> bool:
    from billing.tasks import relay_outbox

    return bool(relay_outbox.app.conf.task_always_eager)


_relay_asks = _RelayAsks()


def relay(*, batch_size: int | None = None, max_batches: int = 50) -> int:
    """Publish unpublished events in batches until none is left; returns how many were published."""
    from django.core.cache import cache

    try:
        cache.delete(RELAY_PENDING_KEY)
    except Exception:
        logger.warning("outbox: cache unavailable", exc_info=True)
    batch_size = batch_size or settings.OUTBOX_RELAY_BATCH
    published = 0
    for _ in range(max_batches):
        with transaction.atomic():
            events = locks.claim_unpublished_events(batch_size)
            if not events:
                break
            publish(events)
        published += len(events)
        if len(events) < batch_size:
            break
    return published


# One batch of the purge in one statement: the next events by id below the cutoff's id and published before
# the cutoff, deleted; how many, and the last id for the next batch. (The ORM's select, then delete, carried
# each batch's ids through Python and back: 78,000 events a second, against 1.16 million for one DELETE.)
_PURGE_BATCH_SQL = """
WITH doomed AS MATERIALIZED (
    SELECT id FROM billing_outboxevent
    WHERE id > %(after)s AND id < %(below)s AND published_at < %(cutoff)s
    ORDER BY id
    LIMIT %(limit)s
), gone AS (
    DELETE FROM billing_outboxevent WHERE id IN (SELECT id FROM doomed) RETURNING id
)
SELECT (SELECT count(*) FROM gone), (SELECT id FROM doomed ORDER BY id DESC LIMIT 1)
"""


def purge_published(*, now: datetime.datetime | None = None, max_batches: int = 100) -> int:
    """Delete the events published more than OUTBOX_RETENTION_DAYS ago (0: keep them all); returns how many.

    Why: an event is how a movement of money left the platform, not its record. The ledger, the payments and
    the audit log are the record, and every consumer keeps its own copy (a webhook delivery its payload, a
    fiscal receipt its row). Kept for ever, the events would be the largest table of all: one row a payment,
    about 60 GB of primary key alone for a year at two billion payments (docs/scaling.md). An unpublished
    event is never deleted, however old.

    Events are found through their ids: an id begins with the millisecond it was made (`new_event_id`), so
    the events made before the cutoff are a range of the primary key, read in order, batch after batch
    (plain_sql.delete_in_batches), with no index of their own (one on the publication time would cost every
    payment an entry). Events written before ids were in time order (random ids, before 2026-12-05) are
    mostly outside that range and stay (docs/operations.md says how to remove them once)."""
    days = settings.OUTBOX_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    purged = plain_sql.delete_in_batches(
        _PURGE_BATCH_SQL,
        after=uuid.UUID(int=0),
        below=event_id_floor(cutoff),
        cutoff=cutoff,
        max_batches=max_batches,
    )
    if purged:
        logger.info("outbox: deleted %s events published before %s", purged, cutoff.isoformat())
    return purged


def publish(events: Sequence[OutboxEvent]) -> None:
    """Hand claimed events to every consumer, then mark them published (in the caller's transaction)."""
    for name, consumer in list(_consumers.items()):
        with transaction.atomic():  # a savepoint: a failing consumer fails the batch, loudly
            try:
                consumer(events)
            except Exception:
                logger.exception("outbox: consumer %s failed on %d events", name, len(events))
                raise
    OutboxEvent.objects.filter(pk__in=[event.pk for event in events]).update(published_at=timezone.now())


def unpublished(ids: Iterable[uuid.UUID] | None = None):
    query = OutboxEvent.objects.filter(published_at__isnull=True)
    return query.filter(pk__in=list(ids)) if ids is not None else query
