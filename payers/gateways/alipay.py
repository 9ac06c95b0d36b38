"""Alipay mobile-web payment (手机网站支付, alipay.trade.wap.pay) through Alipay's own SDK for Python
(`alipay-sdk-python`): RSA2 (SHA256withRSA) request signatures with the merchant's key, and the
asynchronous notification verified with Alipay's public key. Off unless ALIPAY_ENABLED is set."""

import base64
import functools
import zoneinfo

from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.domain.AlipayTradeRefundModel import AlipayTradeRefundModel
from alipay.aop.api.domain.AlipayTradeWapPayModel import AlipayTradeWapPayModel
from alipay.aop.api.request.AlipayTradeRefundRequest import AlipayTradeRefundRequest
from alipay.aop.api.request.AlipayTradeWapPayRequest import AlipayTradeWapPayRequest
from alipay.aop.api.util.SignatureUtils import get_sign_content, verify_with_rsa
from Crypto.PublicKey import RSA
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from payers.choices import OrderStatus
from payers.exceptions import GatewayError
from payers.gateways.base import Gateway, PaymentNotice, RefundResult, amount_field

# trade_status → order status; WAIT_BUYER_PAY says nothing new and leaves a pending order as it is.
STATUSES = {
    "TRADE_SUCCESS": OrderStatus.PAID,
    "TRADE_FINISHED": OrderStatus.PAID,
    "TRADE_CLOSED": OrderStatus.CLOSED,
    "WAIT_BUYER_PAY": OrderStatus.PENDING,
}

BEIJING = zoneinfo.ZoneInfo("Asia/Shanghai")


def _key_body(pem: str) -> str:
    """The SDK wants keys without their PEM markers (it adds its own)."""
    lines = [line.strip() for line in (pem or "").strip().splitlines()]
    return "".join(line for line in lines if line and not line.startswith("-----"))


@functools.lru_cache(maxsize=8)  # read once per key, not on every notification
def _rsa_key(text: str) -> RSA.RsaKey:
    """An RSA key as merchants hold them: PEM (PKCS#1 or PKCS#8) or, as Alipay's key tool saves them, the
    bare base64 body. ValueError when it is none of these."""
    text = (text or "").strip()
    try:
        data = (
            text.encode()
            if text.startswith("-----")
            else base64.b64decode("".join(text.split()), validate=True)
        )
        return RSA.import_key(data)
    except (ValueError, IndexError, TypeError):
        raise ValueError("not an RSA key in PEM or base64") from None


def merchant_private_key() -> str:
    """ALIPAY_APP_PRIVATE_KEY as the SDK signs with it: the PKCS#1 body. `openssl genrsa` (OpenSSL 3) and
    Alipay's key tool for Java write PKCS#8 ("BEGIN PRIVATE KEY"), which the SDK cannot read: every payment
    request would fail, so the key is converted here, and checked at start (payers/checks.py)."""
    key = _rsa_key(settings.ALIPAY_APP_PRIVATE_KEY)
    if not key.has_private():
        raise ValueError("a public key, not the merchant's private key")
    return _key_body(key.export_key(format="PEM", pkcs=1).decode())


def alipay_public_key() -> str:
    """ALIPAY_PUBLIC_KEY as the SDK verifies with it: the X.509 SubjectPublicKeyInfo body, whatever form it
    was saved in (a PKCS#1 "BEGIN RSA PUBLIC KEY" would otherwise fail every notification's signature)."""
    return _key_body(_rsa_key(settings.ALIPAY_PUBLIC_KEY).public_key().export_key(format="PEM").decode())


class AlipayGateway(Gateway):
    code = "ALIPAY"
    name = _("Alipay")

    def enabled(self) -> bool:
        return settings.ALIPAY_ENABLED

    def client(self) -> DefaultAlipayClient:
        config = AlipayClientConfig()
        config.server_url = settings.ALIPAY_GATEWAY_URL
        config.app_id = settings.ALIPAY_APP_ID
        config.app_private_key = merchant_private_key()
        config.alipay_public_key = alipay_public_key()
        config.sign_type = "RSA2"
        return DefaultAlipayClient(alipay_client_config=config)

    def payment_url(self, order, *, notify_url: str, return_url: str) -> str:
        model = AlipayTradeWapPayModel()
        model.out_trade_no = order.order_no
        model.total_amount = f"{order.amount:.2f}"
        model.subject = order.subject
        model.product_code = "QUICK_WAP_WAY"
        # Absolute, in Beijing time: a payer who opens the page late does not get a fresh window.
        model.time_expire = timezone.localtime(order.expires_at, BEIJING).strftime("%Y-%m-%d %H:%M")
        request = AlipayTradeWapPayRequest(biz_model=model)
        request.notify_url = notify_url
        request.return_url = return_url
        return self.client().page_execute(request, http_method="GET")

    def verify(self, params: dict[str, str]) -> dict[str, str]:
        """Alipay's rule: drop `sign` and `sign_type`, sort the rest, join `k=v` with `&`, check the RSA2
        signature with Alipay's public key; then the notification must be for our app (and seller)."""
        sign = params.get("sign", "")
        content = get_sign_content({k: v for k, v in params.items() if k not in ("sign", "sign_type")})
        try:
            valid = bool(sign) and verify_with_rsa(alipay_public_key(), content.encode("utf-8"), sign)
        except Exception:  # rsa.VerificationError, bad base64, bad key: all mean "not Alipay's"
            valid = False
        if not valid:
            raise GatewayError("signature_invalid")
        if params.get("app_id") != settings.ALIPAY_APP_ID:
            raise GatewayError("merchant_mismatch", merchant=params.get("app_id", "")[:32])
        # The seller (收款支付宝账号, the 2088… PID) when configured: an app may serve more than one seller.
        if settings.ALIPAY_SELLER_ID and params.get("seller_id") != settings.ALIPAY_SELLER_ID:
            raise GatewayError("merchant_mismatch", merchant=params.get("seller_id", "")[:32])
        return params

    def parse_notification(self, params: dict[str, str]) -> PaymentNotice:
        params = self.verify(params)
        status = STATUSES.get(params.get("trade_status", ""))
        if status is None:
            raise GatewayError("message_invalid", field="trade_status")
        amount = amount_field(params, "total_amount")
        if not params.get("out_trade_no") or not params.get("trade_no"):
            raise GatewayError("message_invalid", field="out_trade_no")
        return PaymentNotice(
            order_no=params["out_trade_no"], trade_no=params["trade_no"], status=status, amount=amount
        )

    def notification_reply(self, *, accepted: bool) -> str:
        return "success" if accepted else "failure"

    def parse_return(self, params: dict[str, str]) -> str:
        return self.verify(params).get("out_trade_no", "")

    def refund(self, *, order, line, refund_no: str) -> RefundResult:
        model = AlipayTradeRefundModel()
        model.out_trade_no = order.order_no
        model.refund_amount = f"{line.amount:.2f}"
        model.out_request_no = refund_no
        model.refund_reason = "bill paid elsewhere"
        try:
            answer = self.client().execute(AlipayTradeRefundRequest(biz_model=model))
        except Exception as exc:  # network or signature failure: staff retry from the admin
            return RefundResult(ok=False, refund_no=refund_no, message=str(exc)[:200])
        return RefundResult(ok='"code":"10000"' in answer, refund_no=refund_no, message=answer[:200])
