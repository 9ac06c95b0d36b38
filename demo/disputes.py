"""Demo data of disputes: the partner UNIONPAY's customer was debited for a payment the platform never
took (the closed day's statement of PARTNER:UNIONPAY carries that line, demo/reconciliation.py), and the
partner raises a D11 dispute about it through the partner API's service. When the new user reconciles
the day from the admin, reconciliation finds the line and settles the dispute by itself — posts the
payment (the biller takes any amount) — and the payer is told by SMS. The demo citizen also has a D12
open on one of their payments, for the biller to answer through the biller API.

Idempotent: each dispute is raised under a fixed idempotency key, or found again."""

from demo import reconciliation as reconciliation_demo
from demo.data import CITIZEN
from disputes import services
from disputes.choices import DisputeChannel
from disputes.models import Dispute
from payers.selectors import payments_of

PARTNER_PLAN = "PARTNER:UNIONPAY"
PARTNER_KEY = "demo-d11-0001"
CITIZEN_KEY = "demo-d12-0001"


def seed(*, users, billers, branches, summary) -> None:
    raise_partner_debit_dispute(summary)
    raise_citizen_dispute(users)


def raise_partner_debit_dispute(summary) -> Dispute | None:
    day = reconciliation_demo.closed_day(summary.anchor)
    plan = next(p for p in reconciliation_demo.CHANNELS if p.code == PARTNER_PLAN)
    payments = reconciliation_demo.payments_of(plan, day)
    if not payments:
        return None
    lost = next(
        (
            line
            for line in reconciliation_demo.planted_lines(plan, day, payments)
            if line.merchant_ref.startswith("LOST-")
        ),
        None,
    )
    if lost is None or not (lost.biller_code and lost.account_no):
        return None
    return services.raise_dispute(
        channel=DisputeChannel.PARTNER,
        source=plan.source,
        idempotency_key=PARTNER_KEY,
        reason="D11",
        biller_code=lost.biller_code,
        account_no=lost.account_no,
        amount=lost.amount,
        channel_ref=lost.ref,
        contact_phone="+8613800138000",
        details="用户钱包已扣款，缴费请求超时未返回。",
    )


def raise_citizen_dispute(users) -> Dispute | None:
    citizen = users.get(CITIZEN["username"])
    if citizen is None:
        return None
    earlier = Dispute.objects.filter(channel=DisputeChannel.PORTAL, payer_user=citizen, reason="D12").first()
    if earlier is not None:
        return earlier
    payment = payments_of(citizen).first()
    if payment is None:
        return None
    return services.raise_dispute(
        channel=DisputeChannel.PORTAL,
        user=citizen,
        actor=citizen,
        reason="D12",
        receipt_no=payment.receipt_no,
        contact_email=CITIZEN["email"],
        details="已缴费三天，账单仍显示未缴。",
    )
