"""Card top-ups through the open APIs (issue 17, item 8): a partner's top-up is held and the partner sees
its card write; the biller confirms the write (or its failure) with a signed call, and nobody else can."""

from decimal import Decimal

import pytest

from api import services
from billing.choices import PaymentMode
from billing.selectors import trial_balance
from billing.topup_models import CardWriteRule, TopUpHold, TopUpStatus
from tests.api.conftest import SignedClient, error_code
from tests.factories import BillerFactory, CustomerAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def gas(db):
    biller = BillerFactory(
        code="GASCARD", payment_mode=PaymentMode.PREPAID, min_amount="10.00", max_amount="2000.00"
    )
    CardWriteRule.objects.create(biller=biller, timeout_minutes=30)
    CustomerAccountFactory(biller=biller, account_no="62000001")
    return biller


@pytest.fixture
def gas_api(client, gas, admin_user):
    access = services.ensure_biller_api_access(biller=gas, actor=admin_user)
    issued = services.issue_credential(owner=access, actor=admin_user)
    return SignedClient(client, issued.credential.key_id, issued.secret)


@pytest.fixture
def other_biller_api(client, water, admin_user):
    access = services.ensure_biller_api_access(biller=water, actor=admin_user)
    issued = services.issue_credential(owner=access, actor=admin_user)
    return SignedClient(client, issued.credential.key_id, issued.secret)


def partner_top_up(api, key="t-1", amount="120.00"):
    response = api.post(
        "/api/v1/partner/payments",
        {"biller_code": "GASCARD", "account_no": "62000001", "amount": amount, "partner_ref": f"ACME-{key}"},
        idempotency_key=key,
    )
    assert response.status_code == 201, response.content
    return response.json()


def card_write(biller_api, receipt_no, **body):
    return biller_api.post(f"/api/v1/biller/topups/{receipt_no}/card-write", body)


def test_a_partner_top_up_is_held_and_the_partner_sees_it(api, gas, partner):
    body = partner_top_up(api)
    assert body["card_write"]["status"] == "held" and body["card_write"]["expires_at"]
    assert trial_balance()["TOPUP:GASCARD"] == Decimal("-120.00")


def test_the_biller_confirms_the_write_once(api, gas, partner, gas_api):
    receipt_no = partner_top_up(api)["receipt_no"]
    first = card_write(gas_api, receipt_no, result="written", write_ref="IC-778")
    assert first.status_code == 200, first.content
    assert first.json()["card_write"]["status"] == "written"
    again = card_write(gas_api, receipt_no, result="written", write_ref="IC-778")
    assert (
        again.status_code == 200
        and again.json()["card_write"]["decided_at"] == (first.json()["card_write"]["decided_at"])
    )
    assert trial_balance()["PAYABLE:GASCARD"] == Decimal("-120.00")
    seen = api.get(f"/api/v1/partner/payments/{receipt_no}").json()
    assert (seen["status"], seen["card_write"]["status"]) == ("posted", "written")


def test_a_failed_write_reverses_the_partner_payment(api, gas, partner, gas_api):
    receipt_no = partner_top_up(api)["receipt_no"]
    failed = card_write(gas_api, receipt_no, result="failed", reason="meter offline")
    assert failed.status_code == 200
    seen = api.get(f"/api/v1/partner/payments/{receipt_no}").json()
    assert seen["status"] == "reversed" and seen["reversed_at"]
    assert (seen["card_write"]["status"], seen["card_write"]["reason"]) == ("voided", "meter offline")
    late = card_write(gas_api, receipt_no, result="written")
    assert late.status_code == 409 and error_code(late) == "topup_already_voided"
    assert trial_balance()["CLEARING:PARTNER"] == Decimal("0.00")


def test_a_failure_needs_a_reason(api, gas, partner, gas_api):
    receipt_no = partner_top_up(api)["receipt_no"]
    response = card_write(gas_api, receipt_no, result="failed")
    assert response.status_code == 400
    assert TopUpHold.objects.get().status == TopUpStatus.HELD


def test_a_confirmation_signed_by_another_biller_finds_nothing(api, gas, partner, other_biller_api):
    receipt_no = partner_top_up(api)["receipt_no"]
    response = card_write(other_biller_api, receipt_no, result="written")
    assert response.status_code == 404 and error_code(response) == "payment_unknown"
    assert TopUpHold.objects.get().status == TopUpStatus.HELD


def test_a_forged_signature_is_refused(api, gas, partner, gas_api):
    receipt_no = partner_top_up(api)["receipt_no"]
    response = gas_api.post(
        f"/api/v1/biller/topups/{receipt_no}/card-write", {"result": "written"}, secret="not-the-secret"
    )
    assert response.status_code == 401 and error_code(response) == "signature_invalid"
    assert TopUpHold.objects.get().status == TopUpStatus.HELD


def test_a_partner_key_cannot_confirm_a_write(api, gas, partner):
    receipt_no = partner_top_up(api)["receipt_no"]
    response = card_write(api, receipt_no, result="written")
    assert response.status_code == 403
    assert TopUpHold.objects.get().status == TopUpStatus.HELD
