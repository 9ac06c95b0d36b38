"""The periodic tasks of the open APIs: scheduled, and doing what they say."""

import datetime
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api import idempotency, tasks, webhooks
from api.choices import DeliveryStatus, WebhookEvent
from api.models import IdempotencyRecord, WebhookAttempt, WebhookDelivery
from billing import outbox, plain_sql
from billing.choices import Channel
from billing.services import post_payment
from config.celery import app
from tests.api.conftest import Receiver

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def test_every_scheduled_task_is_registered():
    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks


def test_old_idempotency_records_are_forgotten_and_recent_ones_kept():
    now = timezone.now()
    IdempotencyRecord.objects.create(
        scope="partner:A", key="old", request_hash="h", created_at=now - datetime.timedelta(hours=73)
    )
    IdempotencyRecord.objects.create(
        scope="partner:A", key="new", request_hash="h", created_at=now - datetime.timedelta(hours=1)
    )
    assert idempotency.purge_expired(now) == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_the_retry_task_sends_what_is_due(account, bill, hooked):
    Receiver.answer = 500
    payment = post_payment(
        channel=Channel.ONLINE,
        idempotency_key="t1",
        biller_code="WATER01",
        account_no="31005678",
        amount="128.40",
    ).payment
    outbox.relay()
    delivery = WebhookDelivery.objects.get(payment=payment)
    webhooks.attempt(delivery.pk)
    assert tasks.retry_due_webhooks() == 0  # not due yet: the backoff holds it back
    Receiver.answer = 200
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert tasks.retry_due_webhooks() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2


# --- retention: Idempotency-Key records (idempotency.purge_expired) ----------------------------------------


def records_made(hours_ago: float, *keys: str, now: datetime.datetime) -> None:
    made = now - datetime.timedelta(hours=hours_ago)
    for key in keys:
        IdempotencyRecord.objects.create(scope="partner:A", key=key, request_hash="h", created_at=made)


def test_the_idempotency_purge_deletes_the_expired_records_batch_after_batch(monkeypatch):
    monkeypatch.setattr(plain_sql, "PURGE_BATCH", 2)
    now = timezone.now()
    records_made(100, "old-1", now=now)
    records_made(80, "old-2", "old-3", "old-4", now=now)  # one microsecond: a batch ends inside it
    records_made(73, "old-5", now=now)
    records_made(71, "new-1", now=now)
    records_made(1, "new-2", now=now)
    with CaptureQueriesContext(connection) as queries:
        assert idempotency.purge_expired(now) == 5
    deletes = [q for q in queries.captured_queries if "DELETE FROM api_idempotencyrecord" in q["sql"]]
    assert len(deletes) == 3  # 2 + 2 + 1, each one statement
    assert sorted(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new-1", "new-2"]


def test_the_idempotency_purge_stops_after_its_last_batch_and_the_next_run_goes_on(monkeypatch):
    monkeypatch.setattr(plain_sql, "PURGE_BATCH", 2)
    now = timezone.now()
    records_made(100, "old-1", "old-2", "old-3", "old-4", "old-5", now=now)
    assert idempotency.purge_expired(now, max_batches=2) == 4
    assert IdempotencyRecord.objects.count() == 1
    assert idempotency.purge_expired(now, max_batches=2) == 1
    assert not IdempotencyRecord.objects.exists()


# --- retention: webhook deliveries (webhooks.purge_finished) ----------------------------------------------

NOW = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.UTC)


def delivery_made(partner, days_ago: float, status: str, *, attempts: int = 0, now=NOW) -> WebhookDelivery:
    """A partner's delivery made `days_ago` before `now`, with `attempts` rows in its log."""
    delivery = WebhookDelivery.objects.create(
        partner=partner,
        event=WebhookEvent.DISPUTE_RESOLVED,
        event_id=str(uuid.uuid4()),
        payload={},
        status=status,
        attempts=attempts,
        created_at=now - datetime.timedelta(days=days_ago),
    )
    for _ in range(attempts):
        WebhookAttempt.objects.create(delivery=delivery, status_code=500, error="HTTP 500")
    return delivery


def test_old_delivered_and_given_up_deliveries_are_deleted_with_their_attempts(settings, partner):
    settings.WEBHOOK_RETENTION_DAYS = 90
    delivered = delivery_made(partner, 91, DeliveryStatus.DELIVERED, attempts=2)
    failed = delivery_made(partner, 200, DeliveryStatus.FAILED, attempts=8)
    kept = delivery_made(partner, 10, DeliveryStatus.DELIVERED, attempts=1)

    assert webhooks.purge_finished(now=NOW) == 2

    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [kept.pk]
    assert set(WebhookAttempt.objects.values_list("delivery_id", flat=True)) == {kept.pk}
    assert not WebhookAttempt.objects.filter(delivery_id__in=[delivered.pk, failed.pk]).exists()
    assert webhooks.purge_finished(now=NOW) == 0  # a second run finds nothing more


def test_deliveries_still_waiting_retrying_or_being_sent_stay_however_old(settings, partner):
    settings.WEBHOOK_RETENTION_DAYS = 90
    unfinished = [
        delivery_made(partner, 400, DeliveryStatus.PENDING).pk,
        delivery_made(partner, 400, DeliveryStatus.RETRYING, attempts=3).pk,
        delivery_made(partner, 400, DeliveryStatus.SENDING, attempts=1).pk,
    ]
    assert webhooks.purge_finished(now=NOW) == 0
    assert sorted(WebhookDelivery.objects.values_list("pk", flat=True)) == sorted(unfinished)
    assert WebhookAttempt.objects.count() == 4


def test_deliveries_made_within_the_retention_stay(settings, partner):
    settings.WEBHOOK_RETENTION_DAYS = 90
    delivery_made(partner, 89, DeliveryStatus.DELIVERED, attempts=1)
    delivery_made(partner, 0, DeliveryStatus.FAILED, attempts=8)
    assert webhooks.purge_finished(now=NOW) == 0
    assert WebhookDelivery.objects.count() == 2 and WebhookAttempt.objects.count() == 9


def test_a_webhook_retention_of_zero_keeps_every_delivery(settings, partner):
    settings.WEBHOOK_RETENTION_DAYS = 0
    delivery_made(partner, 1000, DeliveryStatus.DELIVERED, attempts=1)
    assert webhooks.purge_finished(now=NOW) == 0
    assert WebhookDelivery.objects.count() == 1 and WebhookAttempt.objects.count() == 1


def test_the_delivery_purge_deletes_batch_after_batch(settings, partner, monkeypatch):
    settings.WEBHOOK_RETENTION_DAYS = 30
    monkeypatch.setattr(plain_sql, "PURGE_BATCH", 2)
    for days in range(40, 45):
        delivery_made(partner, days, DeliveryStatus.DELIVERED, attempts=1)
    waiting = delivery_made(partner, 42, DeliveryStatus.RETRYING, attempts=2)
    with CaptureQueriesContext(connection) as queries:
        assert webhooks.purge_finished(now=NOW) == 5
    deletes = [q for q in queries.captured_queries if "DELETE FROM api_webhookdelivery" in q["sql"]]
    assert len(deletes) == 3  # 2 + 2 + 1, each with its attempts in its own short transaction
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [waiting.pk]
    assert WebhookAttempt.objects.count() == 2


def test_a_negative_webhook_retention_stops_the_start():
    environment = {**os.environ, "WEBHOOK_RETENTION_DAYS": "-1", "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: WEBHOOK_RETENTION_DAYS must be 0 (keep every delivery)" in result.stderr


@pytest.mark.parametrize(
    ("name", "task"),
    [
        ("api-purge-webhook-deliveries", "api.tasks.purge_webhook_deliveries"),
        ("api-purge-idempotency-records", "api.tasks.purge_idempotency_records"),
    ],
)
def test_the_purges_run_hourly_on_the_batch_queue(settings, name, task):
    assert settings.CELERY_BEAT_SCHEDULE[name] == {"task": task, "schedule": 3600.0}
    assert settings.CELERY_TASK_ROUTES[task] == {"queue": "batch"}


def test_the_delivery_purge_task_deletes_the_old_finished_deliveries(settings, partner):
    settings.WEBHOOK_RETENTION_DAYS = 90
    now = timezone.now()  # the task reads the clock
    delivery_made(partner, 365, DeliveryStatus.DELIVERED, attempts=1, now=now)
    kept = delivery_made(partner, 0, DeliveryStatus.DELIVERED, now=now)
    assert tasks.purge_webhook_deliveries.apply().get() == 1
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not WebhookAttempt.objects.exists()
