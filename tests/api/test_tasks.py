"""The periodic tasks of the open APIs: scheduled, and doing what they say."""

import datetime

import pytest
from django.conf import settings
from django.utils import timezone

from api import idempotency, tasks, webhooks
from api.choices import DeliveryStatus
from api.models import IdempotencyRecord, WebhookDelivery
from billing import outbox
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
