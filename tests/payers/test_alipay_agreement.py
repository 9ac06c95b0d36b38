"""Alipay's merchant withholding (商户代扣) as an auto-pay mandate's funding source, offline: the agreement
page's request signed with the merchant's key, the signed return verified with Alipay's public key, and
each debit an alipay.trade.pay sent over HTTP to a local server that plays Alipay's gateway (it checks the
request's signature and answers signed with Alipay's key, both made locally)."""

import base64
import datetime
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
import rsa
from alipay.aop.api.util import WebUtils
from alipay.aop.api.util.SignatureUtils import get_sign_content
from django.utils import timezone

from billing.models import AuditEvent, Payment
from demo import clock
from payers import mandates
from payers.choices import DebitStatus, MandateStatus
from payers.exceptions import GatewayError
from payers.models import BoundAccount, MandateDebit
from tests.factories import BillFactory

pytestmark = pytest.mark.django_db

APP_ID = "2021000000000001"


@pytest.fixture
def citizen(django_user_model):
    return django_user_model.objects.create_user("xm", "xm@example.com", "pw-xm-12345")


@pytest.fixture
def mandate(citizen, water, alipay):
    bound = BoundAccount.objects.create(user=citizen, account=water["account"], label="家里水费")
    return mandates.create_mandate(
        user=citizen,
        bound=bound,
        cap_per_bill="200",
        valid_from=timezone.localdate(),
        valid_until=timezone.localdate() + datetime.timedelta(days=365),
        notice_days=2,
        gateway_code="ALIPAY",
    )


def sign_return(mandate, alipay_signed, **changes) -> dict[str, str]:
    """What Alipay signs when the citizen has signed the agreement (the dut_user_sign fields)."""
    params = {
        "app_id": APP_ID,
        "notify_type": "dut_user_sign",
        "external_agreement_no": mandate.public_id.hex,
        "agreement_no": "20265902000000000001",
        "status": "NORMAL",
        "personal_product_code": "GENERAL_WITHHOLDING_P",
        "sign_time": "2026-12-02 10:00:00",
        "alipay_user_id": "2088000000000001",
    }
    params.update(changes)
    return alipay_signed({k: v for k, v in params.items() if v is not None})


# --- the agreement --------------------------------------------------------------------------------------


def test_the_sign_page_request_is_signed_with_the_merchants_key_and_names_the_mandate(
    alipay, mandate, alipay_keys
):
    url = mandates.agreement_url(mandate, return_url="https://pay.example/me/autopay/return/ALIPAY/")
    parts = urlsplit(url)
    assert parts.netloc == "openapi.alipay.com"
    params = dict(parse_qsl(parts.query))
    assert params["method"] == "alipay.user.agreement.page.sign" and params["app_id"] == APP_ID
    assert params["return_url"] == "https://pay.example/me/autopay/return/ALIPAY/"
    assert params["notify_url"] == "https://pay.example/payments/agreement-notify/ALIPAY/"
    biz = json.loads(params["biz_content"])
    assert biz["external_agreement_no"] == mandate.public_id.hex
    assert (
        biz["personal_product_code"] == "GENERAL_WITHHOLDING_P"
        and biz["product_code"] == "GENERAL_WITHHOLDING"
    )
    assert biz["sign_scene"] != "DEFAULT|DEFAULT" and biz["access_params"] == {"channel": "ALIPAYAPP"}
    content = get_sign_content({k: v for k, v in params.items() if k != "sign"}).encode()
    assert rsa.verify(content, base64.b64decode(params["sign"]), alipay_keys["merchant_public"]) == "SHA-256"


def test_a_genuine_signed_return_activates_the_mandate(client, citizen, mandate, alipay_signed):
    client.force_login(citizen)
    response = client.get("/me/autopay/return/ALIPAY/", sign_return(mandate, alipay_signed))
    assert response.status_code == 302 and mandate.public_id.hex in response.url.replace("-", "")
    mandate.refresh_from_db()
    assert mandate.status == MandateStatus.ACTIVE and mandate.agreement_no == "20265902000000000001"
    assert AuditEvent.objects.filter(target_id=str(mandate.pk)).exists()


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda p: {**p, "agreement_no": "20265902000000009999"}, id="agreement_no changed"),
        pytest.param(lambda p: {**p, "external_agreement_no": "0" * 32}, id="mandate changed"),
        pytest.param(lambda p: {**p, "sign": base64.b64encode(b"x" * 128).decode()}, id="forged signature"),
        pytest.param(lambda p: {**p, "sign": ""}, id="unsigned"),
    ],
)
def test_a_forged_or_changed_return_is_refused_and_nothing_is_written(
    client, citizen, mandate, alipay_signed, tamper
):
    client.force_login(citizen)
    audits = AuditEvent.objects.count()
    response = client.get("/me/autopay/return/ALIPAY/", tamper(sign_return(mandate, alipay_signed)))
    assert response.status_code == 400
    mandate.refresh_from_db()
    assert mandate.status == MandateStatus.AWAITING_AGREEMENT and mandate.agreement_no == ""
    assert AuditEvent.objects.count() == audits


def test_alipays_signed_server_notification_activates_the_mandate(client, mandate, alipay_signed):
    params = sign_return(mandate, alipay_signed)
    forged = {**params, "agreement_no": "20265902000000009999"}
    response = client.post("/payments/agreement-notify/ALIPAY/", forged)
    assert response.content == b"failure"
    mandate.refresh_from_db()
    assert mandate.status == MandateStatus.AWAITING_AGREEMENT

    for _ in range(2):  # Alipay repeats a notification until it hears "success"
        response = client.post("/payments/agreement-notify/ALIPAY/", params)
        assert response.content == b"success"
    mandate.refresh_from_db()
    assert mandate.status == MandateStatus.ACTIVE and mandate.agreement_no == "20265902000000000001"


def test_the_browsers_plain_return_from_alipay_shows_the_mandates_and_writes_nothing(
    client, citizen, mandate
):
    client.force_login(citizen)
    response = client.get("/me/autopay/return/ALIPAY/")
    assert response.status_code == 302 and response.url == "/me/autopay/"
    mandate.refresh_from_db()
    assert mandate.status == MandateStatus.AWAITING_AGREEMENT


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"app_id": "2021000000000999"}, None),
        ({"external_agreement_no": None}, "external_agreement_no"),
        ({"agreement_no": None}, "agreement_no"),
        ({"status": "SOMETHING"}, "status"),
    ],
)
def test_a_signed_return_for_another_app_or_without_the_numbers_is_refused(
    alipay, mandate, alipay_signed, changes, field
):
    with pytest.raises(GatewayError) as refused:
        alipay.parse_agreement_return(sign_return(mandate, alipay_signed, **changes))
    assert refused.value.code == ("merchant_mismatch" if field is None else "message_invalid")
    mandate.refresh_from_db()
    assert mandate.status == MandateStatus.AWAITING_AGREEMENT


def test_an_agreement_alipay_says_never_took_effect_sets_nothing_up(citizen, mandate, alipay_signed):
    with pytest.raises(mandates.PortalError):
        mandates.confirm_agreement(
            user=citizen,
            gateway_code="ALIPAY",
            params=sign_return(mandate, alipay_signed, status="TEMP", agreement_no=None),
        )
    mandate.refresh_from_db()
    assert mandate.status == MandateStatus.CANCELLED and mandate.agreement_no == ""


# --- the debit, over HTTP to a local Alipay -------------------------------------------------------------


class FakeAlipay:
    """Alipay's gateway (openapi …/gateway.do) on a local port: it checks each request's RSA2 signature
    with the merchant's public key, and answers `<method>_response` signed with Alipay's private key."""

    def __init__(self, keys):
        self.keys = keys
        self.requests: list[dict] = []
        self.answer = {"code": "10000", "msg": "Success"}
        self.signing_key = keys["alipay_private"]
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                params = dict(parse_qsl(urlsplit(self.path).query)) | dict(parse_qsl(body))
                fake.requests.append({"params": params, "signature_ok": fake.signature_ok(params)})
                answer = fake.respond(params)
                self.send_response(200)
                self.send_header("Content-Type", "text/html;charset=utf-8")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/gateway.do"

    def signature_ok(self, params: dict[str, str]) -> bool:
        content = get_sign_content({k: v for k, v in params.items() if k != "sign"}).encode()
        try:
            return (
                rsa.verify(content, base64.b64decode(params["sign"]), self.keys["merchant_public"])
                == "SHA-256"
            )
        except (rsa.VerificationError, KeyError, ValueError):
            return False

    def respond(self, params: dict[str, str]) -> bytes:
        if not self.signature_ok(params):  # Alipay's answer to a bad signature
            inner = {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature"}
        else:
            biz = json.loads(params["biz_content"])
            inner = {**self.answer}
            if inner["code"] == "10000" and "out_trade_no" in biz:
                inner.setdefault("trade_no", "2026120222001400000000000042")
                inner.update(out_trade_no=biz["out_trade_no"], total_amount=biz.get("refund_amount", ""))
                if "total_amount" in biz:
                    inner["total_amount"] = biz["total_amount"]
        content = json.dumps(inner, ensure_ascii=False, separators=(",", ":"))
        sign = base64.b64encode(rsa.sign(content.encode(), self.signing_key, "SHA-256")).decode()
        key = params.get("method", "error").replace(".", "_") + "_response"
        return f'{{"{key}":{content},"sign":"{sign}"}}'.encode()


def _connection_on_the_urls_port(url, query_string, timeout):
    """The SDK's own connection opener always dials port 80 (443 for https), which is all Alipay's gateway
    needs; the local gateway listens on a free port, so the port of the URL is honoured here."""
    from http.client import HTTPConnection

    parts = urlsplit(url)
    return f"{url}?{query_string}", HTTPConnection(parts.hostname, parts.port, timeout=timeout)


@pytest.fixture
def fake_alipay(alipay, alipay_keys, settings, monkeypatch):
    fake = FakeAlipay(alipay_keys)
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    settings.ALIPAY_GATEWAY_URL = fake.url
    monkeypatch.setattr(WebUtils, "get_http_connection", _connection_on_the_urls_port)
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_an_agreement_debit_is_a_signed_withholding_trade_pay(alipay, fake_alipay):
    result = alipay.agreement_debit(
        agreement_no="20265902000000000001",
        out_trade_no="AP202612020001",
        amount=Decimal("95.00"),
        subject="水费",
    )
    assert result.ok and result.trade_no == "2026120222001400000000000042"
    (request,) = fake_alipay.requests
    assert request["signature_ok"]
    params = request["params"]
    assert (
        params["method"] == "alipay.trade.pay"
        and params["app_id"] == APP_ID
        and params["sign_type"] == "RSA2"
    )
    biz = json.loads(params["biz_content"])
    assert biz["product_code"] == "GENERAL_WITHHOLDING"
    assert biz["agreement_params"] == {"agreement_no": "20265902000000000001"}
    assert biz["out_trade_no"] == "AP202612020001" and biz["total_amount"] == "95.00"


def test_a_declined_debit_is_a_failed_result_with_alipays_reason(alipay, fake_alipay):
    fake_alipay.answer = {
        "code": "40004",
        "msg": "Business Failed",
        "sub_code": "ACQ.BUYER_BALANCE_NOT_ENOUGH",
        "sub_msg": "买家余额不足",
    }
    result = alipay.agreement_debit(
        agreement_no="20265902000000000001",
        out_trade_no="AP202612020002",
        amount=Decimal("95.00"),
        subject="水费",
    )
    assert not result.ok and result.trade_no == ""
    assert "ACQ.BUYER_BALANCE_NOT_ENOUGH" in result.message


def test_an_answer_not_signed_by_alipay_is_not_believed(alipay, fake_alipay):
    fake_alipay.signing_key = rsa.newkeys(1024)[1]  # someone else's key: a forged "Success"
    result = alipay.agreement_debit(
        agreement_no="20265902000000000001",
        out_trade_no="AP202612020003",
        amount=Decimal("95.00"),
        subject="水费",
    )
    assert not result.ok and result.trade_no == "" and "verify" in result.message


def test_a_request_alipay_cannot_verify_is_refused_there(alipay, fake_alipay, settings, alipay_keys):
    settings.ALIPAY_APP_PRIVATE_KEY = rsa.newkeys(1024)[1].save_pkcs1().decode()  # not the key Alipay holds
    result = alipay.agreement_debit(
        agreement_no="20265902000000000001",
        out_trade_no="AP202612020004",
        amount=Decimal("95.00"),
        subject="水费",
    )
    assert not fake_alipay.requests[0]["signature_ok"]
    assert not result.ok and "isv.invalid-signature" in result.message


def test_an_alipay_mandate_pays_the_bill_on_its_day_and_ends_its_agreement_when_cancelled(
    citizen, water, mandate, alipay_signed, fake_alipay, django_capture_on_commit_callbacks
):
    mandates.confirm_agreement(
        user=citizen, gateway_code="ALIPAY", params=sign_return(mandate, alipay_signed)
    )
    bill = BillFactory(
        account=water["account"],
        period="2026-12",
        amount_due=Decimal("95.00"),
        due_date=datetime.date(2027, 1, 20),
    )
    with django_capture_on_commit_callbacks(execute=True):
        mandates.schedule_debits(today=timezone.localdate() + datetime.timedelta(days=30))
    debit = MandateDebit.objects.get(bill=bill)
    on_its_day = timezone.make_aware(datetime.datetime.combine(debit.debit_on, datetime.time(10)))
    with clock.at(on_its_day):
        assert mandates.run_debit(debit_id=debit.pk) == DebitStatus.PAID
    debit.refresh_from_db()
    bill.refresh_from_db()
    payment = debit.payment
    assert bill.status == "paid" and Payment.objects.count() == 1
    assert payment.amount == Decimal("95.00") and payment.channel_ref == "2026120222001400000000000042"
    assert json.loads(fake_alipay.requests[-1]["params"]["biz_content"])["out_trade_no"] == debit.order_no

    fake_alipay.answer = {"code": "10000", "msg": "Success"}
    mandate.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        mandates.set_mandate_status(actor=citizen, mandate=mandate, target=MandateStatus.CANCELLED)
    unsign = fake_alipay.requests[-1]["params"]
    assert unsign["method"] == "alipay.user.agreement.unsign" and fake_alipay.requests[-1]["signature_ok"]
    assert json.loads(unsign["biz_content"])["agreement_no"] == "20265902000000000001"


def test_an_agreement_debit_is_refunded_through_alipay(alipay, fake_alipay):
    result = alipay.debit_refund(out_trade_no="AP202612020001", amount=Decimal("95.00"), refund_no="RF1")
    assert result.ok
    params = fake_alipay.requests[0]["params"]
    assert params["method"] == "alipay.trade.refund" and fake_alipay.requests[0]["signature_ok"]
    biz = json.loads(params["biz_content"])
    assert biz["out_request_no"] == "RF1" and biz["refund_amount"] == "95.00"
