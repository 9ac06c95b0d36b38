"""Idempotency-Key: the first answer to a request is kept and replayed for every retry of it.

One implementation for both APIs. The record is inserted (or found) and locked at the start of the
request, in the same transaction as the work itself, so concurrent retries with one key queue on that row
and each gets the answer the first one stored. A request that fails (a refusal, a crash) rolls its record
back with everything else: a refused request stores nothing, and a corrected retry with the same key goes
through — the posting service's rule too. The same key with a different request is refused with 409.

A request that posts one payment (`run_idempotent_posting`) is first tried without a record of its own: the
payment's statement writes the record with its answer (`KeptAnswer`), two statements fewer on the partner
API's hottest path. Whatever that try cannot answer as a new payment (a retry, a refusal while the key is
known, a race on the key) goes the way above.
"""

import datetime
import hashlib
import json
import logging
import re
from collections.abc import Callable
from typing import NamedTuple

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, OperationalError, connection, transaction
from django.http.request import HttpHeaders
from django.utils import timezone
from rest_framework.response import Response

from api import locks
from api.exceptions import ApiError
from api.models import IdempotencyRecord
from billing import plain_sql, posting, posting_desk
from billing.choices import PaymentMode
from billing.exceptions import BillingError
from billing.models import Payment
from billing.plain_sql import prepared_cursor
from billing.services import PostingResult

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
KEY_RE = re.compile(r"^[\x21-\x7e]{1,100}$")
_META_KEY = HttpHeaders.to_wsgi_name(HEADER)

logger = logging.getLogger(__name__)


def key_from(request, *, required: bool) -> str | None:
    key = request.META.get(_META_KEY)  # `request.headers.get(HEADER)`, without building every header
    if key is None or key == "":
        if required:
            raise ApiError("idempotency_key_required")
        return None
    if not KEY_RE.fullmatch(key):
        raise ApiError("idempotency_key_invalid")
    return key


def request_hash(request) -> str:
    """Method, path and the body's JSON with sorted keys: the same request sent twice hashes the same,
    however its JSON was spaced."""
    canonical = json.dumps(request.data, sort_keys=True, cls=DjangoJSONEncoder, ensure_ascii=False)
    text = "\n".join([request.method, request.path, canonical])
    return hashlib.sha256(text.encode()).hexdigest()


def run_idempotent(request, *, scope: str, key: str | None, handler: Callable[[], Response]) -> Response:
    """The handler's answer, in one transaction with the key's record; run once more from its start when
    PostgreSQL ends a deadlock by aborting it (as a client's retry would be, at once)."""
    try:
        return _run_idempotent_once(request, scope=scope, key=key, handler=handler)
    except OperationalError as error:
        if not plain_sql.is_deadlock(error):
            raise
        logger.info("idempotency: the request's transaction was ended by a deadlock; running it again")
        return _run_idempotent_once(request, scope=scope, key=key, handler=handler)


def _run_idempotent_once(
    request, *, scope: str, key: str | None, handler: Callable[[], Response]
) -> Response:
    if key is None:
        with transaction.atomic():
            return handler()
    fingerprint = request_hash(request)
    with transaction.atomic():
        record = _claim(scope, key, fingerprint)
        if record.request_hash != fingerprint:
            raise ApiError("idempotency_key_reused", key=key)
        if record.status_code is not None:
            return Response(record.response_body, status=record.status_code, headers={REPLAY_HEADER: "true"})
        response = handler()
        # The transaction's last statement: it commits it too (one round trip less, plain_sql).
        plain_sql.execute_and_commit(
            _ANSWER_SQL, [response.status_code, json.dumps(response.data, cls=DjangoJSONEncoder), record.pk]
        )
    response[REPLAY_HEADER] = "false"
    return response


def run_idempotent_posting(
    request,
    *,
    scope: str,
    key: str,
    post: Callable[["KeptAnswer | None"], PostingResult],
    answer: Callable[[Payment], dict],
    status: int,
) -> Response:
    """`run_idempotent` for a request that posts one payment: `post(kept)` posts it, `answer(payment)` is
    the body answered with `status` for it.

    First `post` is called outside the request's transaction (its posting is its own, committed by the
    payment's statement; a savepoint inside a caller's) with a `KeptAnswer`, which that statement writes
    as the request's record. When it did, that is the answer. Otherwise the request goes through
    `run_idempotent`, which claims the key first, as if the try had not been: a replay (the key's payment
    was there), an answer that could not be kept with the payment (a top-up's card write), a race lost on
    the key's record, a deadlock with a request that claimed it. A refusal is answered as it is unless the
    key has a record (an earlier request's answer to replay, or a 409): nothing was written."""

    def claiming_first() -> Response:
        return run_idempotent(
            request, scope=scope, key=key, handler=lambda: Response(answer(post(None).payment), status=status)
        )

    if posting_desk.is_configured():
        return claiming_first()  # a desk's statement writes no caller's row
    kept = KeptAnswer(scope=scope, key=key, request_hash=request_hash(request), answer=answer, status=status)
    try:
        result = post(kept)
    except IntegrityError:
        result = None  # the key's record was written first by another request: it is replayed (or a 409)
    except OperationalError as error:
        # Another request with the key (a batch's) claimed it first and waits on a row this posting wrote
        # (a ledger account it opened): PostgreSQL ended the wait by aborting this try.
        if not plain_sql.is_deadlock(error):
            raise
        result = None
    except BillingError:
        if not _has_record(scope, key):
            raise
        result = None
    if result is not None and not result.replayed and posting.kept_row(result.payment) is kept:
        return Response(kept.body, status=status, headers={REPLAY_HEADER: "false"})
    return claiming_first()


class KeptAnswer:
    """The request's record with its answer, written by the statement of the payment it posted
    (billing.posting.KeptRow). `body` is the answer, once the payment's statement has been given it."""

    cte_sql = """
    INSERT INTO api_idempotencyrecord (scope, key, request_hash, created_at, status_code, response_body)
    VALUES (%(kept_scope)s, %(kept_key)s, %(kept_request_hash)s, %(changed_at)s, %(kept_status)s,
        %(kept_body)s::jsonb)"""

    def __init__(
        self, *, scope: str, key: str, request_hash: str, answer: Callable[[Payment], dict], status: int
    ):
        self.scope, self.key, self.request_hash = scope, key, request_hash
        self.answer, self.status = answer, status
        self.body: dict | None = None

    def params(self, payment: Payment) -> dict | None:
        if payment.biller.payment_mode == PaymentMode.PREPAID:
            # A top-up's answer names its card write's hold (presenters.card_write reads it by the payment),
            # opened after the payment: it is answered through the claim (`run_idempotent_posting`).
            return None
        self.body = self.answer(payment)
        return {
            "kept_scope": self.scope,
            "kept_key": self.key,
            "kept_request_hash": self.request_hash,
            "kept_status": self.status,
            "kept_body": json.dumps(self.body, cls=DjangoJSONEncoder),
        }


_HAS_RECORD_SQL = "SELECT 1 FROM api_idempotencyrecord WHERE scope = %s AND key = %s"


def _has_record(scope: str, key: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_HAS_RECORD_SQL, [scope, key])
        return cursor.fetchone() is not None


# The claim and the answer kept for retries: plain statements (the ORM update cost more Python than its
# round trip), prepared once per connection as the posting's are (billing.plain_sql): PostgreSQL then
# neither parses nor plans them again for every payment.
_ANSWER_SQL = "UPDATE api_idempotencyrecord SET status_code = %s, response_body = %s::jsonb WHERE id = %s"

_CLAIM_SQL = """
INSERT INTO api_idempotencyrecord (scope, key, request_hash, created_at) VALUES (%s, %s, %s, %s)
ON CONFLICT (scope, key) DO NOTHING RETURNING id
"""


class _NewRecord(NamedTuple):
    """What `run_idempotent` reads of a record it has just inserted (no model instance built for it)."""

    pk: int
    request_hash: str
    status_code: None = None
    response_body: None = None


def _claim(scope: str, key: str, fingerprint: str) -> IdempotencyRecord | _NewRecord:
    """Our new record, locked by our insert; or, when the key is known, the existing one, locked (we wait
    here while another request with the key is still working, then see what it stored)."""
    with prepared_cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [scope, key, fingerprint, timezone.now()])
        row = cursor.fetchone()
    if row is not None:
        return _NewRecord(pk=row[0], request_hash=fingerprint)
    return locks.lock_idempotency_record(scope=scope, key=key)


# One batch of the purge in one statement: the oldest records made before the cutoff, from `after` on, in
# the order of the created_at index; deleted; how many, and the last one's time, where the next batch
# begins (`>=`: records of that very microsecond the limit left out come first in the next batch).
_PURGE_BATCH_SQL = """
WITH doomed AS MATERIALIZED (
    SELECT id, created_at FROM api_idempotencyrecord
    WHERE created_at >= %(after)s AND created_at < %(cutoff)s
    ORDER BY created_at
    LIMIT %(limit)s
), gone AS (
    DELETE FROM api_idempotencyrecord WHERE id IN (SELECT id FROM doomed) RETURNING id
)
SELECT (SELECT count(*) FROM gone), (SELECT max(created_at) FROM doomed)
"""


def purge_expired(now: datetime.datetime | None = None, *, max_batches: int = 100) -> int:
    """Forget records older than the retention: after that a key may be used again. Returns how many.

    Run hourly (api.tasks.purge_idempotency_records): at 60 partner payments a second an hour's records
    are 216,000 rows, deleted 10,000 a statement, each its own short transaction, never read into Python
    (plain_sql.delete_in_batches). A record in use (a retry holding its lock) is waited for, then deleted."""
    cutoff = (now or timezone.now()) - datetime.timedelta(hours=settings.API_IDEMPOTENCY_RETENTION_HOURS)
    deleted = plain_sql.delete_in_batches(
        _PURGE_BATCH_SQL, after=plain_sql.EARLIEST, cutoff=cutoff, max_batches=max_batches
    )
    if deleted:
        logger.info("idempotency: deleted %s records made before %s", deleted, cutoff.isoformat())
    return deleted
