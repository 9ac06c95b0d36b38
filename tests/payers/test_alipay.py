"""The Alipay adapter, offline: request signing and notification verification with locally made keys."""

import base64
import datetime
import json
from urllib.parse import parse_qsl, urlsplit

import pytest
import rsa
from alipay.aop.api.util.SignatureUtils import get_sign_content
from Crypto.PublicKey import RSA

from billing.models import Payment
from payers import checks, services
from payers.choices import OrderKind, OrderStatus
from payers.exceptions import GatewayError
from payers.gateways.alipay import AlipayGateway, _key_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(alipay, water):
    return services.start_checkout(
        lines=services.lines_for_bills([water["bills"][0].pk]),
        kind=OrderKind.BILLS,
        user=None,
        gateway_code="ALIPAY",
        subject="滨江水务",
    )


def test_the_payment_request_is_signed_with_the_merchants_key(alipay, order, alipay_keys):
    url = alipay.payment_url(order, notify_url="https://pay.example/n/", return_url="https://pay.example/r/")
    parts = urlsplit(url)
    assert parts.netloc == "openapi.alipay.com"
    params = dict(parse_qsl(parts.query))
    assert params["method"] == "alipay.trade.wap.pay" and params["sign_type"] == "RSA2"
    assert order.order_no in params["biz_content"] and '"total_amount":"100.00"' in params["biz_content"]
    content = get_sign_content({k: v for k, v in params.items() if k != "sign"}).encode()
    assert rsa.verify(content, base64.b64decode(params["sign"]), alipay_keys["merchant_public"]) == "SHA-256"


def test_alipay_is_told_when_the_time_to_pay_ends_in_beijing_time(alipay, order):
    url = alipay.payment_url(order, notify_url="https://pay.example/n/", return_url="https://pay.example/r/")
    biz = json.loads(dict(parse_qsl(urlsplit(url).query))["biz_content"])
    beijing = order.expires_at.astimezone(datetime.timezone(datetime.timedelta(hours=8)))
    assert biz["time_expire"] == beijing.strftime("%Y-%m-%d %H:%M")


def test_a_notification_signed_by_alipay_posts_the_payment(client, alipay, order, alipay_signed):
    params = alipay_signed(
        {
            "app_id": "2021000000000001",
            "out_trade_no": order.order_no,
            "trade_no": "2026112722001400000000000001",
            "trade_status": "TRADE_SUCCESS",
            "total_amount": "100.00",
            "notify_time": "2026-11-27 10:00:00",
        }
    )
    response = client.post("/payments/notify/ALIPAY/", params)
    assert response.content == b"success"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    payment = Payment.objects.get()
    assert payment.idempotency_key == f"ALIPAY:{order.order_no}-0001"
    assert payment.channel_ref == "2026112722001400000000000001"


def test_a_notification_with_a_changed_amount_fails_verification(alipay, order, alipay_signed):
    params = alipay_signed(
        {
            "app_id": "2021000000000001",
            "out_trade_no": order.order_no,
            "trade_no": "T1",
            "trade_status": "TRADE_SUCCESS",
            "total_amount": "100.00",
        }
    )
    params["total_amount"] = "1.00"
    with pytest.raises(GatewayError) as refused:
        alipay.parse_notification(params)
    assert refused.value.code == "signature_invalid"


def test_a_notification_for_another_app_is_refused(alipay, order, alipay_signed):
    params = alipay_signed(
        {
            "app_id": "2099",
            "out_trade_no": order.order_no,
            "trade_no": "T1",
            "trade_status": "TRADE_SUCCESS",
            "total_amount": "100.00",
        }
    )
    with pytest.raises(GatewayError):
        alipay.parse_notification(params)


def test_alipay_is_off_in_the_demo(settings):
    assert AlipayGateway().enabled() is False


def pkcs8_forms(private_pem_pkcs1: str) -> dict[str, str]:
    key = RSA.import_key(private_pem_pkcs1)
    pkcs8 = key.export_key(format="PEM", pkcs=8).decode()
    return {"PKCS#1 PEM": private_pem_pkcs1, "PKCS#8 PEM": pkcs8, "PKCS#8 bare base64": _key_body(pkcs8)}


@pytest.mark.parametrize("form", ["PKCS#1 PEM", "PKCS#8 PEM", "PKCS#8 bare base64"])
def test_the_merchant_key_signs_in_the_forms_openssl_and_alipays_key_tool_save_it(
    settings, alipay, order, alipay_keys, form
):
    # OpenSSL 3's `genrsa` and Alipay's key tool for Java write PKCS#8, which the SDK alone cannot read
    # (every checkout was a 500 on the production walk).
    settings.ALIPAY_APP_PRIVATE_KEY = pkcs8_forms(alipay_keys["merchant_private_pem"])[form]
    url = alipay.payment_url(order, notify_url="https://pay.example/n/", return_url="https://pay.example/r/")
    params = dict(parse_qsl(urlsplit(url).query))
    content = get_sign_content({k: v for k, v in params.items() if k != "sign"}).encode()
    assert rsa.verify(content, base64.b64decode(params["sign"]), alipay_keys["merchant_public"]) == "SHA-256"


def test_alipays_public_key_saved_as_pkcs1_still_verifies_its_notifications(
    settings, alipay, order, alipay_signed
):
    public = rsa.PublicKey.load_pkcs1_openssl_pem(settings.ALIPAY_PUBLIC_KEY.encode())
    settings.ALIPAY_PUBLIC_KEY = public.save_pkcs1().decode()
    assert "BEGIN RSA PUBLIC KEY" in settings.ALIPAY_PUBLIC_KEY
    params = alipay_signed({"app_id": "2021000000000001", "out_trade_no": order.order_no})
    assert alipay.verify(params)["out_trade_no"] == order.order_no


class TestAnUnreadableKeyStopsTheStart:
    def test_a_placeholder_private_key(self, settings, alipay):
        settings.ALIPAY_APP_PRIVATE_KEY = "paste the key here"
        errors = checks.alipay_keys()
        assert [(e.id, e.msg) for e in errors] == [
            ("payers.E001", "ALIPAY_APP_PRIVATE_KEY cannot be read: not an RSA key in PEM or base64.")
        ]

    def test_the_public_key_where_the_private_one_belongs(self, settings, alipay, alipay_keys):
        settings.ALIPAY_APP_PRIVATE_KEY = settings.ALIPAY_PUBLIC_KEY
        assert [e.msg for e in checks.alipay_keys()] == [
            "ALIPAY_APP_PRIVATE_KEY cannot be read: a public key, not the merchant's private key."
        ]

    def test_a_truncated_alipay_public_key(self, settings, alipay):
        settings.ALIPAY_PUBLIC_KEY = settings.ALIPAY_PUBLIC_KEY[:120]
        assert [e.id for e in checks.alipay_keys()] == ["payers.E001"]
        assert "ALIPAY_PUBLIC_KEY" in checks.alipay_keys()[0].msg

    def test_readable_keys_and_a_switched_off_gateway_pass(self, settings, alipay):
        assert checks.alipay_keys() == []
        settings.ALIPAY_ENABLED = False
        settings.ALIPAY_PUBLIC_KEY = "garbage"
        assert checks.alipay_keys() == []
