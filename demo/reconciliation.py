"""Demo data of reconciliation: a day of the demo payment gateway DEMOPAY reconciled against its
statement (with one difference of each common kind for the workbench), the day settled, and a complaint.
Idempotent: payments replay by key, the statement is the same bytes (recognised by its hash), a day is
settled once and the complaint is made once."""

import datetime
import logging
from decimal import Decimal

from django.utils import timezone

from billing.choices import Channel
from billing.models import Biller
from billing.services import post_payment
from reconciliation import services
from reconciliation.choices import ComplaintReason
from reconciliation.exceptions import ReconciliationError
from reconciliation.models import Complaint

logger = logging.getLogger(__name__)

CHANNEL_CODE = "ONLINE:DEMOPAY"
BILLER = "BJ-CHARITY"
AMOUNTS = ("20.00", "50.00", "88.00", "100.00", "200.00", "66.60")
COLUMNS = (
    "record_type,txn_type,channel_ref,receipt_no,biller_code,account_no,amount,fee,currency,occurred_at,"
    "original_channel_ref"
)


def statement_bytes(day: datetime.date, lines: list[tuple]) -> bytes:
    """docs/statement-format.md, as a gateway would send it."""
    rows = [f"H,BILLPAY-STATEMENT,1,{CHANNEL_CODE},{day:%Y-%m-%d},{day:%Y-%m-%d}T23:59:59+08:00", COLUMNS]
    payments = refunds = Decimal("0.00")
    for txn, ref, receipt, amount, when, original in lines:
        rows.append(f"D,{txn},{ref},{receipt},{BILLER},,{amount},0.00,CNY,{when},{original}")
        if txn == "PAYMENT":
            payments += Decimal(amount)
        else:
            refunds += Decimal(amount)
    rows.append(f"T,{len(lines)},{payments:.2f},{refunds:.2f},0.00")
    return ("\n".join(rows) + "\n").encode()


def seed(*, users, billers, branches, summary) -> None:
    if not Biller.objects.filter(code=BILLER, status="active").exists():
        return
    officer = users.get("reconciliation_officer")
    payments = []
    for number, amount in enumerate(AMOUNTS, start=1):
        result = post_payment(
            channel=Channel.ONLINE,
            idempotency_key=f"DEMOPAY:ORD-{number:04d}",
            biller_code=BILLER,
            amount=amount,
            channel_ref=f"DP{number:08d}",
        )
        payments.append(result.payment)
        if result.replayed:
            summary.payments_replayed += 1
        else:
            summary.payments_posted += 1
    summary.created["payments"] = summary.payments_posted
    day = payments[0].business_date

    def when(payment):
        return timezone.localtime(payment.posted_at).replace(microsecond=0).isoformat()

    lines = [("PAYMENT", p.channel_ref, p.receipt_no, f"{p.amount:.2f}", when(p), "") for p in payments[:4]]
    # the gateway took a fen less for the fifth, never saw the sixth, and took one we never posted
    fifth = payments[4]
    lines.append(
        (
            "PAYMENT",
            fifth.channel_ref,
            fifth.receipt_no,
            f"{fifth.amount - Decimal('0.01'):.2f}",
            when(fifth),
            "",
        )
    )
    lines.append(("PAYMENT", "DP99999999", "", "30.00", when(payments[0]), ""))
    services.reconcile_file(
        channel_code=CHANNEL_CODE,
        business_date=day,
        data=statement_bytes(day, lines),
        file_name=f"DEMOPAY-{day:%Y%m%d}.csv",
        actor=officer,
    )
    try:
        services.settle_day(day=day, actor=officer)
    except ReconciliationError as not_yet:  # T+1: settled from the admin once its next working day comes
        logger.info("demo day %s not settled: %s", day, not_yet.message)
    if not Complaint.objects.filter(payment=fifth).exists():
        services.raise_complaint(
            receipt_no=fifth.receipt_no,
            reason=ComplaintReason.WRONG_AMOUNT,
            contact_name="王小明",
            contact_email="citizen@example.com",
            details="收据金额与银行卡扣款金额相差一分钱。",
        )
