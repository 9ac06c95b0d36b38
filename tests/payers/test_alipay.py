"""The Alipay adapter, offline: request signing and notification verification with locally made keys."""

import base64
import datetime
import json
from urllib.parse import parse_qsl, urlsplit

import pytest
import rsa
from alipay.aop.api.util.SignatureUtils import get_sign_content

from billing.models import Payment
from payers import services
from payers.choices import OrderKind, OrderStatus
from payers.exceptions import GatewayError
from payers.gateways.alipay import AlipayGateway

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
