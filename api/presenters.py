"""Model rows as the APIs show them: plain dicts that the output serializers describe."""

from billing import amounts, instalments
from billing.masking import mask_holder_name
from billing.models import Bill, Biller, BillerCategory, Payment
from billing.money import ZERO
from billing.posting import written_allocations


def money(value) -> str:
    return f"{value:.2f}"


def category(cat: BillerCategory) -> dict:
    return {
        "code": cat.code,
        "name": cat.name,
        "name_en": cat.name_en,
        "parent": cat.parent.code if cat.parent_id else None,
    }


def biller(b: Biller) -> dict:
    return {
        "code": b.code,
        "name": b.name,
        "name_en": b.name_en,
        "category": b.category.code,
        "status": b.status,
        "takes_payments": b.takes_payments,
        "status_reason": b.status_reason,
        "payment_mode": b.payment_mode,
        "amount_rule": b.amount_rule,
        "min_amount": money(b.min_amount),
        "max_amount": money(b.max_amount) if b.max_amount is not None else None,
        "account_pattern": b.account_pattern,
        "account_check_digit": b.account_check_digit,
        "account_hint": b.account_hint,
    }


def instalment_plan(bill: Bill) -> list[dict]:
    """Each instalment of a bill offered in instalments, with what is left to pay of it; [] if none."""
    return [
        {
            "number": state.number,
            "amount": money(state.amount),
            "due_date": state.due_date,
            "remaining": money(state.remaining),
        }
        for state in instalments.states(bill)
    ]


def open_bill(bill: Bill) -> dict:
    quote = bill.quote  # priced for today in Beijing (billing.amounts)
    return {
        "period": bill.period,
        "amount_due": money(bill.amount_due),
        "late_fee": money(quote.late_fee),
        "discount": money(quote.discount),
        "amount_paid": money(bill.amount_paid),
        "outstanding": money(quote.outstanding),
        "holds_until": quote.holds_until,
        "due_date": bill.due_date,
        "status": bill.status,
        "reference": bill.reference,
        "notice_no": bill.notice_no,
        "description": bill.description,
        "instalments": instalment_plan(bill),
        "beneficiary_kind": bill.beneficiary_kind,
        "beneficiary": mask_holder_name(bill.beneficiary_name) if bill.beneficiary_name else "",
    }


def enquiry(b: Biller, account, bills: list[Bill]) -> dict:
    return {
        "biller_code": b.code,
        "account_no": account.account_no,
        "holder_name": mask_holder_name(account.holder_name),
        "credit_balance": money(account.credit_balance),
        "total_outstanding": money(sum((bill.outstanding for bill in bills), ZERO)),
        "priced_on": amounts.beijing_today(),
        "holds_until": amounts.holds_until_of([bill.quote for bill in bills]),
        "bills": [open_bill(bill) for bill in bills],
    }


def allocations(payment: Payment) -> list[dict]:
    """The payment's allocations: those the posting has just written (`api.selectors.with_allocations`),
    or its rows."""
    written = written_allocations(payment)
    rows = written if written is not None else payment.allocations.all()
    return [
        {"kind": a.kind, "period": a.bill.period if a.bill_id else None, "amount": money(a.amount)}
        for a in sorted(rows, key=lambda a: a.pk or 0)
        if not a.is_reversal
    ]


def partner_payment(payment: Payment) -> dict:
    reversal = getattr(payment, "partner_reversal", None) if payment.reversed_at else None
    return {
        "receipt_no": payment.receipt_no,
        "status": payment.status,
        "biller_code": payment.biller.code,
        "account_no": payment.account.account_no if payment.account_id else "",
        "amount": money(payment.amount),
        "partner_ref": payment.channel_ref,
        "business_date": payment.business_date,
        "posted_at": payment.posted_at,
        "reversed_at": payment.reversed_at,
        "reversal_ref": reversal.reversal_ref if reversal else None,
        "allocations": allocations(payment),
        "card_write": card_write(payment),
    }


def import_report(report) -> dict:
    return {**report.summary(), "errors": [error.as_dict() for error in report.errors]}


def biller_bill(bill: Bill) -> dict:
    return {
        "account_no": bill.account.account_no,
        "period": bill.period,
        "amount_due": money(bill.amount_due),
        "late_fee": money(bill.late_fee),
        "amount_paid": money(bill.amount_paid),
        "status": bill.status,
        "due_date": bill.due_date,
        "reference": bill.reference,
    }


def bill_with_instalments(bill: Bill) -> dict:
    return {
        "account_no": bill.account.account_no,
        "period": bill.period,
        "amount_due": money(bill.amount_due),
        "status": bill.status,
        "instalments": instalment_plan(bill),
    }


def biller_payment(payment: Payment) -> dict:
    return {
        "receipt_no": payment.receipt_no,
        "channel": payment.channel,
        "status": payment.status,
        "account_no": payment.account.account_no if payment.account_id else "",
        "amount": money(payment.amount),
        "business_date": payment.business_date,
        "posted_at": payment.posted_at,
        "reversed_at": payment.reversed_at,
        "allocations": allocations(payment),
    }


def biller_receipt(payment: Payment, *, e_receipt: dict) -> dict:
    """A payment's receipt for its biller, whichever channel took it (issue 17, item 7)."""
    check = getattr(payment, "biller_check", None)
    return {
        **biller_payment(payment),
        "payer": payment.account.masked_holder_name if payment.account_id else "",
        "e_receipt": e_receipt,
        "fiscal_receipt_no": check.fiscal_receipt_no if check else "",
        "biller_check": check.status if check else "",
        "fiscal_receipt": fiscal_receipt(getattr(payment, "fiscal_receipt", None)),
    }


def fiscal_receipt(receipt) -> dict | None:
    """The payment's official fiscal e-receipt (billing.fiscal), when its biller has them issued."""
    if receipt is None:
        return None
    return {
        "status": receipt.status,
        "notice_no": receipt.notice_no,
        "invoice_code": receipt.invoice_code,
        "invoice_no": receipt.invoice_no,
        "check_code": receipt.check_code,
        "issued_at": receipt.issued_at,
        "red_invoice_code": receipt.red_invoice_code,
        "red_invoice_no": receipt.red_invoice_no,
        "reversed_at": receipt.reversed_at,
    }


def agent_payment(agent_payment) -> dict:
    """A payment an agent took out of its float (branches.AgentPayment), for the agent app."""
    payment = agent_payment.payment
    return {
        "receipt_no": payment.receipt_no,
        "status": payment.status,
        "biller_code": payment.biller.code,
        "account_no": payment.account.account_no if payment.account_id else "",
        "amount": money(payment.amount),
        "agent_code": agent_payment.agent.code,
        "terminal_id": agent_payment.terminal_id,
        "region_code": agent_payment.region_code,
        "float_after": money(agent_payment.float_after),
        "commission": money(agent_payment.commission),
        "business_date": payment.business_date,
        "posted_at": payment.posted_at,
        "allocations": allocations(payment),
    }


def card_write(payment: Payment) -> dict | None:
    """A top-up's card write (billing/topups.py): held until written, or voided and refunded; None for a
    payment that needs none."""
    from billing.selectors import topup_hold_of

    hold = topup_hold_of(payment)
    if hold is None:
        return None
    return {
        "status": hold.status,
        "expires_at": hold.expires_at,
        "decided_at": hold.decided_at,
        "decided_by": hold.decided_by,
        "write_ref": hold.write_ref,
        "reason": hold.reason,
    }


def biller_topup(payment: Payment) -> dict:
    return {**biller_payment(payment), "card_write": card_write(payment)}


def partner_mandate(mandate) -> dict:
    """A partner's customer's auto-pay mandate, as the partner API answers it."""
    return {
        "id": str(mandate.public_id),
        "customer_ref": mandate.customer_ref,
        "biller_code": mandate.account.biller.code,
        "account_no": mandate.account.account_no,
        "cap_per_bill": money(mandate.cap_per_bill),
        "valid_from": mandate.valid_from,
        "valid_until": mandate.valid_until,
        "notice_days": mandate.notice_days,
        "status": mandate.status,
        "created_at": mandate.created_at,
    }


def mandate_debit(debit) -> dict:
    return {
        "id": debit.pk,
        "period": debit.bill.period,
        "amount": money(debit.amount),
        "debit_on": debit.debit_on,
        "status": debit.status,
        "attempts": debit.attempts,
        "code": debit.refusal_code,
        "message": debit.message,
        "receipt_no": debit.payment.receipt_no if debit.payment_id else "",
    }
