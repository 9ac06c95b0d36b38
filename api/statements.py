"""The platform's CSV statement format, version 1 (docs/statement-format.md): the one writer.

A partner downloads its own day from the partner API; the reconciliation import reads the same format.
"""

import csv
import datetime
import io
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from api import selectors
from api.models import Partner, PartnerReversal
from billing.fees import compute_fee
from billing.models import Payment
from billing.money import ZERO
from billing.statement_format import (
    COLUMNS,
    CURRENCY,
    DETAIL,
    FORMAT_NAME,
    FORMAT_VERSION,
    HEADER,
    PAYMENT,
    REFUND,
    TRAILER,
)


@dataclass(frozen=True)
class StatementLine:
    txn_type: str
    channel_ref: str
    receipt_no: str
    biller_code: str
    account_no: str
    amount: Decimal
    fee: Decimal
    occurred_at: datetime.datetime
    original_channel_ref: str = ""


def money(value: Decimal) -> str:
    """Positive, exactly two places, no separators or sign."""
    return f"{value.quantize(Decimal('0.01')):.2f}"


def iso_time(moment: datetime.datetime) -> str:
    """ISO 8601 with the offset, in the platform's time zone (Asia/Shanghai: +08:00)."""
    return timezone.localtime(moment).replace(microsecond=0).isoformat()


def write_statement(
    *,
    channel_code: str,
    day: datetime.date,
    lines: Iterable[StatementLine],
    generated_at: datetime.datetime,
) -> str:
    """The whole file: H line, column header, D lines, T line; UTF-8 text, LF, RFC 4180 quoting."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(
        [HEADER, FORMAT_NAME, FORMAT_VERSION, channel_code, day.isoformat(), iso_time(generated_at)]
    )
    writer.writerow(COLUMNS)
    count, paid, refunded, fees = 0, ZERO, ZERO, ZERO
    for line in lines:
        if line.amount <= 0:
            raise ValueError(f"statement amounts are positive: {line}")
        if line.txn_type == REFUND and not line.original_channel_ref:
            raise ValueError(f"a refund names the payment it refunds: {line}")
        writer.writerow(
            [
                DETAIL,
                line.txn_type,
                line.channel_ref,
                line.receipt_no,
                line.biller_code,
                line.account_no,
                money(line.amount),
                money(line.fee),
                CURRENCY,
                iso_time(line.occurred_at),
                line.original_channel_ref,
            ]
        )
        count += 1
        paid += line.amount if line.txn_type == PAYMENT else ZERO
        refunded += line.amount if line.txn_type == REFUND else ZERO
        fees += line.fee
    writer.writerow([TRAILER, count, money(paid), money(refunded), money(fees)])
    return out.getvalue()


def day_bounds(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """The business day is the calendar day in the platform's time zone."""
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    return start, start + datetime.timedelta(days=1)


def refund_ref(payment, reversals: dict[int, str]) -> str:
    """The partner's own reference for the refund; for a reversal made by staff, the payment's
    reference with "-R" (unique because payment references are)."""
    return reversals.get(payment.pk) or f"{payment.channel_ref}-R"


def partner_statement_lines(partner: Partner, day: datetime.date) -> list[StatementLine]:
    start, end = day_bounds(day)
    # Two queries rather than one OR: the day's payments come from the business_date index.
    mine = selectors.partner_payments(partner)
    ids = set(mine.filter(business_date=day).values_list("pk", flat=True))
    ids |= set(mine.filter(reversed_at__gte=start, reversed_at__lt=end).values_list("pk", flat=True))
    payments = list(
        Payment.objects.filter(pk__in=ids)
        .select_related("biller", "biller__category", "account")
        .order_by("posted_at", "pk")
    )
    reversals = dict(
        PartnerReversal.objects.filter(payment__in=[p.pk for p in payments]).values_list(
            "payment_id", "reversal_ref"
        )
    )
    commissions: dict[int, object] = {}
    lines = []
    for payment in payments:
        account_no = payment.account.account_no if payment.account else ""
        if payment.business_date == day:
            if payment.biller_id not in commissions:
                commissions[payment.biller_id] = selectors.commission_on(partner, payment.biller, day)
            schedule = commissions[payment.biller_id]
            fee = ZERO
            if schedule is not None:
                fee = compute_fee(
                    amount=payment.amount,
                    fixed=schedule.fixed_fee,
                    percentage=schedule.percentage,
                    min_fee=schedule.min_fee,
                    max_fee=schedule.max_fee,
                )
            lines.append(
                StatementLine(
                    txn_type=PAYMENT,
                    channel_ref=payment.channel_ref,
                    receipt_no=payment.receipt_no,
                    biller_code=payment.biller.code,
                    account_no=account_no,
                    amount=payment.amount,
                    fee=fee,
                    occurred_at=payment.posted_at,
                )
            )
        if payment.reversed_at is not None and start <= payment.reversed_at < end:
            lines.append(
                StatementLine(
                    txn_type=REFUND,
                    channel_ref=refund_ref(payment, reversals),
                    receipt_no=payment.receipt_no,
                    biller_code=payment.biller.code,
                    account_no=account_no,
                    amount=payment.amount,
                    fee=ZERO,
                    occurred_at=payment.reversed_at,
                    original_channel_ref=payment.channel_ref,
                )
            )
    lines.sort(key=lambda line: line.occurred_at)
    return lines


def partner_statement(partner: Partner, day: datetime.date, *, generated_at=None) -> str:
    return write_statement(
        channel_code=partner.channel_code,
        day=day,
        lines=partner_statement_lines(partner, day),
        generated_at=generated_at or timezone.now(),
    )
