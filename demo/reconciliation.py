"""Demo data of reconciliation: the closed day's statements, one per channel that took money that day, each
in the channel's own format and with a few planned differences, imported and waiting to be reconciled from
the admin (the workbench, then settlement); and a complaint about one of the differences.

Every online and partner payment of the demo was taken on the closed day (`demo.data.closed_day`) under
the key `<source>:<order number>` and the source's own transaction id (`demo.plan.payment_plan`), so the
source's statement selects and matches it. Which differences each statement carries is `CHANNELS` below;
`tests/demo/test_demo_reconciles.py` reconciles the day and finds exactly those.

Idempotent: payments replay by key, a statement is the same bytes (recognised by its hash), the
complaint is made once. Nothing is reconciled or settled here: that is the demo's walk for a new user."""

import dataclasses
import datetime
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from billing.choices import AmountRule, Channel, PaymentMode
from billing.models import Biller, Payment
from billing.services import post_payment
from demo import clock
from demo import statements as files
from demo.data import closed_day
from reconciliation import services
from reconciliation.choices import ComplaintReason, MatchClass, StatementFormat
from reconciliation.models import Complaint

M = MatchClass
DEMOPAY = "ONLINE:DEMOPAY"
DEMOPAY_BILLER = "BJ-CHARITY"
DEMOPAY_AMOUNTS = ("20.00", "50.00", "88.00", "100.00", "200.00", "66.60")
MISSING_AT_PLATFORM_AMOUNT = Decimal("88.80")


@dataclass(frozen=True)
class ChannelPlan:
    """A channel's statement of the closed day and the differences planted in it, one per class named."""

    code: str
    format: str
    differences: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return self.code.split(":", 1)[1]


CHANNELS: tuple[ChannelPlan, ...] = (
    ChannelPlan(
        "ONLINE:SANDBOX", StatementFormat.CAMT053, (M.AMOUNT_MISMATCH, M.MISSING_CHANNEL, M.DUPLICATE)
    ),
    ChannelPlan(
        "ONLINE:ALIPAY", StatementFormat.ALIPAY, (M.MISSING_PLATFORM, M.AMOUNT_MISMATCH, M.STATUS_MISMATCH)
    ),
    ChannelPlan("ONLINE:WECHAT", StatementFormat.WECHAT, (M.MISSING_CHANNEL, M.DUPLICATE, M.STATUS_MISMATCH)),
    ChannelPlan(DEMOPAY, StatementFormat.BILLPAY, (M.AMOUNT_MISMATCH, M.MISSING_CHANNEL, M.MISSING_PLATFORM)),
    ChannelPlan("PARTNER:UNIONPAY", StatementFormat.BILLPAY, (M.MISSING_PLATFORM, M.STATUS_MISMATCH)),
    ChannelPlan("PARTNER:ICBC", StatementFormat.BILLPAY, (M.MISSING_CHANNEL,)),
    ChannelPlan("PARTNER:ALIPAY", StatementFormat.BILLPAY),
    ChannelPlan("PARTNER:WXPAY", StatementFormat.BILLPAY),
    ChannelPlan("PARTNER:CCB", StatementFormat.BILLPAY),
)


def seed(*, users, billers, branches, summary) -> None:
    day = closed_day(summary.anchor)
    officer = users.get("reconciliation_officer")
    if Biller.objects.filter(code=DEMOPAY_BILLER, status="active").exists():
        post_demopay_payments(day, summary)
    for plan in CHANNELS:
        statement = statement_of(plan, day)
        if statement is None:
            continue
        data, name = statement
        services.import_statement(
            channel_code=plan.code,
            business_date=day,
            data=data,
            file_name=name,
            fmt=plan.format,
            actor=officer,
        )
    raise_demo_complaint(day)


def post_demopay_payments(day: datetime.date, summary) -> None:
    """Six donations through the demo gateway DEMOPAY, whose statement is the platform's own CSV."""
    for number, amount in enumerate(DEMOPAY_AMOUNTS, start=1):
        key = f"DEMOPAY:ORD-{number:04d}"
        with clock.at(clock.moment_of(day, key)):
            result = post_payment(
                channel=Channel.ONLINE,
                idempotency_key=key,
                biller_code=DEMOPAY_BILLER,
                amount=amount,
                channel_ref=f"DP{number:08d}",
            )
        if result.replayed:
            summary.payments_replayed += 1
        else:
            summary.payments_posted += 1
    summary.created["payments"] = summary.payments_posted


def payments_of(plan: ChannelPlan, day: datetime.date) -> list[Payment]:
    """What the platform took through this channel on the day, as reconciliation selects it."""
    channel = Channel.ONLINE if plan.code.startswith("ONLINE:") else Channel.PARTNER
    return list(
        Payment.objects.filter(
            channel=channel, business_date=day, idempotency_key__startswith=f"{plan.source}:"
        )
        .select_related("biller", "account")
        .order_by("idempotency_key")
    )


def line_of(payment: Payment, source: str) -> files.DayLine:
    return files.DayLine(
        kind=files.PAYMENT,
        ref=payment.channel_ref,
        merchant_ref=payment.idempotency_key[len(source) + 1 :],
        receipt_no=payment.receipt_no,
        biller_code=payment.biller.code,
        account_no=payment.account.account_no if payment.account else "",
        amount=payment.amount,
        occurred_at=payment.posted_at,
    )


def victims(payments: list[Payment], differences: tuple[str, ...]) -> dict[str, Payment]:
    """The payment each planted difference is about (none for a line we never took), spread over the day's
    payments and never the same one twice."""
    about = [klass for klass in differences if klass != M.MISSING_PLATFORM]
    if len(payments) < len(about) + 1:
        return {}
    return {klass: payments[index * len(payments) // (len(about) + 1)] for index, klass in enumerate(about)}


def planted_lines(plan: ChannelPlan, day: datetime.date, payments: list[Payment]) -> list[files.DayLine]:
    """The statement's lines: one per payment, then each planted difference applied."""
    chosen = victims(payments, plan.differences)
    if len(chosen) < len([k for k in plan.differences if k != M.MISSING_PLATFORM]):
        return [line_of(payment, plan.source) for payment in payments]
    lines = []
    for payment in payments:
        line = line_of(payment, plan.source)
        if payment == chosen.get(M.MISSING_CHANNEL):
            continue  # the channel never took it
        if payment == chosen.get(M.AMOUNT_MISMATCH):
            lines.append(
                with_amount(line, line.amount - Decimal("0.01") if line.amount > 1 else line.amount + 1)
            )
            continue
        lines.append(line)
        if payment == chosen.get(M.DUPLICATE):
            lines.append(line)  # reported twice
        if payment == chosen.get(M.STATUS_MISMATCH):
            lines.append(refund_of(line, plan))  # refunded at the channel, still paid with us
    if M.MISSING_PLATFORM in plan.differences:
        lines.append(unknown_line(plan, day, payments, avoid={p.amount for p in chosen.values()}))
    return lines


def with_amount(line: files.DayLine, amount: Decimal) -> files.DayLine:
    return dataclasses.replace(line, amount=amount)


def refund_of(line: files.DayLine, plan: ChannelPlan) -> files.DayLine:
    """The channel gave the payment back (a refund the platform never heard of)."""
    ref = f"{line.ref}/RF{line.ref[-8:]}" if plan.format == StatementFormat.ALIPAY else f"RF{line.ref}"[:64]
    later = line.occurred_at + datetime.timedelta(hours=1)
    return dataclasses.replace(line, kind=files.REFUND, ref=ref, original_ref=line.ref, occurred_at=later)


UNKNOWN_REFS: dict[str, Callable[[datetime.date], str]] = {
    "ALIPAY": lambda day: f"20{day:%Y%m%d}9900000000000000000"[:28],
    "WECHAT": lambda day: f"42000{day:%Y%m%d}999999999999999"[:28],
    "SANDBOX": lambda day: f"SBX{day:%Y%m%d}9999999999",
}


def unknown_line(
    plan: ChannelPlan, day: datetime.date, payments: list[Payment], *, avoid: set
) -> files.DayLine:
    """A payment the channel took that never reached the platform: for an account we know, so that the
    workbench can post it; of an amount none of the day's unmatched payments has, so that it cannot be
    taken for one of them."""
    amount = MISSING_AT_PLATFORM_AMOUNT
    while amount in avoid:
        amount += Decimal("0.01")
    model = next((p for p in reversed(payments) if p.account_id and takes_any_amount(p.biller)), None)
    ref = UNKNOWN_REFS.get(plan.source, lambda d: f"{plan.source}{d:%Y%m%d}999999")(day)
    return files.DayLine(
        kind=files.PAYMENT,
        ref=ref,
        merchant_ref=f"LOST-{day:%Y%m%d}-0001",
        receipt_no="",
        biller_code=model.biller.code if model else "",  # else the officer names them, or writes it off
        account_no=model.account.account_no if model and model.account else "",
        amount=amount,
        occurred_at=clock.moment_of(day, ref),
    )


def takes_any_amount(biller) -> bool:
    """A top-up, or a bill that may be paid ahead: any amount the channel took can be posted to it."""
    return biller.payment_mode == PaymentMode.PREPAID or biller.amount_rule == AmountRule.EXACT_UP


def statement_of(plan: ChannelPlan, day: datetime.date) -> tuple[bytes, str] | None:
    """The channel's statement file of the day, as it would send it, with its file name; None when the
    channel took nothing that day."""
    payments = payments_of(plan, day)
    if not payments:
        return None
    lines = planted_lines(plan, day, payments)
    name = f"{plan.source}-{day:%Y%m%d}"
    if plan.format == StatementFormat.WECHAT:
        return files.wechat_bill(lines), f"{name}-tradebill-ALL.csv"
    if plan.format == StatementFormat.ALIPAY:
        return files.alipay_bill(day, lines), f"{name}-业务明细.csv"
    if plan.format == StatementFormat.CAMT053:
        return files.camt053(day, lines, statement_id=f"STMT-{name}"), f"{name}.camt053.xml"
    return files.billpay_csv(plan.code, day, lines), f"{name}.csv"


def raise_demo_complaint(day: datetime.date) -> None:
    """The donor whose gateway took a fen less than the receipt says complains (once)."""
    plan = next(p for p in CHANNELS if p.code == DEMOPAY)
    payment = victims(payments_of(plan, day), plan.differences).get(M.AMOUNT_MISMATCH)
    if payment is None or Complaint.objects.filter(payment=payment).exists():
        return
    services.raise_complaint(
        receipt_no=payment.receipt_no,
        reason=ComplaintReason.WRONG_AMOUNT,
        contact_name="王小明",
        contact_email="citizen@example.com",
        details="收据金额与银行卡扣款金额相差一分钱。",
    )
