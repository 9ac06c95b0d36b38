"""The posting desk: payments that arrive one at a time, posted together.

Why: a payment costs mostly per statement and per transaction, not per decision, and `post_payments` posts
many in one transaction of three statements (docs/benchmarks.md). A partner's single payment arrives alone,
though: eight requests at once are eight transactions. A caller hands its payment to the desk instead, a
process (`manage.py run_posting_desk`, deploy/systemd/billpay-posting-desk.service) that takes whatever
requests arrived together, up to `DESK_BATCH`, posts them with `post_payments` and answers each. The answer
is `post_payments`', which is `post_payment`'s: the posted payment, a replay, or the refusal, raised in the
caller.

Nothing is lost or paid twice when anything fails, because every request carries its channel's idempotency
key: a request the desk has not answered within `POSTING_DESK_WAIT` seconds is posted by its caller
directly, and whichever of the two comes second is a replay of the same payment. With no desk running (no
heartbeat) or no `POSTING_DESK_URL`, the caller posts directly at once.

The queue is a Redis list on the platform's own Redis (never reachable from outside: requests and answers
are pickled, as Django's Redis cache pickles its values).
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import logging
import pickle
import threading
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections

from billing.exceptions import BillingError
from billing.posting import KeptRow
from billing.services import PaymentOrder, PostingResult, post_order, post_payments

logger = logging.getLogger("billpay.posting_desk")

DESK_BATCH = 32  # requests posted together at most (post_payments takes up to MAX_BATCH)
HEARTBEAT_SECONDS = 1.0  # the desk says it is alive this often
ALIVE_SECONDS = 5  # ... and is taken for dead this long after its last word
_REQUESTS = "billpay:desk:requests"
_ALIVE = "billpay:desk:alive"
_ANSWER = "billpay:desk:answer:"
_ANSWER_KEPT_SECONDS = 60  # an answer nobody took (its caller gave up) goes after this


@dataclass(frozen=True)
class _Request:
    answer_key: str
    deadline: float  # time.time() after which the caller posts it itself: the desk drops it
    channel: str
    order: PaymentOrder
    priced_on: datetime.date | None


class _DeskFailed:
    """The desk could not post a group (the database went away, a bug): its callers post directly."""


def _client():
    """One Redis client a process, on POSTING_DESK_URL; None when the desk is not configured."""
    url = settings.POSTING_DESK_URL
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        import redis

        # A Redis that does not answer must not hold a payment longer than the desk's own wait would.
        client = _clients[url] = redis.Redis.from_url(
            url, socket_timeout=settings.POSTING_DESK_WAIT + 5, socket_connect_timeout=1
        )
    return client


_clients: dict = {}
_alive_seen = {"until": 0.0}  # the desk was alive when last looked: looked again after HEARTBEAT_SECONDS


def _desk_alive(client) -> bool:
    now = time.monotonic()
    if now < _alive_seen["until"]:
        return True
    try:
        alive = bool(client.exists(_ALIVE))
    except Exception:  # Redis is down: post directly
        logger.warning("posting desk: Redis unavailable, posting directly", exc_info=True)
        return False
    if alive:
        _alive_seen["until"] = now + HEARTBEAT_SECONDS
    return alive


def post_payment_at_desk(
    *,
    channel: str,
    order: PaymentOrder,
    priced_on: datetime.date | None = None,
    savepoint: bool = True,
    kept: KeptRow | None = None,
) -> PostingResult:
    """`post_payment` of one order, through the desk when one is running (see the module's docstring);
    raises the refusal as `post_payment` would. For payments without a payer or branch, of billers whose
    bills are pushed (a live biller is asked before the payment: post it directly with its clearance).

    The desk commits the payment in its own transaction, whatever transaction the caller is in: a caller
    that rolls back after it has the answer leaves the payment posted, and its retry with the same key is
    answered as a replay (as after a crash between the commit and the answer). `savepoint` and `kept` are
    post_payment's, for when the caller posts directly (the desk writes no caller's row: `is_configured`)."""
    client = _client()
    if client is not None and _desk_alive(client):
        answer = _ask_desk(client, channel, order, priced_on)
        if isinstance(answer, BillingError):
            raise answer
        if isinstance(answer, PostingResult):
            return answer
    return post_order(channel=channel, order=order, priced_on=priced_on, savepoint=savepoint, kept=kept)


def is_configured() -> bool:
    """Whether payments may go through a desk (POSTING_DESK_URL): a caller that would keep a row of its own
    with the payment (billing.posting.KeptRow) then writes it itself, as the desk's statement cannot."""
    return bool(settings.POSTING_DESK_URL)


def _ask_desk(client, channel, order, priced_on):
    """The desk's answer, or None when it gave none in time (the caller then posts directly)."""
    wait = settings.POSTING_DESK_WAIT
    request = _Request(
        answer_key=_ANSWER + uuid.uuid4().hex,
        deadline=time.time() + wait,
        channel=channel,
        order=order,
        priced_on=priced_on,
    )
    try:
        # One round trip: the request and the wait for its answer in one pipeline (not a transaction, in
        # which BLPOP would not wait).
        pipe = client.pipeline(transaction=False)
        pipe.lpush(_REQUESTS, pickle.dumps(request, pickle.HIGHEST_PROTOCOL))
        pipe.blpop([request.answer_key], timeout=wait)
        popped = pipe.execute()[1]
    except Exception:
        logger.warning("posting desk: Redis failed mid-request, posting directly", exc_info=True)
        return None
    if popped is None:
        logger.warning(
            "posting desk: no answer in %s s for %s, posting directly", wait, order.idempotency_key
        )
        _alive_seen["until"] = 0.0
        return None
    return pickle.loads(popped[1])


# --- the desk ---------------------------------------------------------------------------------------------


def serve(*, batch: int = DESK_BATCH, stop: threading.Event | None = None) -> dict[str, int]:
    """Take requests and post them together until `stop` is set (or for ever); returns how many requests
    it took in how many batches. Several desks may run (on one Redis list, each takes its own requests);
    their batches lock accounts in one order, so they never deadlock (billing.locks)."""
    client = _client()
    if client is None:
        raise RuntimeError("POSTING_DESK_URL is not set: there is no queue to serve")
    from redis.exceptions import ConnectionError, TimeoutError

    stop = stop or threading.Event()
    said_alive = 0.0
    taken = {"requests": 0, "batches": 0}
    while not stop.is_set():
        try:
            if time.monotonic() - said_alive >= HEARTBEAT_SECONDS:
                client.set(_ALIVE, 1, ex=ALIVE_SECONDS)
                said_alive = time.monotonic()
            popped = client.brpop([_REQUESTS], timeout=1)
            if popped is None:
                continue
            messages = [popped[1], *((client.rpop(_REQUESTS, batch - 1) if batch > 1 else None) or [])]
            taken["requests"] += len(messages)
            taken["batches"] += 1
            take_requests([request for request in map(_request_from, messages) if request], client)
        except (ConnectionError, TimeoutError):
            # Redis went away: the callers of the batch in hand post directly; wait for it to come back.
            logger.warning("posting desk: Redis unavailable; trying again in 1 s", exc_info=True)
            said_alive = 0.0
            stop.wait(1)
    with contextlib.suppress(ConnectionError, TimeoutError):
        client.delete(_ALIVE)
    return taken


def _request_from(message: bytes) -> _Request | None:
    """A request as a caller handed it, or None (logged) for anything else on the list: its sender, if
    any, posts directly when no answer comes."""
    try:
        request = pickle.loads(message)
    except Exception:
        request = None
    if isinstance(request, _Request):
        return request
    logger.error("posting desk: dropped a message that is not a payment request (%s bytes)", len(message))
    return None


def take_requests(requests: list[_Request], client) -> None:
    """Post the requests that arrived together, one `post_payments` per channel and pricing day, and answer
    each. A request past its deadline is dropped: its caller posts it itself."""
    now = time.time()
    current = [request for request in requests if request.deadline > now]
    answers = []
    for _, group in itertools.groupby(sorted(current, key=_batch_key), key=_batch_key):
        group = list(group)
        channel, priced_on = group[0].channel, group[0].priced_on
        close_old_connections()
        try:
            results = post_payments(channel=channel, orders=[r.order for r in group], priced_on=priced_on)
        except Exception:
            logger.exception("posting desk: a batch of %s failed; its callers post directly", len(group))
            results = [_DeskFailed()] * len(group)
        answers += zip(group, results, strict=True)
    pipe = client.pipeline(transaction=False)
    for request, result in answers:
        pipe.lpush(request.answer_key, pickle.dumps(result, pickle.HIGHEST_PROTOCOL))
        pipe.expire(request.answer_key, _ANSWER_KEPT_SECONDS)
    pipe.execute()


def _batch_key(request: _Request):
    """Requests posted together share a channel and a pricing day (post_payments takes one of each); the
    sort keeps their order of arrival within a batch."""
    return (request.channel, request.priced_on or datetime.date.min)


# --- for the benchmarks and tests that start desks of their own ---------------------------------------------


def empty_queue() -> None:
    """Drop every waiting request and the heartbeat: a fresh start for a benchmark's or a test's desks."""
    _client().delete(_REQUESTS, _ALIVE)


def wait_until_serving(timeout: float, *, given_up=lambda: False) -> bool:
    """Whether a desk says it is alive within `timeout` seconds; `given_up()` coming true (the desk's
    process died) ends the wait sooner."""
    client = _client()
    deadline = time.monotonic() + timeout
    while not client.exists(_ALIVE):
        if time.monotonic() > deadline or given_up():
            return False
        time.sleep(0.01)
    return True
