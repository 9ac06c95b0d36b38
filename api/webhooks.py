"""Webhooks to billers when a payment to them is posted or reversed: signed, sent by Celery after commit,
retried with exponential backoff, every attempt logged.

Each POST carries the JSON event and the headers::

    X-BillPay-Event:      payment.posted | payment.reversed
    X-BillPay-Event-Id:   unique per event: a receiver drops an id it has seen (delivery is at least once)
    X-BillPay-Timestamp:  seconds since 1970-01-01 UTC
    X-BillPay-Signature:  hex HMAC-SHA256(webhook secret, timestamp + "." + body)
"""

import datetime
import json
import secrets
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from api import credentials, locks, signing
from api.choices import DeliveryStatus
from api.models import BillerApiAccess, WebhookAttempt, WebhookDelivery
from billing.models import Payment

WEBHOOK_BILLERS_CACHE_KEY = "api:webhook-billers"


def payment_payload(payment: Payment, event: str, event_id: str) -> dict:
    return {
        "id": event_id,
        "event": event,
        "created_at": timezone.now().isoformat(),
        "payment": {
            "receipt_no": payment.receipt_no,
            "status": payment.status,
            "channel": payment.channel,
            "biller_code": payment.biller.code,
            "account_no": payment.account.account_no if payment.account_id else "",
            "amount": f"{payment.amount:.2f}",
            "business_date": payment.business_date.isoformat(),
            "posted_at": payment.posted_at.isoformat(),
            "reversed_at": payment.reversed_at.isoformat() if payment.reversed_at else None,
            "bills": [
                {"period": a.bill.period, "amount": f"{a.amount:.2f}"}
                for a in payment.allocations.all()
                if a.bill_id is not None
            ],
        },
    }


def _billers_with_webhooks() -> frozenset[int]:
    """Which billers want webhooks, cached for a minute in the shared cache: most payments go to billers
    without one, and this spares them a query. A webhook configured meanwhile misses nothing: the
    periodic sweep (`sweep_payment_events`) queues whatever has no delivery yet, and saving a biller's API
    access in the admin forgets the cache."""
    from django.core.cache import cache

    ids = cache.get(WEBHOOK_BILLERS_CACHE_KEY)
    if ids is None:
        ids = list(
            BillerApiAccess.objects.filter(enabled=True)
            .exclude(webhook_url="")
            .values_list("biller_id", flat=True)
        )
        cache.set(WEBHOOK_BILLERS_CACHE_KEY, ids, timeout=60)
    return frozenset(ids)


def forget_webhook_billers() -> None:
    from django.core.cache import cache

    cache.delete(WEBHOOK_BILLERS_CACHE_KEY)


def payment_event(payment: Payment, event: str) -> WebhookDelivery | None:
    """Queue the event for the biller's webhook, if it has one; sent once the transaction commits."""
    if payment.biller_id not in _billers_with_webhooks():
        return None
    access = (
        BillerApiAccess.objects.filter(biller_id=payment.biller_id, enabled=True)
        .exclude(webhook_url="")
        .first()
    )
    if access is None:
        return None
    event_id = "evt_" + secrets.token_hex(12)
    delivery, created = WebhookDelivery.objects.get_or_create(
        biller_access=access,
        payment=payment,
        event=event,
        defaults={
            "event_id": event_id,
            "payload": json.loads(
                json.dumps(payment_payload(payment, event, event_id), cls=DjangoJSONEncoder)
            ),
            "next_attempt_at": timezone.now(),
        },
    )
    if created:
        from api.tasks import deliver_webhook

        transaction.on_commit(lambda: deliver_webhook.delay(delivery.pk))
    return delivery


def backoff_seconds(attempts: int) -> int:
    """30 s, 1 min, 2 min, 4 min … after the 1st, 2nd, 3rd … failure (WEBHOOK_BACKOFF_BASE_SECONDS)."""
    return settings.WEBHOOK_BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0)


def send(delivery: WebhookDelivery) -> tuple[int | None, str, int]:
    """POST the event; (HTTP status or None, error text, milliseconds). Never inside a transaction."""
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    secret = credentials.webhook_secret_for(delivery.biller_access)
    request = urllib.request.Request(
        delivery.biller_access.webhook_url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "BillPay-Webhooks/1",
            "X-BillPay-Event": delivery.event,
            "X-BillPay-Event-Id": delivery.event_id,
            "X-BillPay-Timestamp": timestamp,
            "X-BillPay-Signature": signing.webhook_signature(secret, timestamp=timestamp, body=body),
        },
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            status, error = response.status, ""
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        status, error = None, str(getattr(exc, "reason", exc))[:300]
    return status, error, int((time.monotonic() - started) * 1000)


def attempt(delivery_id: int, *, manual: bool = False) -> WebhookDelivery | None:
    """Try one delivery if it is due (or asked for by hand); log the attempt; schedule the next one."""
    delivery = WebhookDelivery.objects.select_related("biller_access__biller").filter(pk=delivery_id).first()
    if delivery is None:
        return None
    now = timezone.now()
    if not manual:
        if delivery.status not in (DeliveryStatus.PENDING, DeliveryStatus.RETRYING):
            return delivery
        if delivery.next_attempt_at and delivery.next_attempt_at > now:
            return delivery
    status, error, duration = send(delivery)
    ok = status is not None and 200 <= status < 300
    with transaction.atomic():
        delivery = locks.lock_webhook_delivery(delivery_id)
        WebhookAttempt.objects.create(
            delivery=delivery, status_code=status, error=error, duration_ms=duration, manual=manual
        )
        delivery.attempts += 1
        delivery.last_status_code = status
        delivery.last_error = error if not ok else ""
        if ok:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = timezone.now()
            delivery.next_attempt_at = None
        elif delivery.status == DeliveryStatus.DELIVERED:
            pass  # a manual redelivery of a delivered event that failed this time changes nothing
        elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS and not manual:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.status = DeliveryStatus.RETRYING
            delivery.next_attempt_at = timezone.now() + datetime.timedelta(
                seconds=backoff_seconds(delivery.attempts)
            )
        delivery.save()
    if delivery.status == DeliveryStatus.RETRYING and not settings.CELERY_TASK_ALWAYS_EAGER:
        from api.tasks import deliver_webhook

        deliver_webhook.apply_async((delivery.pk,), eta=delivery.next_attempt_at)
    return delivery


def due_deliveries(now=None) -> list[int]:
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(
            status__in=(DeliveryStatus.PENDING, DeliveryStatus.RETRYING), next_attempt_at__lte=now
        ).values_list("pk", flat=True)[:500]
    )


def sweep_payment_events(limit: int = 500) -> int:
    """Queue the events of payments posted or reversed outside the APIs (portal, counter, staff
    reversals): the posting service has no hook, so a periodic task finds what has no delivery yet.
    Events of payments older than the biller's API access are not sent."""
    from django.db.models import Exists, OuterRef

    from billing.choices import PaymentStatus

    queued = 0
    for access in BillerApiAccess.objects.filter(enabled=True).exclude(webhook_url=""):
        for event, condition in (
            ("payment.posted", {"posted_at__gte": access.created_at}),
            ("payment.reversed", {"status": PaymentStatus.REVERSED, "reversed_at__gte": access.created_at}),
        ):
            sent = WebhookDelivery.objects.filter(biller_access=access, payment=OuterRef("pk"), event=event)
            missing = (
                Payment.objects.filter(biller_id=access.biller_id, **condition)
                .exclude(Exists(sent))
                .select_related("biller", "account")
                .order_by("pk")[:limit]
            )
            for payment in missing:
                with transaction.atomic():
                    payment_event(payment, event)
                queued += 1
    return queued
