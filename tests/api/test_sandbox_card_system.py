"""The demo's IC-card gas company end to end over HTTP (demo/card_topups.py, api/sandbox_card_system): the
platform's signed webhook reaches the sandbox card system, which confirms the write (or its failure)
through the signed biller API; a webhook it cannot verify is refused."""

import time

import pytest
from django.test import override_settings

from api import webhooks
from api.choices import DeliveryStatus
from api.models import WebhookDelivery
from api.sandbox_card_system import views as card_system
from billing import outbox
from billing.choices import Channel, PaymentMode
from billing.models import OutboxEvent, Payment
from billing.services import post_payment
from billing.topup_models import TopUpHold, TopUpStatus
from tests.factories import BillerFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gas_demo(live_server, admin_user, monkeypatch, settings):
    from demo import card_topups

    settings.SANDBOX_BANK_ENABLED = True
    from tests.payers.conftest import _load_urlconf

    _load_urlconf(sandbox_bank=True)
    monkeypatch.setattr(card_system, "WRITE_SECONDS", 0)
    biller = BillerFactory(
        code=card_topups.GAS_CARD, payment_mode=PaymentMode.PREPAID, account_pattern=r"^62\d{6}$"
    )
    seed = {"users": {"admin": admin_user}, "billers": {biller.code: biller}, "branches": {}, "summary": None}
    with override_settings(SITE_URL=live_server.url):
        card_topups.seed(**seed)
        card_topups.seed(**seed)  # idempotent
        yield biller
        wait_until_the_live_server_is_quiet()
    _load_urlconf(sandbox_bank=False)


def wait_until_the_live_server_is_quiet(seconds: float = 10.0) -> None:
    """A test ends when the hold is decided, while the live server's threads may still relay the events of
    that decision and send their webhooks; the flush that follows the test then deadlocked with them (CI,
    2026-12-05). Wait until every event is published and no webhook is being sent."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        busy = (
            OutboxEvent.objects.filter(published_at__isnull=True).exists()
            or WebhookDelivery.objects.filter(status=DeliveryStatus.SENDING).exists()
        )
        if not busy:
            break
        time.sleep(0.05)
    time.sleep(0.2)  # the last request's own commit and answer


def top_up_and_deliver(account_no: str, key: str) -> Payment:
    payment = post_payment(
        channel=Channel.PARTNER,
        idempotency_key=f"ACME:{key}",
        biller_code="BJ-GAS-CARD",
        account_no=account_no,
        amount="100.00",
        channel_ref=f"ACME-{key}",
    ).payment
    # The live server's threads relay the outbox too (the card system's confirmations write events): the
    # delivery appears when whichever relay claimed the event has committed.
    deadline = time.monotonic() + 10
    while not WebhookDelivery.objects.filter(payment_id=payment.pk).exists() and time.monotonic() < deadline:
        outbox.relay()
        time.sleep(0.05)
    delivery = WebhookDelivery.objects.get(payment_id=payment.pk)
    while delivery.status != "delivered" and time.monotonic() < deadline:
        webhooks.attempt(delivery.pk)  # None while another sender holds its claim
        delivery.refresh_from_db()
    assert delivery.status == "delivered", delivery.last_error
    return payment


def decided(payment, seconds=15.0) -> TopUpHold:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        hold = TopUpHold.objects.get(payment=payment)
        if hold.status != TopUpStatus.HELD:
            return hold
        time.sleep(0.1)
    return TopUpHold.objects.get(payment=payment)


def test_the_card_system_confirms_a_written_card_and_refunds_a_failed_one(gas_demo):
    written = top_up_and_deliver("62000001", "w")
    failed = top_up_and_deliver("62000019", "f")
    hold = decided(written)
    assert (hold.status, hold.decided_by) == (TopUpStatus.WRITTEN, "biller")
    assert hold.write_ref.startswith("IC")
    hold = decided(failed)
    assert (hold.status, hold.decided_by) == (TopUpStatus.VOIDED, "biller")
    assert Payment.objects.get(pk=failed.pk).status == "reversed"


def test_a_card_that_never_answers_stays_held_for_the_timeout(gas_demo):
    silent = top_up_and_deliver("62000018", "s")
    time.sleep(0.5)
    assert TopUpHold.objects.get(payment=silent).status == TopUpStatus.HELD


def test_a_webhook_the_card_system_cannot_verify_is_refused(gas_demo, client):
    response = client.post(
        "/sandbox-card-system/BJ-GAS-CARD/webhook",
        b'{"event":"payment.posted","payment":{"receipt_no":"R1","biller_code":"BJ-GAS-CARD"}}',
        content_type="application/json",
        headers={"X-BillPay-Timestamp": "1", "X-BillPay-Signature": "0" * 64},
    )
    assert response.status_code == 401
