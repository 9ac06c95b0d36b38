"""Auto-pay mandates through the partner API (issue 18, item 1): a partner sets one up for its own customer
and pays each debit itself (a PARTNER payment it collects from its customer); notices and outcomes reach it
as webhooks. Debits run by beat on a simulated date, as tests/payers/test_mandates.py does."""

import datetime
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from api import selectors, webhooks
from api.models import IdempotencyRecord, Partner, WebhookDelivery
from billing.choices import Channel, PaymentStatus
from billing.models import BillerCategory, OutboxEvent, Payment
from billing.services import post_payment
from demo import clock
from payers import mandates
from payers import selectors as portal
from payers.choices import DebitStatus, MandateStatus
from payers.models import Mandate, MandateDebit
from tests.api.conftest import SignedClient, error_code
from tests.factories import BillFactory

pytestmark = pytest.mark.django_db

MANDATES = "/api/v1/partner/mandates"


def at(day: datetime.date, hour: int = 10):
    return clock.at(timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour))))


def run_beat(day: datetime.date, capture) -> list[str]:
    """Beat's run on a simulated day: expiry, scheduling, then the debits due."""
    with at(day), capture(execute=True):
        mandates.expire_mandates()
        mandates.schedule_debits()
        return [mandates.run_debit(debit_id=pk) for pk in mandates.due_debit_ids()]


def terms(**changes) -> dict:
    today = timezone.localdate()
    return {
        "biller_code": "WATER01",
        "account_no": "31005678",
        "customer_ref": "CUST-0001",
        "cap_per_bill": "200.00",
        "valid_from": today.isoformat(),
        "valid_until": (today + datetime.timedelta(days=365)).isoformat(),
        "notice_days": 3,
        **changes,
    }


def patch(api: SignedClient, path: str, data: dict, *, idempotency_key: str):
    body = json.dumps(data).encode()
    headers = {**api.headers("PATCH", path, "", body), "Idempotency-Key": idempotency_key}
    return api.client.generic("PATCH", path, body, content_type="application/json", headers=headers)


@pytest.fixture
def hooked_partner(partner):
    partner.webhook_url = "https://acme.example/hooks"
    partner.save(update_fields=["webhook_url"])
    return partner


@pytest.fixture
def mandate_id(api, account, hooked_partner) -> str:
    response = api.post(MANDATES, terms(), idempotency_key="mandate-1")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def new_bill(account, amount="95.00", period="2026-12"):
    return BillFactory(
        account=account, period=period, amount_due=Decimal(amount), due_date=datetime.date(2027, 1, 20)
    )


# --- setting up ------------------------------------------------------------------------------------------


def test_a_partner_sets_up_auto_pay_for_its_customer_active_at_once(api, account, partner):
    response = api.post(MANDATES, terms(), idempotency_key="mandate-1")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "active" and body["customer_ref"] == "CUST-0001"
    assert body["cap_per_bill"] == "200.00" and body["account_no"] == "31005678"
    mandate = Mandate.objects.get()
    assert mandate.user is None and mandate.partner_code == "ACME" and mandate.gateway == "PARTNER"
    listed = api.get(MANDATES, {"customer_ref": "CUST-0001"}).json()["mandates"]
    assert [m["id"] for m in listed] == [body["id"]]
    assert api.get(MANDATES, {"customer_ref": "SOMEONE-ELSE"}).json()["mandates"] == []
    assert api.get(f"{MANDATES}/{body['id']}").json() == body


def test_a_replayed_set_up_answers_the_same_and_writes_once(api, account, partner):
    first = api.post(MANDATES, terms(), idempotency_key="mandate-1")
    again = api.post(MANDATES, terms(), idempotency_key="mandate-1")
    assert again.status_code == 201 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Mandate.objects.count() == 1
    changed = api.post(MANDATES, terms(cap_per_bill="10.00"), idempotency_key="mandate-1")
    assert changed.status_code == 409 and error_code(changed) == "idempotency_key_reused"


def test_one_live_mandate_per_customer_and_account(api, account, partner):
    api.post(MANDATES, terms(), idempotency_key="mandate-1")
    second = api.post(MANDATES, terms(), idempotency_key="mandate-2")
    assert second.status_code == 409 and error_code(second) == "mandate_exists"
    other_customer = api.post(MANDATES, terms(customer_ref="CUST-0002"), idempotency_key="mandate-3")
    assert other_customer.status_code == 201


@pytest.mark.parametrize(
    ("changes", "code", "status"),
    [
        ({"cap_per_bill": "5000.01"}, "mandate_cap_too_high", 422),
        ({"valid_until": "2020-01-01"}, "mandate_dates_invalid", 422),
        ({"valid_from": "2020-01-01"}, "mandate_dates_invalid", 422),
        ({"notice_days": 0}, "mandate_notice_invalid", 422),
        ({"cap_per_bill": 10}, "validation_failed", 400),
        ({"customer_ref": ""}, "validation_failed", 400),
        ({"account_no": "99999999"}, "account_unknown", 404),
    ],
)
def test_bad_terms_are_refused_with_nothing_written(api, account, partner, changes, code, status):
    response = api.post(MANDATES, terms(**changes), idempotency_key="mandate-bad")
    assert response.status_code == status and error_code(response) == code, response.json()
    assert not Mandate.objects.exists() and not IdempotencyRecord.objects.exists()


def test_only_billers_the_partner_may_pay(api, account, partner):
    partner.allowed_categories.remove(BillerCategory.objects.get(code="water"))
    response = api.post(MANDATES, terms(), idempotency_key="mandate-1")
    assert response.status_code == 403 and error_code(response) == "biller_not_allowed"
    assert not Mandate.objects.exists()


def test_refusals_speak_the_requests_language(client, issued, account, partner):
    chinese = SignedClient(client, issued.credential.key_id, issued.secret, language="zh-hans")
    response = chinese.post(MANDATES, terms(cap_per_bill="9999.00"), idempotency_key="mandate-zh")
    assert error_code(response) == "mandate_cap_too_high"
    assert "每笔" in response.json()["error"]["message"] or "最多" in response.json()["error"]["message"]


# --- notice, debit, outcome -------------------------------------------------------------------------------


def test_notice_then_one_partner_payment_on_the_debit_day(
    api, account, mandate_id, hooked_partner, django_capture_on_commit_callbacks
):
    bill = new_bill(account)
    today = timezone.localdate()
    run_beat(today, django_capture_on_commit_callbacks)
    debit = MandateDebit.objects.get()
    assert debit.status == DebitStatus.SCHEDULED and debit.debit_on == today + datetime.timedelta(days=3)
    notice = OutboxEvent.objects.get(type="mandate.notice")
    assert notice.payload["partner_code"] == "ACME" and notice.payload["customer_ref"] == "CUST-0001"
    assert notice.payload["amount"] == "95.00" and notice.payload["mandate_id"] == mandate_id
    with django_capture_on_commit_callbacks():
        webhooks.partner_deliveries_for_events([notice])
    delivery = WebhookDelivery.objects.get(event="mandate.notice")
    assert delivery.partner == hooked_partner and delivery.payload["mandate_debit"]["debit_id"] == debit.pk
    # the portal's and the counter's "will be paid by auto-pay on …" counts it
    assert portal.autopay_dates([bill.pk]) == {bill.pk: debit.debit_on}

    assert run_beat(today + datetime.timedelta(days=2), django_capture_on_commit_callbacks) == []
    assert not Payment.objects.exists()
    assert run_beat(debit.debit_on, django_capture_on_commit_callbacks) == [DebitStatus.PAID]
    debit.refresh_from_db()
    payment = Payment.objects.get()
    assert payment.channel == Channel.PARTNER and payment.amount == Decimal("95.00")
    assert payment.idempotency_key == f"ACME:AUTOPAY:{Mandate.objects.get().public_id.hex}-{bill.pk}"
    assert debit.payment == payment and payment.status == PaymentStatus.POSTED
    # the partner's statement and reconciliation find it as its own payment
    assert list(selectors.partner_payments(hooked_partner)) == [payment]
    outcome = OutboxEvent.objects.get(type="mandate.debit")
    assert outcome.payload["status"] == "paid" and outcome.payload["receipt_no"] == payment.receipt_no
    # run again (a retry, a second worker): nothing more
    with at(debit.debit_on):
        assert mandates.run_debit(debit_id=debit.pk) == DebitStatus.PAID
    assert Payment.objects.count() == 1
    debits = api.get(f"{MANDATES}/{mandate_id}/debits").json()["debits"]
    assert debits[0]["status"] == "paid" and debits[0]["receipt_no"] == payment.receipt_no


def test_a_bill_paid_elsewhere_first_is_not_debited(
    api, account, mandate_id, django_capture_on_commit_callbacks
):
    bill = new_bill(account)
    run_beat(timezone.localdate(), django_capture_on_commit_callbacks)
    post_payment(
        channel="partner",
        idempotency_key="OTHER:elsewhere-1",
        biller_code="WATER01",
        account_no="31005678",
        amount=bill.outstanding,
        periods=[bill.period],
    )
    debit = MandateDebit.objects.get()
    run_beat(debit.debit_on, django_capture_on_commit_callbacks)
    debit.refresh_from_db()
    assert debit.status == DebitStatus.PAID_ELSEWHERE and debit.payment is None
    assert Payment.objects.count() == 1
    assert OutboxEvent.objects.get(type="mandate.debit").payload["status"] == "paid_elsewhere"


def test_a_bill_above_the_cap_is_refused_with_nothing_posted(
    api, account, mandate_id, django_capture_on_commit_callbacks
):
    new_bill(account, amount="250.00")
    run_beat(timezone.localdate(), django_capture_on_commit_callbacks)
    debit = MandateDebit.objects.get()
    assert debit.status == DebitStatus.REFUSED and debit.refusal_code == "mandate_cap_exceeded"
    run_beat(debit.debit_on, django_capture_on_commit_callbacks)
    assert not Payment.objects.exists()
    event = OutboxEvent.objects.get(type="mandate.debit")
    assert event.payload["code"] == "mandate_cap_exceeded"


def test_the_partner_skips_a_scheduled_debit(api, account, mandate_id, django_capture_on_commit_callbacks):
    new_bill(account)
    run_beat(timezone.localdate(), django_capture_on_commit_callbacks)
    debit = MandateDebit.objects.get()
    path = f"{MANDATES}/{mandate_id}/debits/{debit.pk}/skip"
    response = api.post(path, {}, idempotency_key="skip-1")
    assert response.status_code == 200 and response.json()["status"] == "skipped"
    again = api.post(path, {}, idempotency_key="skip-2")
    assert again.status_code == 409 and error_code(again) == "mandate_debit_not_skippable"
    run_beat(debit.debit_on, django_capture_on_commit_callbacks)
    assert not Payment.objects.exists()
    unknown = api.post(f"{MANDATES}/{mandate_id}/debits/99999999999999999999/skip", {}, idempotency_key="s3")
    assert unknown.status_code == 404 and error_code(unknown) == "mandate_debit_unknown"


# --- pause, resume, cancel, edit, expiry -------------------------------------------------------------------


def test_pause_resume_edit_and_cancel(api, account, mandate_id, django_capture_on_commit_callbacks):
    base = f"{MANDATES}/{mandate_id}"
    assert api.post(f"{base}/pause", {}, idempotency_key="p1").json()["status"] == "paused"
    new_bill(account)
    run_beat(timezone.localdate(), django_capture_on_commit_callbacks)
    assert not MandateDebit.objects.filter(status=DebitStatus.SCHEDULED).exists()
    assert api.post(f"{base}/resume", {}, idempotency_key="r1").json()["status"] == "active"
    changed = patch(api, base, {"cap_per_bill": "300.00", "notice_days": 5}, idempotency_key="e1")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["cap_per_bill"] == "300.00" and changed.json()["notice_days"] == 5
    too_high = patch(api, base, {"cap_per_bill": "99999.00"}, idempotency_key="e2")
    assert too_high.status_code == 422 and error_code(too_high) == "mandate_cap_too_high"
    nothing = patch(api, base, {}, idempotency_key="e3")
    assert nothing.status_code == 422 and error_code(nothing) == "mandate_nothing_to_change"
    assert Mandate.objects.get().cap_per_bill == Decimal("300.00")
    assert api.post(f"{base}/cancel", {}, idempotency_key="c1").json()["status"] == "cancelled"
    for response in (
        api.post(f"{base}/resume", {}, idempotency_key="r2"),
        api.post(f"{base}/pause", {}, idempotency_key="p2"),
        patch(api, base, {"notice_days": 2}, idempotency_key="e4"),
    ):
        assert response.status_code == 409 and error_code(response) == "mandate_not_changeable"
    assert Mandate.objects.get().status == MandateStatus.CANCELLED


def test_an_expired_mandate_debits_nothing_and_refuses_changes(
    api, account, partner, django_capture_on_commit_callbacks
):
    until = timezone.localdate() + datetime.timedelta(days=10)
    response = api.post(MANDATES, terms(valid_until=until.isoformat()), idempotency_key="m-short")
    mandate_id = response.json()["id"]
    run_beat(until + datetime.timedelta(days=1), django_capture_on_commit_callbacks)
    assert Mandate.objects.get().status == MandateStatus.EXPIRED
    new_bill(account)
    run_beat(until + datetime.timedelta(days=2), django_capture_on_commit_callbacks)
    assert not MandateDebit.objects.exists() and not Payment.objects.exists()
    refused = patch(api, f"{MANDATES}/{mandate_id}", {"notice_days": 2}, idempotency_key="e1")
    assert refused.status_code == 409 and error_code(refused) == "mandate_not_changeable"


# --- another partner's mandate -----------------------------------------------------------------------------


def test_another_partners_mandate_is_unknown_and_nothing_is_written(
    client, api, account, mandate_id, admin_user, django_capture_on_commit_callbacks
):
    from api import services

    other = Partner.objects.create(code="OTHER", name="Other Pay", rate_limit_per_minute=1000)
    other.allowed_categories.add(BillerCategory.objects.get(code="water"))
    issued = services.issue_credential(owner=other, actor=admin_user)
    them = SignedClient(client, issued.credential.key_id, issued.secret)
    new_bill(account)
    run_beat(timezone.localdate(), django_capture_on_commit_callbacks)
    debit = MandateDebit.objects.get()
    base = f"{MANDATES}/{mandate_id}"
    records = IdempotencyRecord.objects.count()
    for response in (
        them.get(base),
        them.get(f"{base}/debits"),
        them.post(f"{base}/pause", {}, idempotency_key="x1"),
        them.post(f"{base}/cancel", {}, idempotency_key="x2"),
        patch(them, base, {"notice_days": 2}, idempotency_key="x3"),
        them.post(f"{base}/debits/{debit.pk}/skip", {}, idempotency_key="x4"),
        them.get(f"{MANDATES}/not-a-uuid"),
    ):
        assert response.status_code == 404 and error_code(response) == "mandate_unknown", response.json()
    assert them.get(MANDATES).json()["mandates"] == []
    assert Mandate.objects.get().status == MandateStatus.ACTIVE and Mandate.objects.get().notice_days == 3
    debit.refresh_from_db()
    assert debit.status == DebitStatus.SCHEDULED
    assert IdempotencyRecord.objects.count() == records
