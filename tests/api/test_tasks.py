"""The periodic tasks of the open APIs: scheduled, and doing what they say."""

import datetime

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api import idempotency, tasks, webhooks
from api.choices import DeliveryStatus
from api.models import IdempotencyRecord, WebhookDelivery
from billing import outbox, plain_sql
from billing.choices import Channel
from billing.services import post_payment
from config.celery import app
from tests.api.conftest import Receiver

pytestmark = pytest.mark.django_db


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


@pytest.mark.parametrize(
    ("name", "task"),
    [
        ("api-purge-idempotency-records", "api.tasks.purge_idempotency_records"),
    ],
)
def test_the_purges_run_hourly_on_the_batch_queue(settings, name, task):
    assert settings.CELERY_BEAT_SCHEDULE[name] == {"task": task, "schedule": 3600.0}
    assert settings.CELERY_TASK_ROUTES[task] == {"queue": "batch"}
