"""Writing the rows of one payment, once `services.post_payment` has decided them under row locks: the
payment, its allocations, the bills it pays, the credit it leaves and its balanced journal entry.

On PostgreSQL every row goes in one statement of data-modifying CTEs. Posting is the platform's hottest
path and each Django ORM call costs about 0.45 ms of Python on the 2-core machine, which capped
throughput at about 200 payments/s (docs/benchmarks.md). Elsewhere — the SQLite demo — the same rows go
through the ORM. The posting tests run against both writers, on PostgreSQL.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection

from billing import ledger
from billing.choices import EntryKind
from billing.models import Bill, CustomerAccount, LedgerAccount, Payment, PaymentAllocation

# Which database vendors take the single-statement writer; tests empty it to exercise the ORM writer.
SINGLE_STATEMENT_VENDORS = {"postgresql"}


@dataclass
class PaymentRows:
    payment: Payment  # unsaved, every field set
    allocations: list[PaymentAllocation]  # unsaved; bill allocations carry their bill
    paid_bills: list[Bill]  # amount_paid and status already advanced
    account: CustomerAccount | None
    credit: Decimal
    lines: list[tuple[LedgerAccount, Decimal]] = field(default_factory=list)


def write_payment(rows: PaymentRows) -> Payment:
    ledger.check_balanced(rows.lines)
    if connection.vendor in SINGLE_STATEMENT_VENDORS:
        _write_in_one_statement(rows)
    else:
        _write_through_the_orm(rows)
    return rows.payment


_PAYMENT_STATEMENT = """
WITH new_payment AS (
    INSERT INTO billing_payment (
        receipt_no, channel, idempotency_key, request_fingerprint, channel_ref, biller_id, account_id,
        payer_id, branch_id, actor_id, amount, status, business_date, posted_at, reversal_reason
    ) VALUES (
        %(receipt_no)s, %(channel)s, %(idempotency_key)s, %(request_fingerprint)s, %(channel_ref)s,
        %(biller_id)s, %(account_id)s, %(payer_id)s, %(branch_id)s, %(actor_id)s, %(amount)s, %(status)s,
        %(business_date)s, %(posted_at)s, ''
    ) RETURNING id
), new_allocations AS (
    INSERT INTO billing_paymentallocation (payment_id, bill_id, kind, amount, is_reversal)
    SELECT new_payment.id, a.bill_id, a.kind, a.amount, false
    FROM new_payment,
         unnest(
             %(allocation_bills)s::bigint[],
             %(allocation_kinds)s::varchar[],
             %(allocation_amounts)s::numeric[]
         ) AS a(bill_id, kind, amount)
), paid_bills AS (
    UPDATE billing_bill SET amount_paid = b.amount_paid, status = b.status, updated_at = %(posted_at)s
    FROM unnest(%(bill_ids)s::bigint[], %(bill_amounts_paid)s::numeric[], %(bill_statuses)s::varchar[])
        AS b(id, amount_paid, status)
    WHERE billing_bill.id = b.id
), account_credit AS (
    UPDATE billing_customeraccount SET credit_balance = credit_balance + %(credit)s
    WHERE id = %(account_id)s AND %(credit)s <> 0
), new_entry AS (
    INSERT INTO billing_journalentry (kind, payment_id, memo, business_date, created_at, created_by_id)
    SELECT %(entry_kind)s, new_payment.id, %(receipt_no)s, %(business_date)s, %(posted_at)s, %(actor_id)s
    FROM new_payment
    RETURNING id
), new_lines AS (
    INSERT INTO billing_journalline (entry_id, account_id, amount)
    SELECT new_entry.id, l.account_id, l.amount
    FROM new_entry, unnest(%(line_accounts)s::bigint[], %(line_amounts)s::numeric[]) AS l(account_id, amount)
)
SELECT id FROM new_payment
"""


def _write_in_one_statement(rows: PaymentRows) -> None:
    payment = rows.payment
    params = {
        "receipt_no": payment.receipt_no,
        "channel": payment.channel,
        "idempotency_key": payment.idempotency_key,
        "request_fingerprint": payment.request_fingerprint,
        "channel_ref": payment.channel_ref,
        "biller_id": payment.biller_id,
        "account_id": payment.account_id,
        "payer_id": payment.payer_id,
        "branch_id": payment.branch_id,
        "actor_id": payment.actor_id,
        "amount": payment.amount,
        "status": payment.status,
        "business_date": payment.business_date,
        "posted_at": payment.posted_at,
        "allocation_bills": [a.bill_id for a in rows.allocations],
        "allocation_kinds": [a.kind for a in rows.allocations],
        "allocation_amounts": [a.amount for a in rows.allocations],
        "bill_ids": [bill.pk for bill in rows.paid_bills],
        "bill_amounts_paid": [bill.amount_paid for bill in rows.paid_bills],
        "bill_statuses": [bill.status for bill in rows.paid_bills],
        "credit": rows.credit,
        "entry_kind": EntryKind.PAYMENT,
        "line_accounts": [account.pk for account, _amount in rows.lines],
        "line_amounts": [amount for _account, amount in rows.lines],
    }
    with connection.cursor() as cursor:
        cursor.execute(_PAYMENT_STATEMENT, params)
        (payment.pk,) = cursor.fetchone()
    payment._state.adding = False
    payment._state.db = connection.alias
    if rows.credit and rows.account is not None:
        rows.account.credit_balance += rows.credit


def _write_through_the_orm(rows: PaymentRows) -> None:
    payment = rows.payment
    payment.save(force_insert=True)
    for allocation in rows.allocations:
        allocation.payment = payment
    PaymentAllocation.objects.bulk_create(rows.allocations)
    for bill in rows.paid_bills:
        bill.updated_at = payment.posted_at
        Bill.objects.filter(pk=bill.pk).update(
            amount_paid=bill.amount_paid, status=bill.status, updated_at=bill.updated_at
        )
    if rows.credit:
        rows.account.credit_balance += rows.credit
        rows.account.save(update_fields=["credit_balance"])
    ledger.post_entry(
        kind=EntryKind.PAYMENT,
        lines=rows.lines,
        business_date=payment.business_date,
        payment=payment,
        memo=payment.receipt_no,
        actor=payment.actor,
    )
