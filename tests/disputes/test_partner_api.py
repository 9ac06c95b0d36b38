"""The partner API's disputes: raise (idempotent), status, close, only on the partner's own payments;
webhooks tell the partner of every change."""

import json

import pytest

from api import credentials, signing
from api.models import IdempotencyRecord, WebhookDelivery
from billing.models import AuditEvent, OutboxEvent
from disputes.models import Dispute
from tests.api.conftest import Receiver, error_code

pytestmark = pytest.mark.django_db

URL = "/api/v1/partner/disputes"


def test_a_partner_raises_a_dispute_on_its_own_payment(api, acme_payment):
    response = api.post(URL, {"reason": "D13", "receipt_no": acme_payment.receipt_no}, idempotency_key="d-1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["reason"] == "D13" and body["status"] == "open" and body["category"] == "transaction"
    assert body["receipt_no"] == acme_payment.receipt_no and body["amount"] == "128.40"
    assert body["reason_label"] == "Money taken more than once"
    dispute = Dispute.objects.get(ref=body["ref"])
    assert (dispute.channel, dispute.source) == ("partner", "ACME")


def test_the_same_idempotency_key_gives_the_same_dispute_once(api, acme_payment):
    first = api.post(URL, {"reason": "D13", "receipt_no": acme_payment.receipt_no}, idempotency_key="d-1")
    again = api.post(URL, {"reason": "D13", "receipt_no": acme_payment.receipt_no}, idempotency_key="d-1")
    assert again.status_code == 201 and again.json()["ref"] == first.json()["ref"]
    assert Dispute.objects.count() == 1


def test_a_dispute_on_another_partners_payment_is_refused_and_nothing_is_written(api, beta_payment):
    events, audits = OutboxEvent.objects.count(), AuditEvent.objects.count()
    records = IdempotencyRecord.objects.count()
    response = api.post(URL, {"reason": "D13", "receipt_no": beta_payment.receipt_no}, idempotency_key="d-x")
    assert response.status_code == 404
    assert error_code(response) == "dispute_payment_unknown"
    assert beta_payment.receipt_no in response.json()["error"]["message"]
    assert Dispute.objects.count() == 0
    assert OutboxEvent.objects.count() == events and AuditEvent.objects.count() == audits
    assert IdempotencyRecord.objects.count() == records


def test_another_partners_dispute_cannot_be_read_or_closed(api, beta_payment):
    from disputes import services

    theirs = services.raise_dispute(
        channel="partner", source="BETA", reason="D13", receipt_no=beta_payment.receipt_no
    )
    assert error_code(api.get(f"{URL}/{theirs.ref}")) == "dispute_unknown"
    assert api.post(f"{URL}/{theirs.ref}/close", {}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "open"


def test_an_unknown_reason_code_is_refused_in_the_callers_language(api, acme_payment):
    response = api.post(URL, {"reason": "D99", "receipt_no": acme_payment.receipt_no}, idempotency_key="d-2")
    assert response.status_code == 400 and error_code(response) == "validation_failed"
    assert "reason" in response.json()["error"]["details"]["fields"]
    assert Dispute.objects.count() == 0


def test_a_reason_about_a_payment_needs_its_receipt_number(api, acme_payment):
    response = api.post(URL, {"reason": "D13"}, idempotency_key="d-3")
    assert response.status_code == 422 and error_code(response) == "dispute_payment_required"


def test_status_and_close(api, acme_payment):
    ref = api.post(
        URL, {"reason": "D15", "receipt_no": acme_payment.receipt_no}, idempotency_key="d-4"
    ).json()["ref"]
    assert api.get(f"{URL}/{ref}").json()["status"] == "open"
    closed = api.post(f"{URL}/{ref}/close", {"note": "settled with the customer"})
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed" and closed.json()["outcome"] == "withdrawn"
    assert api.post(f"{URL}/{ref}/close", {}).json()["status"] == "closed"  # closing twice is one close


def test_the_reason_list_names_every_code_in_the_callers_language(api):
    reasons = api.get("/api/v1/partner/dispute-reasons").json()["reasons"]
    assert [r["code"] for r in reasons][:2] == ["D11", "D12"]
    api.language = "zh-hans"
    chinese = api.get("/api/v1/partner/dispute-reasons").json()["reasons"]
    assert chinese[0]["label"] != reasons[0]["label"]


def test_the_partner_hears_each_change_by_a_signed_webhook(
    api, acme_payment, partner, receiver, django_capture_on_commit_callbacks, settings
):
    from billing import outbox

    partner.webhook_url = f"http://127.0.0.1:{receiver.server_port}/hook"
    partner.webhook_seed = "seed"
    partner.save()
    ref = api.post(
        URL, {"reason": "D15", "receipt_no": acme_payment.receipt_no}, idempotency_key="d-5"
    ).json()["ref"]
    with django_capture_on_commit_callbacks(execute=True):
        outbox.relay()
    delivery = WebhookDelivery.objects.get(partner=partner)
    assert delivery.event == "dispute.updated" and delivery.status == "delivered"
    headers, body = Receiver.received[-1]
    assert headers["X-BillPay-Event"] == "dispute.updated"
    secret = credentials.partner_webhook_secret_for(partner)
    expected = signing.webhook_signature(secret, timestamp=headers["X-BillPay-Timestamp"], body=body)
    assert headers["X-BillPay-Signature"] == expected
    assert json.loads(body)["dispute"]["ref"] == ref
