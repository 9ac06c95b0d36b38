"""Webhooks through the outbox with a real Celery worker (Redis) and a local HTTP receiver: the guide's
example receiver (docs/examples/webhook_receiver.py), which de-duplicates on the event id.

Each event is sent once however many relays race; a delivery is claimed before it is sent, so two senders
never both send it; a sender that dies between its claim and the send is replaced once its lease runs out;
and what is sent twice on purpose (a manual redelivery) the receiver handles once."""

import datetime
import http.server
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from api import credentials, services, tasks, webhooks
from api.choices import DeliveryStatus
from api.models import WebhookAttempt, WebhookDelivery
from billing import outbox
from billing.choices import AmountRule
from billing.models import OutboxEvent
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory
from tests.support import load_file_module, pay

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "webhook_receiver.py"


def load_example():
    return load_file_module(EXAMPLE, "webhook_receiver_example")


class LocalReceiver:
    """The example receiver on a free port, counting every POST it gets by event id (before de-dup)."""

    def __init__(self, secret: str):
        example = load_example()
        self.store = example.Store()
        self.raw: Counter = Counter()
        base = example.make_handler(secret, self.store)
        raw = self.raw

        class Counting(base):
            def do_POST(self):
                raw[self.headers.get("X-BillPay-Event-Id")] += 1
                super().do_POST()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/billpay/hook"

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while sum(self.raw.values()) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooked_biller(admin_user):
    biller = BillerFactory(code="WATER01", amount_rule=AmountRule.EXACT_DOWN)
    access = services.ensure_biller_api_access(biller=biller, actor=admin_user)
    receiver = LocalReceiver(credentials.webhook_secret_for(access))
    access.webhook_url = receiver.url
    access.save()
    yield biller, receiver
    receiver.close()


def wait_until(predicate, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_relays_racing_a_worker_send_each_event_once(hooked_biller, real_worker):
    biller, receiver = hooked_biller
    account = CustomerAccountFactory(biller=biller)
    BillFactory(account=account, amount_due=Decimal("1000.00"))
    stop = threading.Event()

    def relay_in_a_loop():
        try:
            while not stop.is_set():
                outbox.relay(batch_size=3)
                time.sleep(0.01)
        finally:
            connection.close()

    racers = [threading.Thread(target=relay_in_a_loop) for _ in range(2)]
    for racer in racers:
        racer.start()
    try:
        for n in range(20):  # each commit also queues the relay task for the worker
            pay(account, "1.00", key=f"race-{n}")
        receiver.wait_for(20)
    finally:
        stop.set()
        for racer in racers:
            racer.join(30)
    time.sleep(1)  # anything sent twice would have arrived by now
    event_ids = {str(pk) for pk in OutboxEvent.objects.values_list("pk", flat=True)}
    assert len(event_ids) == 20
    assert set(receiver.raw) == event_ids
    assert set(receiver.raw.values()) == {1}
    assert len(receiver.store.handled()) == 20
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 20
    assert not outbox.unpublished().exists()


def test_a_sender_that_dies_after_its_claim_is_replaced_once_the_lease_runs_out(
    hooked_biller, monkeypatch, request
):
    biller, receiver = hooked_biller
    account = CustomerAccountFactory(biller=biller)
    BillFactory(account=account, amount_due=Decimal("100.00"))
    with monkeypatch.context() as patched:
        patched.setattr(webhooks, "_queue", lambda ids: None)  # the delivery is written, not queued
        pay(account, "100.00", key="crash-1")
    delivery = WebhookDelivery.objects.get()
    assert webhooks.claim(delivery.pk) is not None  # a worker claims it … and dies before sending
    request.getfixturevalue("real_worker")

    assert tasks.retry_due_webhooks() == 0  # its lease still runs: nobody sends
    assert webhooks.claim(delivery.pk) is None
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        lease_until=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert tasks.retry_due_webhooks() == 1
    receiver.wait_for(1)
    assert wait_until(lambda: WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED)
    delivery.refresh_from_db()
    assert delivery.attempts == 2  # the dead claim and the send
    assert list(receiver.raw.values()) == [1]
    assert WebhookAttempt.objects.count() == 1


def test_two_senders_of_one_delivery_send_it_once(hooked_biller, monkeypatch):
    biller, receiver = hooked_biller
    account = CustomerAccountFactory(biller=biller)
    BillFactory(account=account, amount_due=Decimal("100.00"))
    with monkeypatch.context() as patched:
        patched.setattr(webhooks, "_queue", lambda ids: None)
        pay(account, "100.00", key="twice-1")
    delivery = WebhookDelivery.objects.get()
    barrier = threading.Barrier(2)

    def send():
        try:
            barrier.wait(5)
            webhooks.attempt(delivery.pk)
        finally:
            connection.close()

    senders = [threading.Thread(target=send) for _ in range(2)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(30)
    receiver.wait_for(1)
    time.sleep(0.3)
    assert list(receiver.raw.values()) == [1]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)


def test_the_receiver_handles_an_event_sent_twice_once(hooked_biller, real_worker):
    biller, receiver = hooked_biller
    account = CustomerAccountFactory(biller=biller)
    BillFactory(account=account, amount_due=Decimal("100.00"))
    payment = pay(account, "100.00", key="dup-1").payment
    receiver.wait_for(1)
    delivery = WebhookDelivery.objects.get()
    event = OutboxEvent.objects.get()
    assert delivery.event_id == str(event.pk) == delivery.payload["id"]

    tasks.deliver_webhook.delay(delivery.pk, manual=True)  # an administrator sends it again
    receiver.wait_for(2)
    assert receiver.raw == Counter({str(event.pk): 2})
    assert receiver.store.handled() == [(str(event.pk), "payment.posted", payment.receipt_no)]
