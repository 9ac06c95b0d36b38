"""Webhooks to billers when a payment to them is posted or reversed: signed, sent by Celery, retried with
exponential backoff and jitter (config.retries.WEBHOOK), every attempt logged.

Where events come from: every payment and reversal writes an outbox event in its own transaction
(billing.outbox); the outbox relay hands the events to `deliveries_for_events`, which writes one
delivery per event for a biller with a webhook and queues it after commit. Nothing scans payments.

Sending: a delivery is claimed (status `sending`, a lease of WEBHOOK_LEASE_SECONDS, the attempt counted)
in a transaction BEFORE the HTTP call, so a retry, the relay and beat's sweep of due deliveries never send
it side by side. A sender that dies after its claim leaves a lease that runs out; the delivery is then due
again and sent again. Delivery is therefore at least once: receivers de-duplicate on the event id.

Each POST carries the JSON event and the headers::

    X-BillPay-Event:      payment.posted | payment.reversed
    X-BillPay-Event-Id:   the outbox event's UUID, the same on every attempt (also the body's "id")
    X-BillPay-Timestamp:  seconds since 1970-01-01 UTC
    X-BillPay-Signature:  hex HMAC-SHA256(webhook secret, timestamp + "." + body)
"""

import datetime
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from api import credentials, locks, signing
from api.choices import BILLER_EVENTS, PARTNER_EVENTS, DeliveryStatus
from api.models import BillerApiAccess, Partner, WebhookAttempt, WebhookDelivery
from billing import failed_tasks, plain_sql
from billing.models import OutboxEvent
from config import retries

DELIVER_TASK = "api.tasks.deliver_webhook"
# What a sender may claim (`sending` only once its lease has run out).
CLAIMABLE = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING, DeliveryStatus.SENDING)

logger = logging.getLogger(__name__)


def event_body(event: OutboxEvent) -> dict:
    """What the receiver gets: the event's stable id, its type, when it happened, and the payment."""
    return {
        "id": str(event.id),
        "event": event.type,
        "created_at": event.created_at.isoformat(),
        "payment": event.payload,
    }


def deliveries_for_events(events: Sequence[OutboxEvent]) -> list[int]:
    """The outbox consumer (inside the relay's transaction): one delivery per payment event for each biller
    with a webhook, written once however often the relay offers the event (unique event id), and queued
    after commit."""
    wanted = [event for event in events if event.type in BILLER_EVENTS]
    codes = {event.payload.get("biller_code") for event in wanted}
    if not codes:
        return []
    accesses = {
        access.biller.code: access
        for access in BillerApiAccess.objects.filter(enabled=True, biller__code__in=codes)
        .exclude(webhook_url="")
        .select_related("biller")
    }
    now = timezone.now()
    rows = [
        WebhookDelivery(
            biller_access=accesses[event.payload["biller_code"]],
            payment_id=int(event.aggregate_id),
            event=event.type,
            event_id=str(event.id),
            payload=event_body(event),
            next_attempt_at=now,
        )
        for event in wanted
        if event.payload.get("biller_code") in accesses
    ]
    return write_deliveries(rows)


def write_deliveries(rows: Sequence[WebhookDelivery]) -> list[int]:
    """Write new deliveries once each (a delivery already written for its event id is left alone) and
    queue the ones still waiting after commit."""
    if not rows:
        return []
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    ids = list(
        WebhookDelivery.objects.filter(
            event_id__in=[row.event_id for row in rows], status=DeliveryStatus.PENDING
        ).values_list("pk", flat=True)
    )
    if ids:
        transaction.on_commit(lambda: _queue(ids))
    return ids


def partner_deliveries_for_events(events: Sequence[OutboxEvent]) -> list[int]:
    """The outbox consumer of partner events: one delivery per event to the partner named in it (the one
    that raised the dispute, or whose customer's auto-pay mandate it is), if it has a webhook. The body
    carries the dispute or the mandate's debit (docs/partner-api.md "Disputes", "Auto-pay mandates")."""
    wanted = [event for event in events if event.type in PARTNER_EVENTS and event.payload.get("partner_code")]
    partners = {
        partner.code: partner
        for partner in Partner.objects.filter(
            code__in={event.payload["partner_code"] for event in wanted}
        ).exclude(webhook_url="")
    }
    now = timezone.now()
    rows = [
        WebhookDelivery(
            partner=partners[event.payload["partner_code"]],
            event=event.type,
            event_id=str(event.id),
            payload={
                "id": str(event.id),
                "event": event.type,
                "created_at": event.created_at.isoformat(),
                # "dispute" for dispute.*, "mandate_debit" for mandate.notice and mandate.debit
                _PARTNER_BODY_KEY.get(event.type.split(".")[0], "data"): event.payload,
            },
            next_attempt_at=now,
        )
        for event in wanted
        if event.payload["partner_code"] in partners
    ]
    return write_deliveries(rows)


_PARTNER_BODY_KEY = {"dispute": "dispute", "mandate": "mandate_debit"}


def _queue(delivery_ids: list[int]) -> None:
    from api.tasks import deliver_webhook

    for delivery_id in delivery_ids:
        deliver_webhook.delay(delivery_id)


def retry_failed_delivery(failed_task, actor) -> None:
    """The FailedTask retry action of a webhook (billing.failed_tasks): a manual redelivery."""
    from api.tasks import deliver_webhook

    (delivery_id,) = failed_task.args
    transaction.on_commit(lambda: deliver_webhook.delay(delivery_id, manual=True))


def send(delivery: WebhookDelivery) -> tuple[int | None, str, int]:
    """POST the event; (HTTP status or None, error text, milliseconds). Never inside a transaction."""
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "BillPay-Webhooks/1",
        "X-BillPay-Event": delivery.event,
        "X-BillPay-Event-Id": delivery.event_id,
        "X-BillPay-Timestamp": timestamp,
    }
    secret = credentials.delivery_secret(delivery)
    if delivery.credential_id:  # a partner's hosted checkout: signed with the key that signed its link
        headers[signing.KEY_HEADER] = delivery.credential.key_id
    headers["X-BillPay-Signature"] = signing.webhook_signature(secret, timestamp=timestamp, body=body)
    request = urllib.request.Request(delivery.url, data=body, method="POST", headers=headers)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            status, error = response.status, ""
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        status, error = None, str(getattr(exc, "reason", exc))[:300]
    return status, error, int((time.monotonic() - started) * 1000)


def claim(delivery_id: int, *, manual: bool = False) -> tuple[WebhookDelivery, int] | None:
    """Take the delivery for one send: (delivery, the attempt number that is ours), or None when it is not
    due, already delivered (unless sent again by hand), or claimed by a sender whose lease still runs."""
    now = timezone.now()
    with transaction.atomic():
        delivery = locks.lock_webhook_delivery(delivery_id)
        if delivery is None:
            return None
        leased = delivery.status == DeliveryStatus.SENDING and (delivery.lease_until or now) > now
        if leased:
            return None
        if not manual:
            if delivery.status not in CLAIMABLE:
                return None
            if delivery.next_attempt_at and delivery.next_attempt_at > now:
                return None
        delivery.status = DeliveryStatus.SENDING
        delivery.lease_until = now + datetime.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
        delivery.attempts += 1
        delivery.save(update_fields=["status", "lease_until", "attempts"])
    return delivery, delivery.attempts


def attempt(delivery_id: int, *, manual: bool = False) -> WebhookDelivery | None:
    """Claim the delivery, send it, record the attempt and what comes next."""
    claimed = claim(delivery_id, manual=manual)
    if claimed is None:
        return WebhookDelivery.objects.filter(pk=delivery_id).first()
    delivery, number = claimed
    status, error, duration = send(delivery)
    return record_result(delivery_id, number, status=status, error=error, duration=duration, manual=manual)


def record_result(
    delivery_id: int, number: int, *, status: int | None, error: str, duration: int, manual: bool = False
) -> WebhookDelivery:
    ok = status is not None and 200 <= status < 300
    countdown = None
    gave_up = False
    with transaction.atomic():
        delivery = locks.lock_webhook_delivery(delivery_id)
        WebhookAttempt.objects.create(
            delivery=delivery, status_code=status, error=error, duration_ms=duration, manual=manual
        )
        if delivery.status != DeliveryStatus.SENDING or delivery.attempts != number:
            return delivery  # our lease ran out and another sender took over: its result counts
        delivery.last_status_code = status
        delivery.last_error = error if not ok else ""
        delivery.lease_until = None
        if ok:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = timezone.now()
            delivery.next_attempt_at = None
        elif delivery.delivered_at is not None:
            delivery.status = DeliveryStatus.DELIVERED  # a manual redelivery of a delivered event failed
        elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS and not manual:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
            gave_up = True
        else:
            delivery.status = DeliveryStatus.RETRYING
            countdown = retries.WEBHOOK.delay(delivery.attempts)
            delivery.next_attempt_at = timezone.now() + datetime.timedelta(seconds=countdown)
        delivery.save()
    if gave_up:
        failed_tasks.record_failure(
            task_name=DELIVER_TASK, args=[delivery_id], error=error or f"HTTP {status}", attempts=number
        )
    if countdown is not None and not settings.CELERY_TASK_ALWAYS_EAGER:
        from api.tasks import deliver_webhook

        deliver_webhook.apply_async((delivery.pk,), countdown=countdown)
    return delivery


def due_deliveries(now=None) -> list[int]:
    """Deliveries to send now: due retries, and claims whose lease ran out (their sender died)."""
    from django.db.models import Q

    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(
            Q(status__in=(DeliveryStatus.PENDING, DeliveryStatus.RETRYING), next_attempt_at__lte=now)
            | Q(status=DeliveryStatus.SENDING, lease_until__lte=now)
        ).values_list("pk", flat=True)[:500]
    )


# What the purge may delete: deliveries that are done, delivered or given up on. Never one still waiting,
# retrying or being sent, however old.
FINISHED = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)

# One batch of the purge in one statement: the oldest finished deliveries made before the cutoff, from
# `after` on, in the order of the created_at index; deleted with their attempts (the attempts' foreign key
# has no ON DELETE CASCADE in the database, only in Django, and is checked at commit); how many
# deliveries, and the last one's time, where the next batch begins. The DELETE asks the status again: a
# delivery sent again by hand after the batch was chosen is `sending` by then, and stays.
_PURGE_BATCH_SQL = f"""
WITH doomed AS MATERIALIZED (
    SELECT id, created_at FROM api_webhookdelivery
    WHERE created_at >= %(after)s AND created_at < %(cutoff)s AND status IN ({plain_sql.constants(FINISHED)})
    ORDER BY created_at
    LIMIT %(limit)s
), gone AS (
    DELETE FROM api_webhookdelivery
    WHERE id IN (SELECT id FROM doomed) AND status IN ({plain_sql.constants(FINISHED)})
    RETURNING id
), attempts AS (
    DELETE FROM api_webhookattempt WHERE delivery_id IN (SELECT id FROM gone)
)
SELECT (SELECT count(*) FROM gone), (SELECT max(created_at) FROM doomed)
"""


def purge_finished(*, now: datetime.datetime | None = None, max_batches: int = 100) -> int:
    """Delete the deliveries made more than WEBHOOK_RETENTION_DAYS ago (0: keep them all) that were delivered
    or given up on, with their attempts; returns how many deliveries.

    Why: one delivery a subscribed event, one event a payment: kept for ever they would grow with every
    payment. A finished delivery is only a log: the receiver has the event; the payment, the ledger, the
    dispute or the checkout is the record, and no row points at a delivery but its attempts. A delivery
    still waiting, retrying or being sent is never deleted, however old.

    Run hourly (api.tasks.purge_webhook_deliveries), 10,000 a statement, each its own short transaction
    (plain_sql.delete_in_batches), through the created_at index every delivery already has: no index of its
    own (one on the status would cost every delivery's every attempt an entry)."""
    days = settings.WEBHOOK_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    purged = plain_sql.delete_in_batches(
        _PURGE_BATCH_SQL, after=plain_sql.EARLIEST, cutoff=cutoff, max_batches=max_batches
    )
    if purged:
        logger.info(
            "webhooks: deleted %s deliveries, with their attempts, made before %s", purged, cutoff.isoformat()
        )
    return purged
