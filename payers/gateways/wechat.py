"""WeChat Pay API v3 (微信支付 APIv3) through the maintained SDK `wechatpayv3`: Native (QR code) and H5
orders, the asynchronous notification verified with the platform's key (platform certificate or 微信支付公钥)
and its resource decrypted with the APIv3 key (AES-256-GCM), trade query and close, refunds, and the trade
bill download that feeds reconciliation's WeChat statement adapter. Off unless WECHATPAY_ENABLED is set.

The SDK is given the platform's public key and its serial (for a certificate: the certificate's key and
serial), so it never fetches certificates from the network on an outsider's say-so: a notification with any
other serial is refused before the SDK sees it."""

import datetime
import functools
import gzip
import hashlib
import hmac
import io
import json
import time
import zoneinfo
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wechatpayv3 import WeChatPay, WeChatPayType

from payers.choices import OrderStatus
from payers.exceptions import GatewayError
from payers.gateways.base import Gateway, PaymentNotice, RefundResult

BEIJING = zoneinfo.ZoneInfo("Asia/Shanghai")
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
# WeChat signs its notifications when it sends them; an older signature is a replay (its documentation
# asks merchants to refuse timestamps more than five minutes off).
MAX_SKEW_SECONDS = 300
# The notification's fields as the notify view hands them over (lower-case header names, and the body).
HEADERS = ("wechatpay-timestamp", "wechatpay-nonce", "wechatpay-signature", "wechatpay-serial")
MAX_BODY = 16 * 1024

# trade_state → order status; NOTPAY/USERPAYING say nothing final and leave a pending order as it is.
STATUSES = {
    "SUCCESS": OrderStatus.PAID,
    "REFUND": OrderStatus.PAID,  # paid, then (partly) refunded: the payment happened
    "CLOSED": OrderStatus.CLOSED,
    "REVOKED": OrderStatus.CLOSED,
    "PAYERROR": OrderStatus.FAILED,
    "NOTPAY": OrderStatus.PENDING,
    "USERPAYING": OrderStatus.PENDING,
}


@functools.lru_cache(maxsize=8)
def merchant_private_key(text: str) -> str:
    """WECHATPAY_PRIVATE_KEY (apiclient_key.pem) as the SDK reads it: PKCS#8 PEM. ValueError if unreadable."""
    try:
        key = serialization.load_pem_private_key((text or "").strip().encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("not a PEM private key (apiclient_key.pem)") from None
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@functools.lru_cache(maxsize=8)
def platform_key(text: str, serial: str) -> tuple[str, str]:
    """WECHATPAY_PLATFORM_CERT as (public key PEM, serial): a platform certificate (its key and its serial
    in upper-case hex) or WeChat Pay's public key (微信支付公钥, with WECHATPAY_PLATFORM_SERIAL =
    its PUB_KEY_ID_…). ValueError if unreadable."""
    data = (text or "").strip().encode()
    try:
        if b"CERTIFICATE" in data:
            cert = x509.load_pem_x509_certificate(data)
            key, serial = cert.public_key(), serial or format(cert.serial_number, "X")
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise ValueError("neither a platform certificate nor a public key in PEM") from None
    if not serial:
        raise ValueError("WECHATPAY_PLATFORM_SERIAL must name the public key's id (PUB_KEY_ID_…)")
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode(), serial


def fen(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def yuan(value) -> Decimal:
    """WeChat's amounts are whole fen: a positive integer, and nothing else."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 10**12:
        raise GatewayError("message_invalid", field="amount.total")
    return (Decimal(value) / 100).quantize(Decimal("0.01"))


class WeChatGateway(Gateway):
    code = "WECHAT"
    name = _("WeChat Pay")

    def enabled(self) -> bool:
        return settings.WECHATPAY_ENABLED

    def client(self, kind: WeChatPayType = WeChatPayType.NATIVE) -> WeChatPay:
        public_key, serial = platform_key(
            settings.WECHATPAY_PLATFORM_CERT, settings.WECHATPAY_PLATFORM_SERIAL
        )
        pay = WeChatPay(
            wechatpay_type=kind,
            mchid=settings.WECHATPAY_MCHID,
            private_key=merchant_private_key(settings.WECHATPAY_PRIVATE_KEY),
            cert_serial_no=settings.WECHATPAY_CERT_SERIAL,
            appid=settings.WECHATPAY_APPID,
            apiv3_key=settings.WECHATPAY_APIV3_KEY,
            public_key=public_key,
            public_key_id=serial,
            timeout=(5, settings.WECHATPAY_TIMEOUT_SECONDS),
        )
        # The SDK keeps the API's address in this attribute (wechatpayv3 2.0.4, core.py): set from
        # WECHATPAY_API_URL so a test (or a proxy) can stand in for api.mch.weixin.qq.com.
        pay._core._gate_way = settings.WECHATPAY_API_URL.rstrip("/")
        return pay

    # --- orders ---

    def _order_fields(self, order, notify_url: str) -> dict:
        return {
            "description": order.subject[:127] or str(order.order_no),
            "out_trade_no": order.order_no,
            "amount": {"total": fen(order.amount), "currency": "CNY"},
            "time_expire": timezone.localtime(order.expires_at, BEIJING).isoformat(timespec="seconds"),
            "notify_url": notify_url,
        }

    def _send(self, call: Callable[[], tuple]) -> tuple:
        """One call through the SDK: a network failure, or an answer whose signature is not the platform's
        (the SDK checks it), is the gateway failing, not a crash."""
        try:
            return call()
        except GatewayError:
            raise
        except Exception as exc:  # requests' errors; the SDK's bare Exception for a bad signature
            raise GatewayError("gateway_unreachable", reason=str(exc)[:120]) from None

    def _call(self, call: Callable[[], tuple]) -> dict:
        code, body = self._send(call)
        if not 200 <= code < 300:
            raise GatewayError("message_invalid", field=f"HTTP {code}")
        try:
            return json.loads(body) if body else {}
        except (TypeError, ValueError):
            raise GatewayError("message_invalid", field="body") from None

    def native_code_url(self, order, *, notify_url: str) -> str:
        """Native payment (扫码支付): the weixin:// link the payer scans from a QR code."""
        answer = self._call(
            lambda: self.client(WeChatPayType.NATIVE).pay(
                pay_type=WeChatPayType.NATIVE, **self._order_fields(order, notify_url)
            )
        )
        code_url = answer.get("code_url", "")
        if not isinstance(code_url, str) or not code_url.startswith("weixin://"):
            raise GatewayError("message_invalid", field="code_url")
        return code_url

    def h5_url(self, order, *, notify_url: str, return_url: str, client_ip: str) -> str:
        """H5 payment (手机网站): the page in the phone's browser that opens WeChat; back to return_url."""
        answer = self._call(
            lambda: self.client(WeChatPayType.H5).pay(
                pay_type=WeChatPayType.H5,
                scene_info={"payer_client_ip": client_ip, "h5_info": {"type": "Wap"}},
                **self._order_fields(order, notify_url),
            )
        )
        h5_url = answer.get("h5_url", "")
        if not isinstance(h5_url, str) or not h5_url.startswith("https://"):
            raise GatewayError("message_invalid", field="h5_url")
        return f"{h5_url}&redirect_url={quote(return_url, safe='')}"

    def payment_url(self, order, *, notify_url: str, return_url: str) -> str:
        """Native, the portal's default for WeChat: a page of ours that shows the QR code."""
        return reverse("payers:wechat_pay", args=[order.access_token])

    # --- the notification ---

    def notification_params(self, request) -> dict[str, str]:
        """WeChat posts JSON and signs it in headers: both are what the notification is."""
        params = {name: request.headers.get(name, "")[:512] for name in HEADERS}
        params["wechatpay-signature-type"] = request.headers.get("Wechatpay-Signature-Type", "")[:64]
        params["body"] = request.body[: MAX_BODY + 1].decode("utf-8", errors="replace")
        return params

    def verify(self, params: dict[str, str]) -> dict:
        """The platform's signature over timestamp, nonce and body, with the configured key and serial, not
        older than five minutes; then the resource decrypted with the APIv3 key. The transaction it holds."""
        body = params.get("body", "")
        if len(body) > MAX_BODY:
            raise GatewayError("message_invalid", field="body")
        _, serial = platform_key(settings.WECHATPAY_PLATFORM_CERT, settings.WECHATPAY_PLATFORM_SERIAL)
        given_serial = params.get("wechatpay-serial", "")
        if not hmac.compare_digest(given_serial.upper(), serial.upper()):
            raise GatewayError("certificate_unknown", serial=given_serial[:64])
        try:
            signed_at = int(params.get("wechatpay-timestamp", ""))
        except ValueError:
            raise GatewayError("message_invalid", field="Wechatpay-Timestamp") from None
        if abs(time.time() - signed_at) > MAX_SKEW_SECONDS:
            raise GatewayError(
                "notification_stale",
                signed_at=datetime.datetime.fromtimestamp(signed_at, BEIJING).strftime("%Y-%m-%d %H:%M:%S")
                if 0 < signed_at < 10**11
                else str(signed_at)[:20],
            )
        headers = {
            "Wechatpay-Timestamp": params.get("wechatpay-timestamp", ""),
            "Wechatpay-Nonce": params.get("wechatpay-nonce", ""),
            "Wechatpay-Signature": params.get("wechatpay-signature", ""),
            "Wechatpay-Serial": serial,
            "Wechatpay-Signature-Type": params.get("wechatpay-signature-type") or SIGNATURE_TYPE,
        }
        core = self.client()._core
        try:
            valid = core._verify_signature(headers, body)
        except Exception:  # an unsupported signature type, a damaged signature: not WeChat's
            valid = False
        if not valid:
            raise GatewayError("signature_invalid")
        try:
            plain = core.decrypt_callback(headers, body)
        except Exception:  # another algorithm than AEAD_AES_256_GCM
            plain = None
        if not plain:
            raise GatewayError("decryption_failed")
        try:
            envelope, transaction = json.loads(body), json.loads(plain)
        except ValueError:
            raise GatewayError("message_invalid", field="resource") from None
        if not isinstance(transaction, dict) or envelope.get("resource", {}).get("original_type") not in (
            "transaction",
            None,
        ):
            raise GatewayError("message_invalid", field="resource")
        return transaction

    def seal(self, text: str) -> str:
        """Our own mark on an answer the SDK has verified (a trade query), so that it can be taken as a
        notification is: keyed with the APIv3 key, which no outsider holds."""
        return hmac.new(settings.WECHATPAY_APIV3_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()

    def parse_notification(self, params: dict[str, str]) -> PaymentNotice:
        if "seal" in params:  # a trade query's answer (see query)
            text = params.get("transaction", "")
            if not hmac.compare_digest(params["seal"], self.seal(text)):
                raise GatewayError("signature_invalid")
            try:
                transaction = json.loads(text)
            except ValueError:
                raise GatewayError("message_invalid", field="transaction") from None
        else:
            transaction = self.verify(params)
        if transaction.get("mchid") != settings.WECHATPAY_MCHID:
            raise GatewayError("merchant_mismatch", merchant=str(transaction.get("mchid", ""))[:32])
        if transaction.get("appid") != settings.WECHATPAY_APPID:
            raise GatewayError("merchant_mismatch", merchant=str(transaction.get("appid", ""))[:32])
        status = STATUSES.get(transaction.get("trade_state", ""))
        if status is None:
            raise GatewayError("message_invalid", field="trade_state")
        amount = transaction.get("amount") if isinstance(transaction.get("amount"), dict) else {}
        if amount.get("currency", "CNY") != "CNY":
            raise GatewayError("message_invalid", field="amount.currency")
        order_no, trade_no = transaction.get("out_trade_no"), transaction.get("transaction_id")
        if not isinstance(order_no, str) or not order_no or not isinstance(trade_no, str) or not trade_no:
            raise GatewayError("message_invalid", field="out_trade_no")
        return PaymentNotice(
            order_no=order_no, trade_no=trade_no, status=status, amount=yuan(amount.get("total"))
        )

    def notification_reply(self, *, accepted: bool, message: str = "") -> str:
        if accepted:
            return ""
        return json.dumps({"code": "FAIL", "message": message or "FAIL"}, ensure_ascii=False)

    def notification_http(self, *, accepted: bool, message: str = "") -> tuple[int, str, str]:
        """WeChat reads a 2xx as "received" and anything else as "send again": a refusal is a 400 with
        {"code": "FAIL", "message": …}."""
        if accepted:
            return 204, "application/json", ""
        return 400, "application/json", self.notification_reply(accepted=False, message=message)

    def parse_return(self, params: dict[str, str]) -> str:
        raise GatewayError("signature_invalid")  # WeChat's browser return carries nothing signed

    # --- our calls about an order ---

    def query(self, order) -> dict[str, str] | None:
        code, text = self._send(lambda: self.client().query(out_trade_no=order.order_no))
        if code != 200 or not isinstance(text, str):
            return None
        try:
            state = json.loads(text).get("trade_state")
        except (ValueError, AttributeError):
            return None
        if STATUSES.get(state, OrderStatus.PENDING) == OrderStatus.PENDING:
            return None
        return {"out_trade_no": order.order_no, "transaction": text, "seal": self.seal(text)}

    def close(self, order) -> bool:
        """Close an unpaid order at WeChat (关闭订单) so that it can no longer be paid."""
        code, _text = self._send(lambda: self.client().close(out_trade_no=order.order_no))
        return code == 204

    def refund(self, *, order, line, refund_no: str) -> RefundResult:
        try:
            code, text = self.client().refund(
                out_refund_no=refund_no,
                out_trade_no=order.order_no,
                amount={"refund": fen(line.amount), "total": fen(order.amount), "currency": "CNY"},
                reason="bill paid elsewhere",
            )
        except Exception as exc:  # network or signature failure: staff retry from the admin
            return RefundResult(ok=False, refund_no=refund_no, message=str(exc)[:200])
        try:
            status = json.loads(text).get("status") if code == 200 else None
        except (ValueError, AttributeError, TypeError):
            status = None
        return RefundResult(
            ok=status in ("SUCCESS", "PROCESSING"), refund_no=refund_no, message=str(text)[:200]
        )

    def trade_bill(self, day: datetime.date) -> bytes:
        """The merchant's trade bill (交易账单) for one day, as downloaded (gzip), its SHA1 checked."""
        pay = self.client()
        answer = self._call(
            lambda: pay.trade_bill(bill_date=day.isoformat(), bill_type="ALL", tar_type="GZIP")
        )
        url = answer.get("download_url", "")
        if not isinstance(url, str) or not url.startswith(settings.WECHATPAY_API_URL.rstrip("/") + "/"):
            raise GatewayError("message_invalid", field="download_url")
        code, data = self._send(lambda: pay.download_bill(url))
        limit = settings.UNTRUSTED_FILE_MAX_BYTES["statement"]
        if code != 200 or not isinstance(data, bytes) or len(data) > limit:
            raise GatewayError("message_invalid", field=f"HTTP {code}")
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as packed:
                plain = packed.read(limit + 1)
        except (OSError, EOFError):
            raise GatewayError("message_invalid", field="bill") from None
        if len(plain) > limit:
            raise GatewayError("message_invalid", field="bill")
        if answer.get("hash_type") != "SHA1" or not hmac.compare_digest(
            hashlib.sha1(plain).hexdigest(),
            str(answer.get("hash_value", "")).lower(),
        ):
            raise GatewayError("message_invalid", field="hash_value")
        return data
