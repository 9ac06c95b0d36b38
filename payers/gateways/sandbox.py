"""The portal's side of the built-in sandbox bank: the same shape as a real gateway adapter."""

import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from payers.choices import OrderStatus
from payers.exceptions import GatewayError
from payers.gateways import signing
from payers.gateways.base import (
    AgreementResult,
    DebitResult,
    Gateway,
    PaymentNotice,
    RefundResult,
    amount_field,
)

STATUSES = {"TRADE_SUCCESS": OrderStatus.PAID, "TRADE_CLOSED": OrderStatus.CLOSED}


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise GatewayError("message_invalid", field=name)
    return value


class SandboxGateway(Gateway):
    code = "SANDBOX"
    name = _("Sandbox bank (demo)")
    supports_agreements = True

    def enabled(self) -> bool:
        """On only while SANDBOX_BANK_ENABLED (default: DEBUG) and keyed: with no key nothing verifies."""
        return settings.SANDBOX_BANK_ENABLED and bool(self.key)

    @property
    def key(self) -> str:
        return settings.SANDBOX_BANK_KEY

    def _verified(self, params: dict[str, str]) -> dict[str, str]:
        if not signing.verify(params, self.key):
            raise GatewayError("signature_invalid")
        if params.get("merchant_id") != settings.SANDBOX_BANK_MERCHANT_ID:
            raise GatewayError("merchant_mismatch", merchant=params.get("merchant_id", "")[:32])
        return params

    def payment_url(self, order, *, notify_url: str, return_url: str) -> str:
        lines = order.lines.all()
        params = signing.signed(
            {
                "merchant_id": settings.SANDBOX_BANK_MERCHANT_ID,
                "out_trade_no": order.order_no,
                "total_amount": f"{order.amount:.2f}",
                "subject": order.subject,
                "sub_orders": ";".join(f"{line.line_no}:{line.amount:.2f}" for line in lines),
                "notify_url": notify_url,
                "return_url": return_url,
                "time_expire": order.expires_at.isoformat(),
            },
            self.key,
        )
        return f"/sandbox-bank/gateway/?{urlencode(params)}"

    def parse_notification(self, params: dict[str, str]) -> PaymentNotice:
        params = self._verified(params)
        status = STATUSES.get(params.get("trade_status", ""))
        if status is None:
            raise GatewayError("message_invalid", field="trade_status")
        sub_trades: dict[int, str] = {}
        for part in filter(None, params.get("sub_trades", "").split(";")):
            line_no, _sep, ref = part.partition(":")
            if not line_no.isdigit() or not ref:
                raise GatewayError("message_invalid", field="sub_trades")
            sub_trades[int(line_no)] = ref
        occurred_at = None
        if params.get("gmt_payment"):
            try:
                occurred_at = datetime.datetime.fromisoformat(params["gmt_payment"])
            except ValueError:
                raise GatewayError("message_invalid", field="gmt_payment") from None
        return PaymentNotice(
            order_no=_required(params, "out_trade_no"),
            trade_no=_required(params, "trade_no"),
            status=status,
            amount=amount_field(params, "total_amount"),
            sub_trades=sub_trades,
            occurred_at=occurred_at,
        )

    def parse_return(self, params: dict[str, str]) -> str:
        return _required(self._verified(params), "out_trade_no")

    def query(self, order) -> dict[str, str] | None:
        from payers.sandbox_bank import services as bank

        request = signing.signed(
            {"merchant_id": settings.SANDBOX_BANK_MERCHANT_ID, "out_trade_no": order.order_no}, self.key
        )
        return bank.query_api(request)

    def refund(self, *, order, line, refund_no: str) -> RefundResult:
        from payers.sandbox_bank import services as bank

        request = signing.signed(
            {
                "merchant_id": settings.SANDBOX_BANK_MERCHANT_ID,
                "out_trade_no": order.order_no,
                "sub_trade_no": line.sub_trade_no,
                "refund_no": refund_no,
                "refund_amount": f"{line.amount:.2f}",
            },
            self.key,
        )
        answer = bank.refund_api(request)
        if not signing.verify(answer, self.key):
            return RefundResult(ok=False, refund_no=refund_no, message="answer not signed by the bank")
        return RefundResult(
            ok=answer.get("code") == "SUCCESS", refund_no=refund_no, message=answer.get("msg", "")
        )

    def agreement_url(self, mandate, *, return_url: str) -> str:
        params = signing.signed(
            {
                "merchant_id": settings.SANDBOX_BANK_MERCHANT_ID,
                "external_agreement_no": mandate.public_id.hex,
                "max_amount": f"{mandate.cap_per_bill:.2f}",
                "valid_until": mandate.valid_until.isoformat(),
                "subject": f"{mandate.account.biller.display_name} {mandate.account.account_no}"[:120],
                "return_url": return_url,
            },
            self.key,
        )
        return f"/sandbox-bank/agreements/?{urlencode(params)}"

    def parse_agreement_return(self, params: dict[str, str]) -> AgreementResult:
        params = self._verified(params)
        signed = params.get("agreement_status") == "signed"
        agreement_no = params.get("agreement_no", "")
        if (signed and not agreement_no) or len(agreement_no) > 64:
            raise GatewayError("message_invalid", field="agreement_no")
        return AgreementResult(
            merchant_agreement_no=_required(params, "external_agreement_no")[:64],
            agreement_no=agreement_no if signed else "",
            signed=signed,
        )

    def _call(self, api, params: dict[str, str]) -> dict[str, str] | None:
        answer = api(signing.signed({"merchant_id": settings.SANDBOX_BANK_MERCHANT_ID, **params}, self.key))
        return answer if signing.verify(answer, self.key) else None

    def agreement_debit(self, *, agreement_no: str, out_trade_no: str, amount, subject: str) -> DebitResult:
        from payers.sandbox_bank import services as bank

        answer = self._call(
            bank.agreement_debit_api,
            {
                "agreement_no": agreement_no,
                "out_trade_no": out_trade_no,
                "total_amount": f"{amount:.2f}",
                "subject": subject[:120],
            },
        )
        if answer is None:
            return DebitResult(ok=False, message="answer not signed by the bank")
        ok = answer.get("code") == "SUCCESS" and answer.get("out_trade_no") == out_trade_no
        trade_no = answer.get("trade_no", "")[:64]
        return DebitResult(ok=ok and bool(trade_no), trade_no=trade_no, message=answer.get("msg", "")[:300])

    def end_agreement(self, *, agreement_no: str) -> bool:
        from payers.sandbox_bank import services as bank

        answer = self._call(bank.end_agreement, {"agreement_no": agreement_no})
        return answer is not None and answer.get("code") == "SUCCESS"

    def debit_refund(self, *, out_trade_no: str, amount, refund_no: str) -> RefundResult:
        from payers.sandbox_bank import services as bank

        answer = self._call(
            bank.refund_api,
            {"out_trade_no": out_trade_no, "refund_no": refund_no, "refund_amount": f"{amount:.2f}"},
        )
        if answer is None:
            return RefundResult(ok=False, refund_no=refund_no, message="answer not signed by the bank")
        return RefundResult(
            ok=answer.get("code") == "SUCCESS", refund_no=refund_no, message=answer.get("msg", "")
        )
