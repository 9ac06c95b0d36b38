"""Alipay mobile-web payment (手机网站支付, alipay.trade.wap.pay) through Alipay's own SDK for Python
(`alipay-sdk-python`): RSA2 (SHA256withRSA) request signatures with the merchant's key, and the
asynchronous notification verified with Alipay's public key. Off unless ALIPAY_ENABLED is set.

It also funds auto-pay mandates by Alipay's merchant withholding (商户代扣): the citizen signs the agreement
on Alipay's page (alipay.user.agreement.page.sign, our mandate's public id as `external_agreement_no`), each
debit is an alipay.trade.pay with product_code GENERAL_WITHHOLDING and the agreement's number, and the
SDK checks every answer's signature with Alipay's public key before it is read."""

import base64
import functools
import json
import zoneinfo
from urllib.parse import urljoin

from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.domain.AccessParams import AccessParams
from alipay.aop.api.domain.AgreementParams import AgreementParams
from alipay.aop.api.domain.AlipayTradePayModel import AlipayTradePayModel
from alipay.aop.api.domain.AlipayTradeRefundModel import AlipayTradeRefundModel
from alipay.aop.api.domain.AlipayTradeWapPayModel import AlipayTradeWapPayModel
from alipay.aop.api.domain.AlipayUserAgreementPageSignModel import AlipayUserAgreementPageSignModel
from alipay.aop.api.domain.AlipayUserAgreementUnsignModel import AlipayUserAgreementUnsignModel
from alipay.aop.api.request.AlipayTradePayRequest import AlipayTradePayRequest
from alipay.aop.api.request.AlipayTradeRefundRequest import AlipayTradeRefundRequest
from alipay.aop.api.request.AlipayTradeWapPayRequest import AlipayTradeWapPayRequest
from alipay.aop.api.request.AlipayUserAgreementPageSignRequest import AlipayUserAgreementPageSignRequest
from alipay.aop.api.request.AlipayUserAgreementUnsignRequest import AlipayUserAgreementUnsignRequest
from alipay.aop.api.util.SignatureUtils import get_sign_content, verify_with_rsa
from Crypto.PublicKey import RSA
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from payers.choices import OrderStatus
from payers.exceptions import GatewayError
from payers.gateways.base import (
    AgreementResult,
    DebitResult,
    Gateway,
    PaymentNotice,
    RefundResult,
    amount_field,
)

# trade_status → order status; WAIT_BUYER_PAY says nothing new and leaves a pending order as it is.
STATUSES = {
    "TRADE_SUCCESS": OrderStatus.PAID,
    "TRADE_FINISHED": OrderStatus.PAID,
    "TRADE_CLOSED": OrderStatus.CLOSED,
    "WAIT_BUYER_PAY": OrderStatus.PENDING,
}

BEIJING = zoneinfo.ZoneInfo("Asia/Shanghai")

# 商户代扣: the citizen's product (personal_product_code) and the merchant's (product_code), fixed by Alipay.
PERSONAL_WITHHOLDING = "GENERAL_WITHHOLDING_P"
WITHHOLDING = "GENERAL_WITHHOLDING"
# An agreement's status in Alipay's sign notification/return: NORMAL is signed; TEMP (never took effect)
# and STOP (ended) are not.
AGREEMENT_STATUSES = {"NORMAL": True, "TEMP": False, "STOP": False, "UNSIGN": False}
SUCCESS = "10000"  # Alipay's gateway code for a call that did what was asked


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

    supports_agreements = True

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
        params = self._verify_app(params)
        # The seller (收款支付宝账号, the 2088… PID) when configured: an app may serve more than one seller.
        if settings.ALIPAY_SELLER_ID and params.get("seller_id") != settings.ALIPAY_SELLER_ID:
            raise GatewayError("merchant_mismatch", merchant=params.get("seller_id", "")[:32])
        return params

    def _verify_app(self, params: dict[str, str]) -> dict[str, str]:
        """Signed by Alipay and for our app: what every message from Alipay must be (an agreement's names
        no seller, as no money moves when it is signed)."""
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

    def _call(self, request, response_key: str) -> dict:
        """Execute a server-to-server call: the SDK signs it with the merchant's key, and raises unless the
        answer is signed with Alipay's public key; the answer's fields as a dict."""
        answer = json.loads(self.client().execute(request))
        if not isinstance(answer, dict):  # the SDK hands back the signed `<method>_response` object
            raise GatewayError("message_invalid", field=response_key)
        return answer

    def _refund(self, *, out_trade_no: str, amount, refund_no: str) -> RefundResult:
        model = AlipayTradeRefundModel()
        model.out_trade_no = out_trade_no
        model.refund_amount = f"{amount:.2f}"
        model.out_request_no = refund_no
        model.refund_reason = "bill paid elsewhere"
        try:
            answer = self._call(AlipayTradeRefundRequest(biz_model=model), "alipay_trade_refund_response")
        except Exception as exc:  # network, signature or shape failure: staff retry from the admin
            return RefundResult(ok=False, refund_no=refund_no, message=str(exc)[:200])
        return RefundResult(
            ok=answer.get("code") == SUCCESS and answer.get("out_trade_no", out_trade_no) == out_trade_no,
            refund_no=refund_no,
            message=json.dumps(answer, ensure_ascii=False)[:200],
        )

    def refund(self, *, order, line, refund_no: str) -> RefundResult:
        return self._refund(out_trade_no=order.order_no, amount=line.amount, refund_no=refund_no)

    def debit_refund(self, *, out_trade_no: str, amount, refund_no: str) -> RefundResult:
        return self._refund(out_trade_no=out_trade_no, amount=amount, refund_no=refund_no)

    def agreement_url(self, mandate, *, return_url: str) -> str:
        """Alipay's page to sign the withholding agreement (支付宝个人协议页面签约), signed with the
        merchant's key; the mandate's public id is the agreement's external number, repeated by the return."""
        model = AlipayUserAgreementPageSignModel()
        model.personal_product_code = PERSONAL_WITHHOLDING
        model.product_code = WITHHOLDING
        model.sign_scene = settings.ALIPAY_AGREEMENT_SIGN_SCENE
        model.external_agreement_no = mandate.public_id.hex
        access = AccessParams()
        access.channel = "ALIPAYAPP"
        model.access_params = access
        request = AlipayUserAgreementPageSignRequest(biz_model=model)
        request.return_url = return_url
        # Alipay tells the sign result only to this address (the browser's return carries nothing signed).
        request.notify_url = urljoin(return_url, reverse("payers:autopay_notify", args=[self.code]))
        return self.client().page_execute(request, http_method="GET")

    def parse_agreement_return(self, params: dict[str, str]) -> AgreementResult:
        """The agreement's signed return (the fields of Alipay's dut_user_sign notification): Alipay's
        signature and our app, our external number (the mandate), and Alipay's agreement number if signed."""
        params = self._verify_app(params)
        signed = AGREEMENT_STATUSES.get(params.get("status", ""))
        if signed is None:
            raise GatewayError("message_invalid", field="status")
        external = params.get("external_agreement_no", "")
        if not external or len(external) > 64:
            raise GatewayError("message_invalid", field="external_agreement_no")
        agreement_no = params.get("agreement_no", "")
        if (signed and not agreement_no) or len(agreement_no) > 64:
            raise GatewayError("message_invalid", field="agreement_no")
        return AgreementResult(
            merchant_agreement_no=external, agreement_no=agreement_no if signed else "", signed=signed
        )

    def agreement_debit(self, *, agreement_no: str, out_trade_no: str, amount, subject: str) -> DebitResult:
        """alipay.trade.pay under the agreement (商户代扣): Alipay takes the money once per out_trade_no, so a
        retry after a lost answer cannot debit twice."""
        agreement = AgreementParams()
        agreement.agreement_no = agreement_no
        model = AlipayTradePayModel()
        model.out_trade_no = out_trade_no
        model.total_amount = f"{amount:.2f}"
        model.subject = subject[:120]
        model.product_code = WITHHOLDING
        model.agreement_params = agreement
        try:
            answer = self._call(AlipayTradePayRequest(biz_model=model), "alipay_trade_pay_response")
        except Exception as exc:  # network failure, or an answer not signed by Alipay: not believed
            return DebitResult(ok=False, message=f"{type(exc).__name__}: {exc}"[:300])
        trade_no = str(answer.get("trade_no", ""))[:64]
        ok = (
            answer.get("code") == SUCCESS
            and answer.get("out_trade_no") == out_trade_no
            and answer.get("total_amount", f"{amount:.2f}") == f"{amount:.2f}"
            and bool(trade_no)
        )
        message = " ".join(str(answer.get(k, "")) for k in ("code", "msg", "sub_code", "sub_msg")).strip()
        return DebitResult(ok=ok, trade_no=trade_no if ok else "", message=message[:300])

    def end_agreement(self, *, agreement_no: str) -> bool:
        model = AlipayUserAgreementUnsignModel()
        model.agreement_no = agreement_no
        model.personal_product_code = PERSONAL_WITHHOLDING
        model.sign_scene = settings.ALIPAY_AGREEMENT_SIGN_SCENE
        answer = self._call(
            AlipayUserAgreementUnsignRequest(biz_model=model), "alipay_user_agreement_unsign_response"
        )
        return answer.get("code") == SUCCESS
