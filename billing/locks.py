"""Row locks for money, always taken in this order so that two transactions never wait on each other in
a cycle: payment → customer account → its bills (oldest first). Saleor keeps its locks in one module
for the same reason.

Every `select_for_update` of the platform lives in a `<app>/locks.py` (billing, payers, branches,
reconciliation, api), called from services; `tests/test_lock_modules.py` fails on one anywhere else.
The order across the platform, outermost first — a transaction takes only locks further down the list
than the ones it holds:

  1. the owner of a lifecycle: biller (status, onboarding, bill import, settlement), partner, credential,
     branch, planned closure, reconciliation run, settlement batch, dispute → discrepancy → the
     complaints about it, complaint;
  2. a portal order or a sandbox-bank trade → its order lines; an idempotency record; a webhook delivery;
  3. the till (counter cash) or the agent (its float: branches.locks.lock_agent), then a payment to reverse;
  4. the customer account (by biller code and number, or by id);
  5. its bills, oldest first (due date, period, id).

Besides the order, on their own: the outbox relay's batch of unpublished events (skip locked) and then the
webhook deliveries it creates, or the fiscal e-receipts it marks for reversal (billing.fiscal); a
fiscal e-receipt while its issuer's answer is recorded; a failed task's record.

Posting (`billing.services.post_payment`) starts at 4; a reversal at 3 (the payment) then 4 and 5.

The locks every payment takes, the account's and then its bills', are one plain SQL statement: compiling
them through the ORM cost a third of the posting path's Python time, and each round trip more costs both
the worker and PostgreSQL (docs/benchmarks.md).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from axes.models import AccessAttempt
from django.db import connection

from billing.choices import PAYABLE_BILL_STATUSES, PaymentMode
from billing.models import Bill, Biller, CustomerAccount, FailedTask, LedgerAccount, OutboxEvent, Payment
from billing.plain_sql import attnames, columns, constants, model_from_row, prepared_cursor
from billing.presentment_models import LIVE_MODES, BillerLink

_ACCOUNT_WITH_BILLER_SQL = f"""
SELECT {columns(CustomerAccount, "a")}, {columns(Biller, "b")}
FROM billing_customeraccount a JOIN billing_biller b ON b.id = a.biller_id
WHERE b.code = %s AND a.account_no = %s
FOR UPDATE OF a
"""

# The posting service's lock, with what it needs to know in the same round trip: of the biller, whether its
# bills are live (billing.presentment), whether it shares its collections (billing.collection_shares), and
# the ledger accounts the payment's lines go to (billing.ledger's codes; NULL while one does not exist yet);
# which payment took the request's key, if one had committed when the statement began; and, when asked and
# the biller bills by statement, the account's payable bills, locked oldest first after the account (the
# lateral join runs for the locked account row: the lock order of the module docstring holds), read through
# the (account, period) unique index: there is no index of payable bills, so that a payment's bill update
# stays in place (Bill.Meta.indexes).
PAYABLE = constants(PAYABLE_BILL_STATUSES)
_ACCOUNT_FOR_POSTING_SQL = f"""
SELECT locked.*,
    (SELECT id FROM billing_payment WHERE channel = %(channel)s AND idempotency_key = %(key)s),
    {columns(Bill, "bill")}
FROM (
    SELECT {columns(CustomerAccount, "a")}, {columns(Biller, "b")},
        {columns(LedgerAccount, "collection")}, {columns(LedgerAccount, "payable")},
        {columns(LedgerAccount, "late_fee")},
        link.mode IN ({", ".join(f"'{mode}'" for mode in LIVE_MODES)}),
        EXISTS (SELECT 1 FROM billing_collectionshare share WHERE share.biller_id = b.id AND share.active),
        a.id AS locked_account_id, b.payment_mode = %(statement)s AS locked_by_statement
    FROM billing_customeraccount a JOIN billing_biller b ON b.id = a.biller_id
    LEFT JOIN billing_ledgeraccount collection ON collection.code = %(collection)s
    LEFT JOIN billing_ledgeraccount payable ON payable.code = 'PAYABLE:' || b.code
    LEFT JOIN billing_ledgeraccount late_fee ON late_fee.code = 'LATEFEE:' || b.code
    LEFT JOIN {BillerLink._meta.db_table} link ON link.biller_id = b.id
    WHERE b.code = %(biller)s AND a.account_no = %(account)s
    FOR UPDATE OF a
) locked
LEFT JOIN LATERAL (
    SELECT * FROM billing_bill bill
    WHERE %(with_bills)s AND locked.locked_by_statement AND bill.account_id = locked.locked_account_id
        AND bill.status IN ({PAYABLE})
    ORDER BY bill.due_date, bill.period, bill.id
    FOR UPDATE
) bill ON true
ORDER BY bill.due_date, bill.period, bill.id
"""


def lock_payment(payment_id: int) -> Payment:
    return Payment.objects.select_for_update(of=("self",)).select_related("biller").get(pk=payment_id)


def lock_customer_account(*, biller_code: str, account_no: str) -> CustomerAccount | None:
    """Lock the account row (not its biller's: payments to one biller must not queue behind each other)
    and fetch the biller with it in the same query."""
    with connection.cursor() as cursor:
        cursor.execute(_ACCOUNT_WITH_BILLER_SQL, [biller_code, account_no])
        row = cursor.fetchone()
    if row is None:
        return None
    account, end = model_from_row(CustomerAccount, row)
    account.biller, _end = model_from_row(Biller, row, end)
    return account


@dataclass
class PostingLock:
    """The locked account (its biller loaded) and what the posting service needs to know with it."""

    account: CustomerAccount
    collection: LedgerAccount | None  # None: not created yet (billing.ledger creates it)
    payable: LedgerAccount | None
    late_fee: LedgerAccount | None
    live_link: bool  # the biller's bills are fetched or its payments validated (billing.presentment)
    shares: bool  # the biller has active co-beneficiaries (billing.collection_shares)
    # The payment that took the key, as the statement's snapshot saw it: one that committed while this
    # request waited for the lock is not seen (its own insert then fails on the key's unique index).
    # Likewise the bills: those the lock holder paid or changed come back as they are now; a bill it made
    # payable again (a reversal) is not among them, so this payment is as if it had come first.
    key_payment_id: int | None
    payable_bills: list[Bill] | None  # locked oldest first; None when not asked or not billed by statement


def lock_customer_account_for_posting(
    *,
    biller_code: str,
    account_no: str,
    collection_code: str,
    channel: str,
    idempotency_key: str,
    with_payable_bills: bool,
) -> PostingLock | None:
    """`lock_customer_account`, with the biller's live link, shares and ledger accounts, the payment that
    took the key and (`with_payable_bills`) the account's payable bills, all in one round trip."""
    params = {
        "channel": channel,
        "key": idempotency_key,
        "statement": PaymentMode.STATEMENT,
        "collection": collection_code,
        "biller": biller_code,
        "account": account_no,
        "with_bills": with_payable_bills,
    }
    with prepared_cursor(binary=True) as cursor:
        cursor.execute(_ACCOUNT_FOR_POSTING_SQL, params)
        rows = cursor.fetchall()
    if not rows:
        return None
    lock, lock.key_payment_id = _posting_lock_from_rows(rows, with_payable_bills=with_payable_bills)
    return lock


def _posting_lock_from_rows(rows, *, with_payable_bills: bool) -> tuple[PostingLock, object]:
    """One account's rows of a posting lock's statement: the lock, and the column after the biller's facts
    (the key's payment for one payment's lock, the account's place for a batch's)."""
    row = rows[0]
    account, end = model_from_row(CustomerAccount, row)
    account.biller, end = model_from_row(Biller, row, end)
    ledger_accounts = []
    width = len(attnames(LedgerAccount))
    for _name in ("collection", "payable", "late_fee"):
        # NULL columns: the ledger account does not exist yet (a biller without a late-fee account).
        ledger_accounts.append(model_from_row(LedgerAccount, row, end)[0] if row[end] is not None else None)
        end += width
    live_link, shares, _account_id, by_statement, fifth = row[end : end + 5]
    bills_start = end + 5
    payable_bills = None
    if with_payable_bills and by_statement:
        payable_bills = [model_from_row(Bill, r, bills_start)[0] for r in rows if r[bills_start] is not None]
    lock = PostingLock(
        account,
        *ledger_accounts,
        live_link=bool(live_link),
        shares=shares,
        key_payment_id=None,
        payable_bills=payable_bills,
    )
    return lock, fifth


# A batch's lock (`lock_customer_accounts_for_batch`): its accounts first, in id order, then all their payable
# bills in the order every writer of several accounts' bills takes them (due date, period, id: a bill
# import's), so that two batches, or a batch and an import, never wait on each other in a cycle. The
# `locked_bills` CTE reads the locked accounts, so none of its locks is taken before all of theirs. The
# columns are the posting lock's (`_ACCOUNT_FOR_POSTING_SQL`), with the account's place in the batch where
# that one has the key's payment.
_ACCOUNTS_FOR_BATCH_SQL = f"""
WITH locked AS MATERIALIZED (
    SELECT {columns(CustomerAccount, "a")}, {columns(Biller, "b")},
        {columns(LedgerAccount, "collection")}, {columns(LedgerAccount, "payable")},
        {columns(LedgerAccount, "late_fee")},
        link.mode IN ({", ".join(f"'{mode}'" for mode in LIVE_MODES)}),
        EXISTS (SELECT 1 FROM billing_collectionshare share WHERE share.biller_id = b.id AND share.active),
        a.id AS locked_account_id, b.payment_mode = %(statement)s AS locked_by_statement,
        r.ord AS locked_ord
    FROM unnest(%(billers)s::varchar[], %(accounts)s::varchar[])
        WITH ORDINALITY AS r(biller_code, account_no, ord)
    JOIN billing_biller b ON b.code = r.biller_code
    JOIN billing_customeraccount a ON a.biller_id = b.id AND a.account_no = r.account_no
    LEFT JOIN billing_ledgeraccount collection ON collection.code = %(collection)s
    LEFT JOIN billing_ledgeraccount payable ON payable.code = 'PAYABLE:' || b.code
    LEFT JOIN billing_ledgeraccount late_fee ON late_fee.code = 'LATEFEE:' || b.code
    LEFT JOIN {BillerLink._meta.db_table} link ON link.biller_id = b.id
    ORDER BY a.id
    FOR UPDATE OF a
), locked_bills AS MATERIALIZED (
    SELECT * FROM billing_bill bill
    WHERE bill.account_id IN (SELECT locked_account_id FROM locked WHERE locked_by_statement)
        AND bill.status IN ({PAYABLE})
    ORDER BY bill.due_date, bill.period, bill.id
    FOR UPDATE
)
SELECT locked.*, {columns(Bill, "bill")}
FROM locked LEFT JOIN locked_bills bill ON bill.account_id = locked.locked_account_id
ORDER BY locked.locked_ord, bill.due_date, bill.period, bill.id
"""

_ACCOUNT_ID = attnames(CustomerAccount).index("id")
_USED_KEYS_SQL = (
    "SELECT idempotency_key FROM billing_payment WHERE channel = %s AND idempotency_key = ANY(%s)"
)


def lock_customer_accounts_for_batch(
    *, channel: str, collection_code: str, accounts: Sequence[tuple[str, str]], keys: Sequence[str]
) -> tuple[dict[int, PostingLock], set[str]]:
    """For a batch of payments (`services.post_payments`): the accounts its orders name, each once, given as
    (biller code, account number), found and locked with their payable bills, by their place in `accounts`;
    and which of `keys` committed payments have taken. An account not found is not in the answer."""
    params = {
        "statement": PaymentMode.STATEMENT,
        "collection": collection_code,
        "billers": [biller for biller, _account_no in accounts],
        "accounts": [account_no for _biller, account_no in accounts],
    }
    with prepared_cursor(binary=True) as cursor:
        cursor.execute(_ACCOUNTS_FOR_BATCH_SQL, params)
        rows = cursor.fetchall()
        # Asked once every lock is held, not by the statement above: its snapshot is older than its locks,
        # and a request with one of these keys may have committed while the batch waited for them.
        cursor.execute(_USED_KEYS_SQL, [channel, list(keys)])
        used = {key for (key,) in cursor.fetchall()}
    by_account: dict[int, list] = {}  # the rows come account by account, each account's bills oldest first
    for row in rows:
        by_account.setdefault(row[_ACCOUNT_ID], []).append(row)
    found = {}
    for account_rows in by_account.values():
        lock, ordinal = _posting_lock_from_rows(account_rows, with_payable_bills=True)
        found[ordinal - 1] = lock
    return found, used


def lock_customer_account_by_id(account_id: int) -> CustomerAccount:
    return CustomerAccount.objects.select_for_update().get(pk=account_id)


def lock_bills_by_period(account: CustomerAccount, periods: Iterable[str]) -> list[Bill]:
    return list(
        Bill.objects.select_for_update()
        .filter(account=account, period__in=list(periods))
        .order_by("due_date", "period", "id")
    )


def lock_bills_by_id(bill_ids: Iterable[int]) -> list[Bill]:
    return list(
        Bill.objects.select_for_update().filter(pk__in=list(bill_ids)).order_by("due_date", "period", "id")
    )


def lock_bills_of_import(biller: Biller, *, account_nos: Iterable[str], periods: Iterable[str]):
    """The biller's bills for these accounts and periods, locked oldest first (a bill import's upsert;
    its biller is locked already)."""
    return (
        Bill.objects.filter(
            biller=biller, account__account_no__in=list(account_nos), period__in=list(periods)
        )
        .select_related("account")
        .select_for_update(of=("self",))
        .order_by("due_date", "period", "id")
    )


def lock_biller(biller_id: int) -> Biller:
    """The biller row: its status and onboarding data, and one bill import or settlement at a time.
    Payments lock accounts and bills, never the biller, so they are not held up."""
    return Biller.objects.select_for_update().get(pk=biller_id)


def lock_biller_row(biller_id: int) -> None:
    """`lock_biller` without loading the row, when only the lock matters."""
    Biller.objects.select_for_update().filter(pk=biller_id).values_list("pk", flat=True).first()


def lock_login_attempts(username: str) -> list:
    """A login key's failed-login records (django-axes), while a platform admin lifts its lock-out. Taken
    on its own: nothing else is locked in that transaction."""
    return list(AccessAttempt.objects.select_for_update().filter(username=username).order_by("pk"))


def claim_unpublished_events(limit: int) -> list[OutboxEvent]:
    """The outbox relay's batch, oldest first: rows another relay holds are skipped, not waited for, so
    two relays publish different events side by side and never the same one. Taken on its own."""
    return list(
        OutboxEvent.objects.select_for_update(skip_locked=True)
        .filter(published_at__isnull=True)
        .order_by("created_at")[:limit]
    )


def lock_failed_task(failed_task_id: int) -> FailedTask:
    return FailedTask.objects.select_for_update().get(pk=failed_task_id)


def lock_failed_task_by_fingerprint(fingerprint: str) -> FailedTask | None:
    return FailedTask.objects.select_for_update().filter(fingerprint=fingerprint).first()


def lock_biller_check(check_id: int):
    """A live biller's word on one payment (billing.presentment), while its confirmation is recorded."""
    from billing.presentment_models import BillerCheck

    return BillerCheck.objects.select_for_update().select_related("payment").get(pk=check_id)


def lock_fiscal_receipt(receipt_id: int):
    """A payment's fiscal e-receipt (billing.fiscal), while a move of its status is recorded."""
    from billing.fiscal_models import FiscalReceipt

    return FiscalReceipt.objects.select_for_update().select_related("payment", "biller").get(pk=receipt_id)


def lock_fiscal_receipts_of_payments(payment_ids: Iterable[int]) -> list:
    """The fiscal e-receipts of reversed payments, in id order, while the relay marks them for reversal."""
    from billing.fiscal_models import FiscalReceipt

    return list(
        FiscalReceipt.objects.select_for_update().filter(payment_id__in=list(payment_ids)).order_by("pk")
    )
