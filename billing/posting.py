"""Writing the rows of one payment, or of its reversal, once `services.post_payment` or
`services.reverse_payment` has decided them under row locks.

Each is one statement of data-modifying CTEs: posting is the platform's hottest path and each Django ORM
call costs about 0.45 ms of Python on the 2-core machine, which capped throughput at about 200 payments/s
(docs/benchmarks.md). These are the only writers of payments, allocations and their journal entries; the
database's triggers check that every entry balances and that no posted row changes.

The same statement writes the payment's outbox event (billing.outbox): no payment or reversal is committed
without its event, and no event without its payment; and, when its service asks, the payment's audit row
(`billing.audit.PaymentAudit`); and, when its caller asks, a row of the caller's own (`KeptRow`: the partner
API's answer kept for retries, api.idempotency).
"""

import datetime
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from billing import ledger, outbox
from billing.audit import INSERT_INTO_SQL as AUDIT_INSERT_INTO_SQL
from billing.audit import PaymentAudit, stored_data
from billing.choices import AllocationKind, EntryKind, PaymentStatus
from billing.models import Bill, CustomerAccount, LedgerAccount, Payment, PaymentAllocation
from billing.plain_sql import execute_and_commit, mark_saved, prepared_cursor


@dataclass
class PaymentRows:
    """A payment: unsaved, every field set. A reversal: the locked, still posted payment."""

    payment: Payment
    allocations: list[PaymentAllocation]  # the payment's; a reversal writes their negatives
    bills: list[Bill]  # amount_paid and status already advanced (or, for a reversal, taken back)
    account: CustomerAccount | None
    credit: Decimal  # the credit the payment leaves on the account (a reversal takes it back)
    lines: list[tuple[LedgerAccount, Decimal]]  # the entry's; a reversal's mirror the payment's


@dataclass
class ReversalRows(PaymentRows):
    original_entry_id: int
    business_date: datetime.date
    reversed_at: datetime.datetime
    reason: str
    memo: str
    actor_id: int | None


class KeptRow(Protocol):
    """A row of the caller's own that the payment's statement writes beside it (`write_payment`), so that
    the caller needs no statement of its own: the partner API keeps its answer to the request that posted
    the payment (api.idempotency.KeptAnswer). Written only with a new payment; nothing of it is written when
    the payment is refused or is a replay.

    `cte_sql` is a data-modifying statement (a constant: the statement is prepared once per connection) whose
    parameters are named `kept_…`. `params(payment)` gives them from the payment as it will be written
    (every field but its id set, its allocations in `written_allocations`), or None when the row cannot be
    known before the payment is written: then the payment's statement writes none."""

    cte_sql: str

    def params(self, payment: Payment) -> dict | None: ...


# The bills a payment (or several, or a reversal) changes, as `_bills_json` gives them.
_CHANGED_BILLS = """
changed_bills AS (
    UPDATE billing_bill SET amount_paid = b.amount_paid, status = b.status, late_fee = b.late_fee,
        discount_granted = b.discount_granted, updated_at = %(changed_at)s
    FROM jsonb_to_recordset(%(bills)s::jsonb)
        AS b(id bigint, amount_paid numeric, status varchar, late_fee numeric, discount_granted numeric)
    WHERE billing_bill.id = b.id
)"""

# The bills and the account credit a payment or a reversal changes, and the journal entry it writes.
_BILLS_CREDIT_AND_ENTRY = (
    _CHANGED_BILLS
    + """, account_credit AS (
    UPDATE billing_customeraccount SET credit_balance = credit_balance + %(credit)s
    WHERE id = %(account_id)s AND %(credit)s <> 0
), new_entry AS (
    INSERT INTO billing_journalentry (
        kind, payment_id, reverses_id, memo, business_date, created_at, created_by_id
    )
    SELECT %(entry_kind)s, payment.id, %(reverses_id)s, %(memo)s, %(business_date)s, %(changed_at)s,
        %(actor_id)s
    FROM payment
    RETURNING id
), new_lines AS (
    INSERT INTO billing_journalline (entry_id, account_id, amount)
    SELECT new_entry.id, l.account_id, l.amount
    FROM new_entry, jsonb_to_recordset(%(lines)s::jsonb) AS l(account_id bigint, amount numeric)
), new_allocations AS (
    INSERT INTO billing_paymentallocation (payment_id, bill_id, kind, amount, is_reversal)
    SELECT payment.id, a.bill_id, a.kind, a.amount, %(is_reversal)s
    FROM payment,
        jsonb_to_recordset(%(allocations)s::jsonb) AS a(bill_id bigint, kind varchar, amount numeric)
    RETURNING id
), new_event AS (
    INSERT INTO billing_outboxevent (id, type, aggregate_type, aggregate_id, payload, created_at)
    SELECT %(event_id)s, %(event_type)s, 'payment', payment.id::text, %(event_payload)s::jsonb, %(changed_at)s
    FROM payment
)
SELECT id, ARRAY(SELECT id FROM new_allocations ORDER BY id) FROM payment
"""
)

_PAYMENT_HEAD = (
    """
WITH payment AS (
    INSERT INTO billing_payment (
        receipt_no, channel, idempotency_key, request_fingerprint, channel_ref, biller_id, account_id,
        payer_id, branch_id, actor_id, amount, status, business_date, posted_at, reversal_reason
    ) VALUES (
        %(receipt_no)s, %(channel)s, %(idempotency_key)s, %(request_fingerprint)s, %(channel_ref)s,
        %(biller_id)s, %(account_id)s, %(payer_id)s, %(branch_id)s, %(actor_id)s, %(amount)s, %(status)s,
        %(business_date)s, %(changed_at)s, ''
    ) RETURNING id
), new_audit AS (
    """
    + AUDIT_INSERT_INTO_SQL
    + """
    SELECT %(changed_at)s, %(actor_id)s, %(audit_action)s, %(audit_target_type)s, payment.id::text,
        %(receipt_no)s, %(audit_reason)s, %(audit_data)s::jsonb
    FROM payment
    WHERE %(audit_action)s::varchar IS NOT NULL
),"""
)
_PAYMENT_STATEMENT = _PAYMENT_HEAD + _BILLS_CREDIT_AND_ENTRY


def _payment_statement(kept: KeptRow | None) -> str:
    """The payment's statement, with the caller's kept row when there is one."""
    if kept is None:
        return _PAYMENT_STATEMENT
    return f"{_PAYMENT_HEAD}\nnew_kept AS ({kept.cte_sql}),{_BILLS_CREDIT_AND_ENTRY}"


_REVERSAL_STATEMENT = (
    """
WITH payment AS (
    UPDATE billing_payment SET status = %(status)s, reversed_at = %(changed_at)s, reversal_reason = %(reason)s
    WHERE id = %(payment_id)s
    RETURNING id
),"""
    + _BILLS_CREDIT_AND_ENTRY
)


def _changes(rows: PaymentRows, sign: int) -> dict:
    """The parameters `_BILLS_CREDIT_AND_ENTRY` takes from the decided rows: a payment's as they are
    (sign 1), a reversal's allocations and credit negated (sign -1). Bills, lines and allocations go as
    three JSON texts, money as exact strings: psycopg dumped their ten arrays element by element in
    Python, a seventh of the posting's Python time; json.dumps runs in C."""
    return {
        "bills": _bills_json(rows.bills),
        "account_id": getattr(rows.account, "pk", None),
        "credit": sign * rows.credit,
        "lines": _json_rows(
            ("account_id", "amount"),
            ((ledger_account.pk, str(amount)) for ledger_account, amount in rows.lines),
        ),
        "allocations": _json_rows(
            ("bill_id", "kind", "amount"),
            ((a.bill_id, a.kind, str(sign * a.amount)) for a in rows.allocations),
        ),
        "is_reversal": sign < 0,
    }


def _bills_json(bills) -> str:
    """The bills' new state, as `_CHANGED_BILLS` reads it."""
    return _json_rows(
        ("id", "amount_paid", "status", "late_fee", "discount_granted"),
        (
            (bill.pk, str(bill.amount_paid), bill.status, str(bill.late_fee), str(bill.discount_granted))
            for bill in bills
        ),
    )


def _json_rows(keys: tuple[str, ...], rows) -> str:
    """A JSON array of objects, as `jsonb_to_recordset` reads them (by key)."""
    return json.dumps([dict(zip(keys, row, strict=True)) for row in rows])


def _event(rows: PaymentRows, event_type: str, biller_code: str) -> dict:
    """The parameters of the outbox event (`new_event`)."""
    return {
        "event_id": outbox.new_event_id(),
        "event_type": event_type,
        "event_payload": json.dumps(_event_payload(rows, biller_code)),
    }


def _event_payload(rows: PaymentRows, biller_code: str) -> dict:
    """What a biller's webhook says about the payment, as JSON values."""
    payment = rows.payment
    periods = {bill.pk: bill.period for bill in rows.bills}
    payload = {
        "receipt_no": payment.receipt_no,
        "status": payment.status,
        "channel": payment.channel,
        "biller_code": biller_code,
        "account_no": rows.account.account_no if rows.account is not None else "",
        "amount": outbox.money(payment.amount),
        "business_date": payment.business_date,
        "posted_at": payment.posted_at,
        "reversed_at": payment.reversed_at,
        "bills": _event_bills(rows, periods),
    }
    return outbox.as_json(payload)


def _event_bills(rows: PaymentRows, periods: dict[int, str]) -> list[dict]:
    """Each bill once with what the payment put on it; the late fee part named when there is one."""
    by_bill: dict[int, dict] = {}
    for a in rows.allocations:
        if a.bill_id is None or a.bill_id not in periods:
            continue
        entry = by_bill.setdefault(a.bill_id, {"period": periods[a.bill_id], "amount": Decimal("0.00")})
        entry["amount"] += a.amount
        if a.kind == AllocationKind.LATE_FEE:
            entry["late_fee"] = entry.get("late_fee", Decimal("0.00")) + a.amount
    return [
        {key: outbox.money(value) if key != "period" else value for key, value in entry.items()}
        for entry in by_bill.values()
    ]


def _execute(statement: str, params: dict, *, commit: bool = False) -> tuple[int, list[int]]:
    """The payment's id and its new allocations' ids, in the order they were written. `commit`: the
    statement is the last of its caller's transaction, which it commits (plain_sql.execute_and_commit)."""
    if commit:
        ((pk, allocation_ids),) = execute_and_commit(statement, params, binary=True)
        return pk, allocation_ids
    with prepared_cursor(binary=True) as cursor:
        cursor.execute(statement, params)
        pk, allocation_ids = cursor.fetchone()
    return pk, allocation_ids


def _settle_in_memory(bills: list[Bill], account: CustomerAccount | None, credit: Decimal, at) -> None:
    """Bring the caller's instances to what the statement wrote."""
    for bill in bills:
        bill.updated_at = at
    if credit and account is not None:
        account.credit_balance += credit


def write_payment(
    rows: PaymentRows,
    *,
    audit: PaymentAudit | None = None,
    kept: KeptRow | None = None,
    commit: bool = False,
) -> Payment:
    """`commit`: nothing follows the payment's statement in the transaction its caller's atomic block owns,
    and the statement commits it (`_execute`). `kept`: the caller's row, written by the same statement when
    it can be known now (`kept_row` then names it on the payment)."""
    ledger.check_balanced(rows.lines)
    payment = rows.payment
    payment.written_allocations = rows.allocations  # as they will be written: what `kept` may read
    kept_params = kept.params(payment) if kept is not None else None
    if kept_params is None:
        kept = None
    params = {
        "receipt_no": payment.receipt_no,
        "channel": payment.channel,
        "idempotency_key": payment.idempotency_key,
        "request_fingerprint": payment.request_fingerprint,
        "channel_ref": payment.channel_ref,
        "biller_id": payment.biller_id,
        "payer_id": payment.payer_id,
        "branch_id": payment.branch_id,
        "actor_id": payment.actor_id,
        "amount": payment.amount,
        "status": payment.status,
        "business_date": payment.business_date,
        "changed_at": payment.posted_at,
        "entry_kind": EntryKind.PAYMENT,
        "reverses_id": None,
        "memo": payment.receipt_no,
        "audit_action": audit.action if audit else None,
        "audit_target_type": Payment._meta.label_lower,
        "audit_reason": audit.reason_text() if audit else "",
        "audit_data": audit.data_json() if audit else None,
        **_changes(rows, 1),
    }
    params.update(_event(rows, outbox.EventType.PAYMENT_POSTED, payment.biller.code))
    if kept is not None:
        params.update(kept_params)
    payment.pk, allocation_ids = _execute(_payment_statement(kept), params, commit=commit)
    outbox.relay_on_commit()
    mark_saved(payment)
    payment.kept_row = kept
    _keep_allocations(payment, rows.allocations, allocation_ids)
    _settle_in_memory(rows.bills, rows.account, rows.credit, payment.posted_at)
    return payment


def _keep_allocations(payment: Payment, allocations: list[PaymentAllocation], ids: list[int]) -> None:
    """The written allocations, with their ids, stay on the payment (`written_allocations`): whoever
    answers with them (the partner API) need not read back the rows just written."""
    for allocation, pk in zip(allocations, ids, strict=True):
        allocation.pk = pk
        allocation.payment_id = payment.pk
        mark_saved(allocation)
    payment.written_allocations = allocations


def kept_row(payment: Payment) -> KeptRow | None:
    """The caller's row `write_payment` wrote with this payment instance; None when it wrote none."""
    return getattr(payment, "kept_row", None)


def written_allocations(payment: Payment) -> list[PaymentAllocation] | None:
    """The allocations `write_payment` wrote for this payment instance; None for a payment read back."""
    return getattr(payment, "written_allocations", None)


def write_reversal(rows: ReversalRows) -> Payment:
    ledger.check_balanced(rows.lines)
    payment = rows.payment
    params = {
        "payment_id": payment.pk,
        "status": PaymentStatus.REVERSED,
        "reason": rows.reason,
        "business_date": rows.business_date,
        "changed_at": rows.reversed_at,
        "entry_kind": EntryKind.REVERSAL,
        "reverses_id": rows.original_entry_id,
        "memo": rows.memo,
        "actor_id": rows.actor_id,
        **_changes(rows, -1),
    }
    payment.status = PaymentStatus.REVERSED
    payment.reversed_at = rows.reversed_at
    payment.reversal_reason = rows.reason
    params.update(_event(rows, outbox.EventType.PAYMENT_REVERSED, payment.biller.code))
    _execute(_REVERSAL_STATEMENT, params)
    outbox.relay_on_commit()
    _settle_in_memory(rows.bills, rows.account, -rows.credit, rows.reversed_at)
    return payment


# Several payments of one channel in one statement (`services.post_payments`): each CTE of
# `_PAYMENT_STATEMENT` over all of them, a payment's dependent rows (its audit row, when it has one) tied to
# it by its receipt number. A payment whose key a concurrent request took first fails the whole statement on
# the key's unique index, and the caller decides again.
_PAYMENTS_STATEMENT = (
    """
WITH p AS MATERIALIZED (
    SELECT * FROM jsonb_to_recordset(%(payments)s::jsonb) AS p(
        receipt_no varchar, idempotency_key varchar, request_fingerprint varchar, channel_ref varchar,
        biller_id bigint, account_id bigint, amount numeric, event_id uuid, event_payload jsonb,
        audit_action varchar, audit_reason varchar, audit_data jsonb
    )
), payment AS (
    INSERT INTO billing_payment (
        receipt_no, channel, idempotency_key, request_fingerprint, channel_ref, biller_id, account_id,
        payer_id, branch_id, actor_id, amount, status, business_date, posted_at, reversal_reason
    )
    SELECT p.receipt_no, %(channel)s, p.idempotency_key, p.request_fingerprint, p.channel_ref, p.biller_id,
        p.account_id, %(payer_id)s, NULL, %(actor_id)s, p.amount, %(status)s, %(business_date)s,
        %(changed_at)s, ''
    FROM p
    RETURNING id, receipt_no
), new_audit AS (
    """
    + AUDIT_INSERT_INTO_SQL
    + """
    SELECT %(changed_at)s, %(actor_id)s, p.audit_action, %(audit_target_type)s, payment.id::text,
        p.receipt_no, p.audit_reason, p.audit_data
    FROM p JOIN payment ON payment.receipt_no = p.receipt_no
    WHERE p.audit_action IS NOT NULL
), """
    + _CHANGED_BILLS
    + """, account_credit AS (
    UPDATE billing_customeraccount SET credit_balance = credit_balance + c.credit
    FROM jsonb_to_recordset(%(credits)s::jsonb) AS c(id bigint, credit numeric)
    WHERE billing_customeraccount.id = c.id
), new_entry AS (
    INSERT INTO billing_journalentry (
        kind, payment_id, reverses_id, memo, business_date, created_at, created_by_id
    )
    SELECT %(entry_kind)s, payment.id, NULL, payment.receipt_no, %(business_date)s, %(changed_at)s,
        %(actor_id)s
    FROM payment
    RETURNING id, payment_id
), new_lines AS (
    INSERT INTO billing_journalline (entry_id, account_id, amount)
    SELECT new_entry.id, l.account_id, l.amount
    FROM jsonb_to_recordset(%(lines)s::jsonb) AS l(receipt_no varchar, account_id bigint, amount numeric)
    JOIN payment ON payment.receipt_no = l.receipt_no
    JOIN new_entry ON new_entry.payment_id = payment.id
), new_allocations AS (
    INSERT INTO billing_paymentallocation (payment_id, bill_id, kind, amount, is_reversal)
    SELECT payment.id, a.bill_id, a.kind, a.amount, false
    FROM jsonb_to_recordset(%(allocations)s::jsonb)
        AS a(receipt_no varchar, bill_id bigint, kind varchar, amount numeric)
    JOIN payment ON payment.receipt_no = a.receipt_no
    RETURNING id, payment_id, bill_id, kind
), new_event AS (
    INSERT INTO billing_outboxevent (id, type, aggregate_type, aggregate_id, payload, created_at)
    SELECT p.event_id, %(event_type)s, 'payment', payment.id::text, p.event_payload, %(changed_at)s
    FROM p JOIN payment ON payment.receipt_no = p.receipt_no
)
SELECT payment.receipt_no, payment.id,
    (SELECT json_agg(json_build_array(a.id, a.bill_id, a.kind)) FROM new_allocations a
     WHERE a.payment_id = payment.id)
FROM payment
"""
)


def write_payments(batch: list[PaymentRows], audits: list[PaymentAudit | None]) -> list[Payment]:
    """`write_payment` for several payments of one channel, payer and actor, each for another customer
    account, decided under the batch's locks, with each one's audit row if it has one: one round trip."""
    first = batch[0].payment
    payments, bills, credits, lines, allocations = [], [], [], [], []
    for rows, audit in zip(batch, audits, strict=True):
        ledger.check_balanced(rows.lines)
        payment = rows.payment
        # One transaction, one moment: each was decided at its own, the statement writes the first's.
        payment.business_date, payment.posted_at = first.business_date, first.posted_at
        receipt = payment.receipt_no
        payments.append(
            {
                "receipt_no": receipt,
                "idempotency_key": payment.idempotency_key,
                "request_fingerprint": payment.request_fingerprint,
                "channel_ref": payment.channel_ref,
                "biller_id": payment.biller_id,
                "account_id": payment.account_id,
                "amount": str(payment.amount),
                "event_id": str(outbox.new_event_id()),
                "event_payload": _event_payload(rows, payment.biller.code),
                "audit_action": audit.action if audit else None,
                "audit_reason": audit.reason_text() if audit else "",
                "audit_data": stored_data(audit.data) if audit else None,
            }
        )
        bills += rows.bills
        if rows.credit:
            credits.append({"id": rows.account.pk, "credit": str(rows.credit)})
        lines += (
            {"receipt_no": receipt, "account_id": account.pk, "amount": str(amount)}
            for account, amount in rows.lines
        )
        allocations += (
            {"receipt_no": receipt, "bill_id": a.bill_id, "kind": a.kind, "amount": str(a.amount)}
            for a in rows.allocations
        )
    params = {
        "channel": first.channel,
        "payer_id": first.payer_id,
        "actor_id": first.actor_id,
        "status": first.status,
        "business_date": first.business_date,
        "changed_at": first.posted_at,
        "entry_kind": EntryKind.PAYMENT,
        "event_type": outbox.EventType.PAYMENT_POSTED,
        "audit_target_type": Payment._meta.label_lower,
        "payments": json.dumps(payments),
        "bills": _bills_json(bills),
        "credits": json.dumps(credits),
        "lines": json.dumps(lines),
        "allocations": json.dumps(allocations),
    }
    with prepared_cursor(binary=True) as cursor:
        cursor.execute(_PAYMENTS_STATEMENT, params)
        written = {receipt: (pk, allocation_ids) for receipt, pk, allocation_ids in cursor.fetchall()}
    outbox.relay_on_commit()
    for rows in batch:
        payment = rows.payment
        payment.pk, allocation_ids = written[payment.receipt_no]
        mark_saved(payment)
        ids = {(bill_id, kind): pk for pk, bill_id, kind in allocation_ids or ()}
        _keep_allocations(payment, rows.allocations, [ids[(a.bill_id, a.kind)] for a in rows.allocations])
        _settle_in_memory(rows.bills, rows.account, rows.credit, payment.posted_at)
    return [rows.payment for rows in batch]
