"""The WeChat Pay adapter with locally made keys: notifications signed and encrypted exactly as WeChat Pay API
v3 does (Wechatpay-* headers, AEAD_AES_256_GCM resource) and run through the SDK's own verification and
decryption; the merchant's calls (Native, H5, query, close, refund, trade bill) answered by a local HTTP
server that speaks the v3 endpoints, checks the merchant's Authorization signature and signs its answers."""

import base64
import datetime
import gzip
import hashlib
import json
import re
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from django.utils import timezone

from billing.models import Payment
from payers import checks, services
from payers.choices import NotificationResult, OrderKind, OrderStatus
from payers.exceptions import GatewayError
from payers.gateways import available_gateways
from payers.gateways.wechat import WeChatGateway
from payers.models import GatewayNotification, GatewayOrder
from reconciliation.models import StatementFile
from reconciliation.tasks import fetch_wechat_trade_bill

pytestmark = pytest.mark.django_db

MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
APIV3_KEY = "0123456789abcdef0123456789ABCDEF"  # 32 bytes, as WeChat's merchant platform sets it
MERCHANT_SERIAL = "3775B6A45ACD588826D15E583A95F5DD********".replace("*", "0")
TRADE_NO = "4200000922202611271234567890"


def _rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def keys():
    merchant, platform = _rsa_key(), _rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(platform.public_key())
        .serial_number(0x5157F09EFDC096DE15EBE81A47057A7232F1B8E1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(platform, hashes.SHA256())
    )
    return {
        "merchant": merchant,
        "merchant_pem": merchant.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "platform": platform,
        "platform_cert_pem": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "platform_serial": format(cert.serial_number, "X"),
    }


def sign_v3(private_key, message: str) -> str:
    return base64.b64encode(private_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


class WeChatServer(BaseHTTPRequestHandler):
    """WeChat Pay's v3 endpoints, as far as the adapter uses them."""

    keys: dict
    state: dict

    def log_message(self, *args):
        pass

    def _authorized(self, body: str) -> bool:
        header = self.headers.get("Authorization", "")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', header))
        if not header.startswith("WECHATPAY2-SHA256-RSA2048 ") or fields.get("mchid") != MCHID:
            return False
        message = (
            f"{self.command}\n{self.path}\n{fields.get('timestamp')}\n{fields.get('nonce_str')}\n{body}\n"
        )
        try:
            self.keys["merchant"].public_key().verify(
                base64.b64decode(fields.get("signature", "")),
                message.encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            return False
        return fields.get("serial_no") == MERCHANT_SERIAL

    def _answer(self, status: int, payload=None, *, raw: bytes | None = None):
        body = raw if raw is not None else (json.dumps(payload).encode() if payload is not None else b"")
        self.send_response(status)
        if raw is None:
            timestamp, nonce = str(int(time.time())), uuid.uuid4().hex
            text = body.decode()
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Wechatpay-Timestamp", timestamp)
            self.send_header("Wechatpay-Nonce", nonce)
            self.send_header("Wechatpay-Serial", self.keys["platform_serial"])
            self.send_header("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
            self.send_header(
                "Wechatpay-Signature",
                sign_v3(self.state.get("signer") or self.keys["platform"], f"{timestamp}\n{nonce}\n{text}\n"),
            )
        else:
            self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if not self._authorized(body):
            return self._answer(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        data = json.loads(body) if body else {}
        self.state["calls"].append((self.command, self.path, data))
        path = urlsplit(self.path).path
        if path == "/v3/pay/transactions/native":
            return self._answer(200, {"code_url": "weixin://wxpay/bizpayurl?pr=p4lpSuKzz"})
        if path == "/v3/pay/transactions/h5":
            return self._answer(
                200, {"h5_url": "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1"}
            )
        if path.endswith("/close"):
            return self._answer(204)
        if path.startswith("/v3/pay/transactions/out-trade-no/"):
            return self._answer(200, self.state["transaction"])
        if path == "/v3/refund/domestic/refunds":
            return self._answer(200, {"refund_id": "50000000382019052709732678859", "status": "PROCESSING"})
        if path == "/v3/bill/tradebill":
            plain = self.state["bill"]
            return self._answer(
                200,
                {
                    "download_url": f"{self.state['base']}/v3/billdownload/file?token=6XIv5TUPto7pByrT",
                    "hash_type": "SHA1",
                    "hash_value": hashlib.sha1(plain).hexdigest(),
                },
            )
        if path == "/v3/billdownload/file":
            return self._answer(200, raw=gzip.compress(self.state["bill"]))
        return self._answer(404, {"code": "NOT_FOUND", "message": path})

    do_GET = do_POST = _handle


@pytest.fixture
def wechat_api(keys):
    state = {"calls": [], "transaction": {}, "bill": b""}
    handler = type("Handler", (WeChatServer,), {"keys": keys, "state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state["base"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def wechat(settings, keys, wechat_api):
    settings.WECHATPAY_ENABLED = True
    settings.WECHATPAY_MCHID = MCHID
    settings.WECHATPAY_APPID = APPID
    settings.WECHATPAY_CERT_SERIAL = MERCHANT_SERIAL
    settings.WECHATPAY_PRIVATE_KEY = keys["merchant_pem"]
    settings.WECHATPAY_APIV3_KEY = APIV3_KEY
    settings.WECHATPAY_PLATFORM_CERT = keys["platform_cert_pem"]
    settings.WECHATPAY_PLATFORM_SERIAL = ""
    settings.WECHATPAY_API_URL = wechat_api["base"]
    return WeChatGateway()


@pytest.fixture
def order(wechat, water):
    return services.start_checkout(
        lines=services.lines_for_bills([water["bills"][0].pk]),
        kind=OrderKind.BILLS,
        user=None,
        gateway_code="WECHAT",
        subject="滨江水务",
    )


def transaction(order, **changes) -> dict:
    return {
        "mchid": MCHID,
        "appid": APPID,
        "out_trade_no": order.order_no,
        "transaction_id": TRADE_NO,
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "success_time": "2026-11-27T10:00:00+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {"total": 10000, "payer_total": 10000, "currency": "CNY", "payer_currency": "CNY"},
        **changes,
    }


def notification(
    keys, resource: dict, *, key: str = APIV3_KEY, timestamp: int | None = None, serial=None, signer=None
) -> dict[str, str]:
    """Headers and body as WeChat posts them: the resource sealed with the APIv3 key (AES-256-GCM, a 12-byte
    nonce, associated data "transaction"), the whole body signed with the platform's private key."""
    nonce = uuid.uuid4().hex[:12]
    ciphertext = AESGCM(key.encode()).encrypt(nonce.encode(), json.dumps(resource).encode(), b"transaction")
    body = json.dumps(
        {
            "id": str(uuid.uuid4()),
            "create_time": "2026-11-27T10:00:01+08:00",
            "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS",
            "summary": "支付成功",
            "resource": {
                "original_type": "transaction",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "associated_data": "transaction",
                "nonce": nonce,
            },
        },
        ensure_ascii=False,
    )
    stamp, sig_nonce = str(timestamp or int(time.time())), uuid.uuid4().hex
    return {
        "body": body,
        "HTTP_WECHATPAY_TIMESTAMP": stamp,
        "HTTP_WECHATPAY_NONCE": sig_nonce,
        "HTTP_WECHATPAY_SERIAL": serial or keys["platform_serial"],
        "HTTP_WECHATPAY_SIGNATURE_TYPE": "WECHATPAY2-SHA256-RSA2048",
        "HTTP_WECHATPAY_SIGNATURE": sign_v3(signer or keys["platform"], f"{stamp}\n{sig_nonce}\n{body}\n"),
    }


def post(client, message: dict[str, str]):
    message = dict(message)
    body = message.pop("body")
    return client.post("/payments/notify/WECHAT/", body, content_type="application/json", **message)


def assert_refused(response, code: str, words: str = ""):
    """Refused with WeChat's FAIL answer, its message the reason (in Chinese, as WeChat asks in no other
    language), recorded for staff with its code, and nothing posted."""
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == "FAIL" and words in answer["message"], answer
    refused = GatewayNotification.objects.filter(result=NotificationResult.REJECTED).latest("pk")
    assert refused.note.startswith(f"{code}:"), refused.note
    assert answer["message"] in refused.note
    assert Payment.objects.count() == 0


# --- notifications ---


def test_a_notification_signed_and_encrypted_by_wechat_posts_the_payment(client, keys, order):
    response = post(client, notification(keys, transaction(order)))
    assert response.status_code == 204
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    payment = Payment.objects.get()
    assert payment.idempotency_key == f"WECHAT:{order.order_no}-0001"
    assert payment.channel_ref == TRADE_NO and payment.amount == Decimal("100.00")


def test_a_replayed_notification_is_applied_once(client, keys, order):
    message = notification(keys, transaction(order))
    assert post(client, message).status_code == 204
    assert post(client, message).status_code == 204  # acknowledged, so that WeChat stops sending it
    assert Payment.objects.count() == 1
    results = list(GatewayNotification.objects.filter(order=order).values_list("result", flat=True))
    assert len(results) == 2 and results.count(NotificationResult.DUPLICATE) == 1


def test_a_forged_signature_is_refused(client, keys, order):
    forger = _rsa_key()
    assert_refused(post(client, notification(keys, transaction(order), signer=forger)), "signature_invalid")
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING
    refused = GatewayNotification.objects.get()
    assert refused.result == NotificationResult.REJECTED and refused.note.startswith("signature_invalid")


def test_a_body_changed_after_signing_is_refused(client, keys, order):
    message = notification(keys, transaction(order))
    message["body"] = message["body"].replace("支付成功", "支付成功 ")
    assert_refused(post(client, message), "signature_invalid")


def test_a_notification_signed_with_another_serial_is_refused_without_asking_wechat(
    client, keys, order, wechat_api
):
    assert_refused(
        post(client, notification(keys, transaction(order), serial="7A0C1D")), "certificate_unknown", "7A0C1D"
    )
    assert wechat_api["calls"] == []  # the SDK did not go fetching certificates on the sender's word


def test_a_stale_notification_is_refused(client, keys, order):
    old = int(time.time()) - 301
    assert_refused(
        post(client, notification(keys, transaction(order), timestamp=old)), "notification_stale", "五分钟"
    )


def test_a_resource_encrypted_with_another_key_is_refused(client, keys, order):
    message = notification(keys, transaction(order), key="ffffffffffffffffffffffffffffffff")
    assert_refused(post(client, message), "decryption_failed")


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"amount": {"total": 1, "currency": "CNY"}}, "amount_mismatch", "0.01"),
        ({"appid": "wx0000000000000000"}, "merchant_mismatch", "wx0000000000000000"),
        ({"mchid": "1234567890"}, "merchant_mismatch", "1234567890"),
    ],
)
def test_a_genuine_notification_that_does_not_fit_the_order_is_refused(
    client, keys, order, change, code, words
):
    assert_refused(post(client, notification(keys, transaction(order, **change))), code, words)
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING


def test_a_notification_for_an_unknown_order_is_refused(client, keys, order):
    message = notification(keys, transaction(order, out_trade_no="NO-SUCH-ORDER"))
    assert_refused(post(client, message), "order_unknown", "NO-SUCH-ORDER")


def test_a_notification_that_is_not_json_is_refused(client, keys, order):
    stamp = str(int(time.time()))
    body = "trade_state=SUCCESS"
    message = {
        "body": body,
        "HTTP_WECHATPAY_TIMESTAMP": stamp,
        "HTTP_WECHATPAY_NONCE": "n",
        "HTTP_WECHATPAY_SERIAL": keys["platform_serial"],
        "HTTP_WECHATPAY_SIGNATURE": sign_v3(keys["platform"], f"{stamp}\nn\n{body}\n"),
    }
    assert_refused(post(client, message), "decryption_failed")


def test_a_forged_query_answer_is_refused(wechat, order):
    with pytest.raises(GatewayError) as refused:
        wechat.parse_notification(
            {"out_trade_no": order.order_no, "transaction": json.dumps(transaction(order)), "seal": "0" * 64}
        )
    assert refused.value.code == "signature_invalid"


def test_wechat_switched_off_has_no_notification_address(client, settings, keys, order):
    settings.WECHATPAY_ENABLED = False
    assert post(client, notification(keys, transaction(order))).status_code == 404
    assert Payment.objects.count() == 0


def test_wechat_is_off_in_the_demo_and_offered_only_when_configured(settings, wechat):
    assert "WECHAT" in [gateway.code for gateway in available_gateways()]
    settings.WECHATPAY_ENABLED = False
    assert "WECHAT" not in [gateway.code for gateway in available_gateways()]


def test_wechat_is_off_by_default():
    from config import settings as configured

    assert configured.WECHATPAY_ENABLED is False


# --- the merchant's calls, answered by the local v3 server ---


def test_the_native_order_gives_the_qr_code_link(wechat, order, wechat_api):
    code_url = wechat.native_code_url(order, notify_url="https://pay.example/payments/notify/WECHAT/")
    assert code_url == "weixin://wxpay/bizpayurl?pr=p4lpSuKzz"
    method, path, data = wechat_api["calls"][0]
    assert (method, path) == ("POST", "/v3/pay/transactions/native")
    assert data["amount"] == {"total": 10000, "currency": "CNY"}
    assert data["out_trade_no"] == order.order_no and data["mchid"] == MCHID and data["appid"] == APPID
    assert data["time_expire"].endswith("+08:00")


def test_the_wechat_page_shows_the_qr_code(client, order):
    response = client.get(f"/orders/{order.access_token}/wechat/")
    assert response.status_code == 200
    assert b"<svg" in response.content


def test_the_h5_order_sends_the_phone_to_wechat_and_back_to_the_order(client, order, wechat_api):
    response = client.post(f"/orders/{order.access_token}/wechat/h5/")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1")
    assert parse_qs(urlsplit(location).query)["redirect_url"][0].endswith(f"/orders/{order.access_token}/")
    _method, path, data = wechat_api["calls"][0]
    assert path == "/v3/pay/transactions/h5" and data["scene_info"]["h5_info"] == {"type": "Wap"}


def test_a_call_the_server_cannot_authenticate_is_refused(settings, wechat, order, wechat_api):
    settings.WECHATPAY_PRIVATE_KEY = (
        _rsa_key()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    with pytest.raises(GatewayError):
        wechat.native_code_url(order, notify_url="https://pay.example/n/")
    assert wechat_api["calls"] == []


def test_the_trade_query_settles_a_paid_order(wechat, order, wechat_api):
    wechat_api["transaction"] = transaction(order)
    answer = wechat.query(order)
    assert services._take_notice(wechat, answer, source="query") == NotificationResult.APPLIED
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert wechat_api["calls"][0][1] == f"/v3/pay/transactions/out-trade-no/{order.order_no}?mchid={MCHID}"


def test_the_trade_query_says_nothing_while_the_payer_has_not_paid(wechat, order, wechat_api):
    wechat_api["transaction"] = transaction(order, trade_state="NOTPAY")
    assert wechat.query(order) is None


def test_an_order_is_closed_at_wechat(wechat, order, wechat_api):
    assert wechat.close(order) is True
    method, path, data = wechat_api["calls"][0]
    assert (method, path, data) == (
        "POST",
        f"/v3/pay/transactions/out-trade-no/{order.order_no}/close",
        {"mchid": MCHID},
    )


def test_a_line_is_refunded_through_wechat(wechat, order, wechat_api):
    line = order.lines.get()
    result = wechat.refund(order=order, line=line, refund_no="R-0001")
    assert result.ok
    _method, path, data = wechat_api["calls"][0]
    assert path == "/v3/refund/domestic/refunds"
    assert data["amount"] == {"refund": 10000, "total": 10000, "currency": "CNY"}
    assert data["out_refund_no"] == "R-0001" and data["out_trade_no"] == order.order_no


def _bill(order, day: datetime.date) -> bytes:
    row = [
        f"{day} 10:00:00", APPID, MCHID, "0", "", TRADE_NO, order.order_no, "oUpF8u", "NATIVE", "SUCCESS",
        "OTHERS", "CNY", "100.00", "0.00", "", "", "0.00", "0.00", "", "", "滨江水务", "", "0.60000", "0.60%",
        "100.00", "0.00", "",
    ]  # fmt: skip
    header = (
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
        "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"
        "商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
    )
    totals = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
    lines = [
        header,
        ",".join(f"`{value}" for value in row),
        totals,
        "`1,`100.00,`0.00,`0.00,`0.60000,`100.00,`0.00",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def test_yesterdays_trade_bill_is_fetched_into_reconciliation(wechat, order, wechat_api):
    day = timezone.localdate() - datetime.timedelta(days=1)
    wechat_api["bill"] = _bill(order, day)
    result = fetch_wechat_trade_bill.apply(args=[day.isoformat()]).get()
    assert "refused" not in result, result
    statement = StatementFile.objects.get()
    assert statement.business_date == day
    assert wechat_api["calls"][0][1] == f"/v3/bill/tradebill?bill_date={day}&bill_type=ALL&tar_type=GZIP"


def test_a_trade_bill_that_does_not_match_its_hash_is_refused(wechat, order, wechat_api):
    wechat_api["bill"] = _bill(order, datetime.date(2026, 11, 27))
    original = WeChatServer._answer

    def tampered(self, status, payload=None, *, raw=None):
        return original(self, status, payload, raw=gzip.compress(b"X" + self.state["bill"]) if raw else None)

    WeChatServer._answer = tampered
    try:
        with pytest.raises(GatewayError) as refused:
            wechat.trade_bill(datetime.date(2026, 11, 27))
    finally:
        WeChatServer._answer = original
    assert refused.value.params["field"] == "hash_value"
    assert StatementFile.objects.count() == 0


class TestAnUnreadableKeyStopsTheStart:
    def test_a_placeholder_merchant_key(self, settings, wechat):
        settings.WECHATPAY_PRIVATE_KEY = "paste apiclient_key.pem here"
        assert [(e.id, e.msg) for e in checks.wechatpay_keys()] == [
            (
                "payers.E002",
                "WECHATPAY_PRIVATE_KEY cannot be read: not a PEM private key (apiclient_key.pem).",
            )
        ]

    def test_a_public_key_without_its_id(self, settings, wechat, keys):
        settings.WECHATPAY_PLATFORM_CERT = (
            keys["platform"]
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        assert [e.msg for e in checks.wechatpay_keys()] == [
            "WECHATPAY_PLATFORM_CERT cannot be read: WECHATPAY_PLATFORM_SERIAL must name the public key's id "
            "(PUB_KEY_ID_…)."
        ]

    def test_readable_keys_pass(self, wechat):
        assert checks.wechatpay_keys() == []


def test_wechat_pays_public_key_with_its_id_verifies_notifications(client, settings, keys, order):
    settings.WECHATPAY_PLATFORM_CERT = (
        keys["platform"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings.WECHATPAY_PLATFORM_SERIAL = "PUB_KEY_ID_0114232134912410000000000000"
    message = notification(keys, transaction(order), serial="PUB_KEY_ID_0114232134912410000000000000")
    assert post(client, message).status_code == 204
    assert Payment.objects.count() == 1


def test_an_abandoned_order_is_closed_at_wechat_and_here(wechat, order, wechat_api):
    wechat_api["transaction"] = transaction(order, trade_state="NOTPAY")
    GatewayOrder.objects.filter(pk=order.pk).update(created_at=timezone.now() - datetime.timedelta(days=1))
    assert services.query_pending_orders(older_than_minutes=30) == {"expired": 1}
    order.refresh_from_db()
    assert order.status == OrderStatus.CLOSED
    assert [path for _m, path, _d in wechat_api["calls"]][-1].endswith(f"/{order.order_no}/close")


def test_the_checkout_offers_wechat_only_when_it_is_switched_on(client, settings, wechat, water):
    settings.SANDBOX_BANK_ENABLED, settings.SANDBOX_BANK_KEY = True, "sandbox-test-key"
    address = f"/billers/{water['biller'].code}/?account_no=31005678"
    page = client.get(address).content.decode()
    assert 'value="WECHAT"' in page and 'value="SANDBOX"' in page
    settings.WECHATPAY_ENABLED = False
    page = client.get(address).content.decode()
    assert 'value="SANDBOX"' in page
    assert "WECHAT" not in page


def test_the_wechat_page_of_a_paid_order_shows_the_order(client, keys, order):
    assert post(client, notification(keys, transaction(order))).status_code == 204
    response = client.get(f"/orders/{order.access_token}/wechat/")
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.access_token}/"


def test_a_demo_apiv3_key_stops_a_production_start(settings, wechat):
    from config import checks as start_checks

    settings.DEBUG = False
    settings.WECHATPAY_APIV3_KEY = "changeme" * 4
    messages = [e.msg for e in start_checks.production_settings() if "WECHATPAY" in e.msg]
    assert messages and messages[0].startswith("WECHATPAY_APIV3_KEY cannot be used with DEBUG off")


def test_an_answer_not_signed_by_wechat_is_not_believed(client, wechat, order, wechat_api):
    wechat_api["signer"] = _rsa_key()  # a man in the middle answering for WeChat
    with pytest.raises(GatewayError) as refused:
        wechat.native_code_url(order, notify_url="https://pay.example/n/")
    assert refused.value.code == "gateway_unreachable"
    response = client.get(f"/orders/{order.access_token}/wechat/")
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.access_token}/"
    wechat_api["transaction"] = transaction(order)
    with pytest.raises(GatewayError):
        wechat.query(order)
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING and Payment.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_same_notification_arriving_twice_at_once_posts_once(keys, order):
    from django.db import connection

    message = notification(keys, transaction(order))
    params = {
        name[5:].lower().replace("_", "-"): value
        for name, value in message.items()
        if name.startswith("HTTP_")
    }
    params["body"] = message["body"]
    barrier, results = threading.Barrier(2), []

    def deliver():
        try:
            barrier.wait(timeout=10)
            results.append(services.apply_notification(gateway_code="WECHAT", params=params))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == sorted([NotificationResult.APPLIED, NotificationResult.DUPLICATE])
    assert Payment.objects.count() == 1
