"""The built-in sandbox bank: it behaves like a real acquiring bank towards the portal.

It takes a signed payment request through the payer's browser, shows its own cashier page, sends the
merchant a signed asynchronous notification by HTTP POST (a Celery task that retries until the merchant
answers "success"), sends the browser back with a signed return, and answers signed refund requests. It
keeps its own book (`SandboxBankTrade`); the portal never reads that book.
"""

import datetime
import secrets
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from payers import locks
from payers.choices import AgreementStatus, BankTradeStatus
from payers.gateways import signing
from payers.models import SandboxBankAgreement, SandboxBankTrade

REQUIRED = ("merchant_id", "out_trade_no", "total_amount", "subject", "notify_url", "return_url")


class BankRefused(Exception):
    """The bank's cashier refuses the request (bad signature, bad data)."""


def _key() -> str:
    return settings.SANDBOX_BANK_KEY


def new_trade_no() -> str:
    return f"SBX{timezone.localdate():%Y%m%d}{secrets.randbelow(10**10):010d}"


def open_trade(params: dict[str, str]) -> SandboxBankTrade:
    """Accept a merchant's signed payment request; the same merchant order opens the same trade again."""
    if not signing.verify(params, _key()):
        raise BankRefused("bad signature")
    if (
        any(not params.get(name) for name in REQUIRED)
        or params["merchant_id"] != settings.SANDBOX_BANK_MERCHANT_ID
    ):
        raise BankRefused("missing fields")
    try:
        amount = Decimal(params["total_amount"])
        subs = [part.split(":") for part in filter(None, params.get("sub_orders", "").split(";"))]
        sub_orders = [{"no": int(no), "amount": str(Decimal(value))} for no, value in subs]
    except (InvalidOperation, ValueError):
        raise BankRefused("bad amounts") from None
    if sub_orders and sum(Decimal(sub["amount"]) for sub in sub_orders) != amount:
        raise BankRefused("sub-orders do not add up")
    try:
        expires_at = (
            datetime.datetime.fromisoformat(params["time_expire"]) if params.get("time_expire") else None
        )
    except ValueError:
        raise BankRefused("bad time_expire") from None
    if expires_at is not None and timezone.is_naive(expires_at):
        raise BankRefused("time_expire needs a UTC offset")
    if expires_at is not None and expires_at <= timezone.now():
        raise BankRefused("the order's time to pay has passed")
    trade, _created = SandboxBankTrade.objects.get_or_create(
        merchant_order_no=params["out_trade_no"],
        defaults={
            "trade_no": new_trade_no(),
            "amount": amount,
            "subject": params["subject"][:120],
            "sub_orders": sub_orders,
            "notify_url": params["notify_url"],
            "return_url": params["return_url"],
            "expires_at": expires_at,
        },
    )
    return trade


def _expired(trade: SandboxBankTrade) -> bool:
    return trade.expires_at is not None and trade.expires_at <= timezone.now()


def _close_if_expired(trade: SandboxBankTrade) -> None:
    """Like a real bank, close a trade nobody paid in its window; it can then never be paid."""
    if trade.status == BankTradeStatus.WAITING and _expired(trade):
        trade.status = BankTradeStatus.CLOSED
        trade.save(update_fields=["status"])


def _sub_trades(trade: SandboxBankTrade) -> str:
    """Combined payment: each sub-order gets its own trade number, as in Alipay's 合并支付."""
    return ";".join(f"{sub['no']}:{trade.trade_no}-{sub['no']}" for sub in trade.sub_orders)


def finish_trade(*, trade_no: str, pay: bool) -> SandboxBankTrade:
    """The payer confirmed (or gave up) on the cashier page. The merchant hears of it by notification."""
    from payers import tasks

    with transaction.atomic():
        trade = locks.lock_bank_trade(trade_no)
        if _expired(trade):
            pay = False  # too late: the cashier closes the trade instead of taking the money
        if trade.status == BankTradeStatus.WAITING:
            trade.status = BankTradeStatus.SUCCESS if pay else BankTradeStatus.CLOSED
            trade.paid_at = timezone.now() if pay else None
            trade.save(update_fields=["status", "paid_at"])
            transaction.on_commit(lambda: tasks.sandbox_bank_notify.delay(trade.pk))
    return trade


def notification_params(trade: SandboxBankTrade) -> dict[str, str]:
    status = (
        "TRADE_SUCCESS"
        if trade.status in (BankTradeStatus.SUCCESS, BankTradeStatus.REFUNDED)
        else "TRADE_CLOSED"
    )
    params = {
        "merchant_id": settings.SANDBOX_BANK_MERCHANT_ID,
        "notify_id": secrets.token_hex(8),
        "out_trade_no": trade.merchant_order_no,
        "trade_no": trade.trade_no,
        "trade_status": status,
        "total_amount": f"{trade.amount:.2f}",
        "sub_trades": _sub_trades(trade) if status == "TRADE_SUCCESS" else "",
        "gmt_payment": trade.paid_at.isoformat() if trade.paid_at else "",
    }
    return signing.signed(params, _key())


def return_params(trade: SandboxBankTrade) -> dict[str, str]:
    return signing.signed(
        {
            "merchant_id": settings.SANDBOX_BANK_MERCHANT_ID,
            "out_trade_no": trade.merchant_order_no,
            "trade_no": trade.trade_no,
        },
        _key(),
    )


def refund_api(params: dict[str, str]) -> dict[str, str]:
    """The bank's refund interface: signed request in, signed answer out; idempotent on `refund_no`."""

    def answer(code: str, msg: str) -> dict[str, str]:
        return signing.signed({"code": code, "msg": msg, "refund_no": params.get("refund_no", "")}, _key())

    if not signing.verify(params, _key()):
        return answer("FAIL", "bad signature")
    with transaction.atomic():
        trade = locks.lock_bank_trade_of_merchant_order(params.get("out_trade_no", ""))
        if trade is None or trade.status not in (BankTradeStatus.SUCCESS, BankTradeStatus.REFUNDED):
            return answer("FAIL", "trade not paid")
        if any(refund["refund_no"] == params.get("refund_no") for refund in trade.refunds):
            return answer("SUCCESS", "already refunded")
        try:
            amount = Decimal(params.get("refund_amount", ""))
        except InvalidOperation:
            return answer("FAIL", "bad amount")
        refunded = sum((Decimal(refund["amount"]) for refund in trade.refunds), Decimal("0"))
        if amount <= 0 or refunded + amount > trade.amount:
            return answer("FAIL", "refund exceeds the trade")
        trade.refunds = [
            *trade.refunds,
            {
                "refund_no": params["refund_no"],
                "amount": str(amount),
                "sub_trade_no": params.get("sub_trade_no", ""),
            },
        ]
        trade.status = BankTradeStatus.REFUNDED
        trade.save(update_fields=["refunds", "status"])
    return answer("SUCCESS", "refunded")


def query_api(params: dict[str, str]) -> dict[str, str] | None:
    """The bank's trade query: a finished trade's signed notification content, None while it waits."""
    if not signing.verify(params, _key()):
        return None
    with transaction.atomic():
        trade = locks.lock_bank_trade_of_merchant_order(params.get("out_trade_no", ""))
        if trade is not None:
            _close_if_expired(trade)
    if trade is None or trade.status == BankTradeStatus.WAITING:
        return None
    return notification_params(trade)


# Agreement debit (代扣): the payer signs an agreement once on the bank's page; the merchant's server then
# debits with the agreement number, once per merchant order number.

AGREEMENT_REQUIRED = (
    "merchant_id",
    "external_agreement_no",
    "max_amount",
    "valid_until",
    "subject",
    "return_url",
)


def new_agreement_no() -> str:
    return f"SBA{timezone.localdate():%Y%m%d}{secrets.randbelow(10**10):010d}"


def open_agreement(params: dict[str, str]) -> SandboxBankAgreement:
    """Accept a merchant's signed agreement request; the same merchant agreement opens the same one again."""
    if not signing.verify(params, _key()):
        raise BankRefused("bad signature")
    if (
        any(not params.get(name) for name in AGREEMENT_REQUIRED)
        or params["merchant_id"] != settings.SANDBOX_BANK_MERCHANT_ID
    ):
        raise BankRefused("missing fields")
    try:
        max_amount = Decimal(params["max_amount"])
        valid_until = datetime.date.fromisoformat(params["valid_until"])
    except (InvalidOperation, ValueError):
        raise BankRefused("bad amount or date") from None
    if not max_amount.is_finite() or max_amount <= 0 or valid_until < timezone.localdate():
        raise BankRefused("bad amount or date")
    agreement, _created = SandboxBankAgreement.objects.get_or_create(
        merchant_agreement_no=params["external_agreement_no"][:64],
        defaults={
            "agreement_no": new_agreement_no(),
            "max_amount": max_amount,
            "valid_until": valid_until,
            "subject": params["subject"][:120],
            "return_url": params["return_url"],
        },
    )
    return agreement


def finish_agreement(*, agreement_no: str, sign: bool) -> SandboxBankAgreement:
    """The payer signed (or declined) the agreement on the bank's page."""
    with transaction.atomic():
        agreement = locks.lock_bank_agreement(agreement_no)
        if agreement is None:
            raise SandboxBankAgreement.DoesNotExist(agreement_no)
        if agreement.status == AgreementStatus.WAITING:
            agreement.status = AgreementStatus.SIGNED if sign else AgreementStatus.DECLINED
            agreement.signed_at = timezone.now() if sign else None
            agreement.save(update_fields=["status", "signed_at"])
    return agreement


def agreement_return_params(agreement: SandboxBankAgreement) -> dict[str, str]:
    return signing.signed(
        {
            "merchant_id": settings.SANDBOX_BANK_MERCHANT_ID,
            "external_agreement_no": agreement.merchant_agreement_no,
            "agreement_no": agreement.agreement_no if agreement.status == AgreementStatus.SIGNED else "",
            "agreement_status": agreement.status,
        },
        _key(),
    )


def _signed_answer(code: str, msg: str, **fields: str) -> dict[str, str]:
    return signing.signed({"code": code, "msg": msg, **fields}, _key())


def agreement_debit_api(params: dict[str, str]) -> dict[str, str]:
    """The bank's agreement-debit interface: signed request in, signed answer out. Idempotent on the
    merchant's order number: asking again answers the first debit and takes nothing more."""
    if not signing.verify(params, _key()):
        return _signed_answer("FAIL", "bad signature")
    out_trade_no = params.get("out_trade_no", "")
    if not out_trade_no or params.get("merchant_id") != settings.SANDBOX_BANK_MERCHANT_ID:
        return _signed_answer("FAIL", "missing fields", out_trade_no=out_trade_no)
    try:
        amount = Decimal(params.get("total_amount", ""))
    except InvalidOperation:
        return _signed_answer("FAIL", "bad amount", out_trade_no=out_trade_no)
    with transaction.atomic():
        agreement = locks.lock_bank_agreement(params.get("agreement_no", ""))
        if agreement is None or agreement.status != AgreementStatus.SIGNED:
            return _signed_answer("FAIL", "no signed agreement", out_trade_no=out_trade_no)
        existing = locks.lock_bank_trade_of_merchant_order(out_trade_no)
        if existing is not None:
            if existing.agreement_no != agreement.agreement_no or existing.amount != amount:
                return _signed_answer("FAIL", "order number already used", out_trade_no=out_trade_no)
            return _signed_answer(
                "SUCCESS", "already debited", out_trade_no=out_trade_no, trade_no=existing.trade_no
            )
        if not amount.is_finite() or amount <= 0 or amount > agreement.max_amount:
            return _signed_answer("FAIL", "amount above the agreement's limit", out_trade_no=out_trade_no)
        if agreement.valid_until < timezone.localdate():
            return _signed_answer("FAIL", "agreement expired", out_trade_no=out_trade_no)
        if amount >= settings.SANDBOX_BANK_DEBIT_DECLINE_FROM:
            return _signed_answer("FAIL", "insufficient funds", out_trade_no=out_trade_no)
        trade = SandboxBankTrade.objects.create(
            trade_no=new_trade_no(),
            merchant_order_no=out_trade_no,
            amount=amount,
            subject=params.get("subject", "")[:120],
            notify_url="",
            return_url="",
            status=BankTradeStatus.SUCCESS,
            paid_at=timezone.now(),
            notified=True,  # the answer is the notification: nothing is posted to the merchant
            agreement_no=agreement.agreement_no,
        )
    return _signed_answer("SUCCESS", "debited", out_trade_no=out_trade_no, trade_no=trade.trade_no)


def end_agreement(params: dict[str, str]) -> dict[str, str]:
    """The merchant ends an agreement (the citizen cancelled the mandate): no debit is taken after."""
    if not signing.verify(params, _key()):
        return _signed_answer("FAIL", "bad signature")
    with transaction.atomic():
        agreement = locks.lock_bank_agreement(params.get("agreement_no", ""))
        if agreement is None:
            return _signed_answer("FAIL", "unknown agreement")
        agreement.status = AgreementStatus.ENDED
        agreement.save(update_fields=["status"])
    return _signed_answer("SUCCESS", "ended")
