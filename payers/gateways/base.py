"""What every gateway adapter provides."""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from billing.exceptions import PaymentRefused
from billing.money import parse_amount
from payers.choices import OrderStatus
from payers.exceptions import GatewayError


def amount_field(params: dict[str, str], name: str) -> Decimal:
    """A bank's amount field, read by the platform's one money parser: yuan with at most two decimals,
    positive, finite; anything else makes the message invalid."""
    try:
        return parse_amount(params.get(name, ""))
    except PaymentRefused:
        raise GatewayError("message_invalid", field=name) from None


@dataclass(frozen=True)
class PaymentNotice:
    """A verified statement from the bank about one order."""

    order_no: str
    trade_no: str
    status: str  # an OrderStatus: PAID, FAILED or CLOSED
    amount: Decimal
    sub_trades: dict[int, str] = field(default_factory=dict)  # line number → the bank's sub-trade number
    occurred_at: datetime.datetime | None = None

    @property
    def is_paid(self) -> bool:
        return self.status == OrderStatus.PAID

    def trade_ref_for(self, line_no: int) -> str:
        return self.sub_trades.get(line_no) or self.trade_no


@dataclass(frozen=True)
class RefundResult:
    ok: bool
    refund_no: str
    message: str = ""


@dataclass(frozen=True)
class AgreementResult:
    """The bank's verified word on an agreement the payer was sent to sign (代扣签约)."""

    merchant_agreement_no: str
    agreement_no: str  # empty unless signed
    signed: bool


@dataclass(frozen=True)
class DebitResult:
    """The bank's verified answer to an agreement debit."""

    ok: bool
    trade_no: str = ""
    message: str = ""


class Gateway:
    code: str = ""
    name: str = ""
    # Whether the gateway offers agreement debits (代扣) to auto-pay mandates.
    supports_agreements: bool = False

    def enabled(self) -> bool:
        return True

    def payment_url(self, order, *, notify_url: str, return_url: str) -> str:
        """Where to send the payer's browser to pay the order on the bank's hosted page."""
        raise NotImplementedError

    def parse_notification(self, params: dict[str, str]) -> PaymentNotice:
        """Verify the bank's asynchronous notification; raise GatewayError when it cannot be trusted."""
        raise NotImplementedError

    def notification_params(self, request) -> dict[str, str]:
        """The notification as `parse_notification` reads it: the posted form, for most banks."""
        return request.POST.dict()

    def notification_reply(self, *, accepted: bool) -> str:
        """The body the bank expects back, so that it stops (or keeps) re-sending."""
        return "success" if accepted else "fail"

    def notification_http(self, *, accepted: bool, message: str = "") -> tuple[int, str, str]:
        """(HTTP status, content type, body) of the answer to a notification; `message` says why it was
        refused, for the banks whose answer carries one."""
        return 200, "text/plain", self.notification_reply(accepted=accepted)

    def parse_return(self, params: dict[str, str]) -> str:
        """Verify the browser's return from the bank and give the order number. The return never posts a
        payment: it only tells the portal which order page to show."""
        raise NotImplementedError

    def query(self, order) -> dict[str, str] | None:
        """Ask the bank about an order whose notification has not come: the bank's signed answer in the
        notification's format (fed to `parse_notification`), or None while it has nothing final to say."""
        return None

    def close(self, order) -> bool:
        """Close an unpaid order at the bank so that it can no longer be paid; False when it cannot."""
        return False

    def refund(self, *, order, line, refund_no: str) -> RefundResult:
        raise NotImplementedError

    def agreement_url(self, mandate, *, return_url: str) -> str:
        """Where to send the citizen's browser to sign the mandate's debit agreement at the bank."""
        raise NotImplementedError

    def parse_agreement_return(self, params: dict[str, str]) -> AgreementResult:
        """Verify the browser's return from the agreement page; GatewayError when it cannot be trusted."""
        raise NotImplementedError

    def agreement_debit(self, *, agreement_no: str, out_trade_no: str, amount, subject: str) -> DebitResult:
        """Debit under a signed agreement, server to server; the bank takes money once per `out_trade_no`."""
        raise NotImplementedError

    def end_agreement(self, *, agreement_no: str) -> bool:
        raise NotImplementedError

    def debit_refund(self, *, out_trade_no: str, amount, refund_no: str) -> RefundResult:
        """Give back an agreement debit's money (it was paid elsewhere meanwhile)."""
        raise NotImplementedError
