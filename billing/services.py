"""Writes of the billing domain. Every channel — portal, counter, partner API — pays through
`post_payment` and undoes through `reverse_payment`; nothing else moves money."""

import datetime
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

from billing import amounts, instalments, ledger, locks, posting, presentment, roles, selectors, topup_holds
from billing.account_patterns import check_account_pattern
from billing.audit import PaymentAudit, record_audit
from billing.choices import (
    BILLER_TRANSITIONS,
    AllocationKind,
    AmountRule,
    BillerStatus,
    BillStatus,
    Channel,
    EntryKind,
    PaymentMode,
    PaymentStatus,
    ShareRule,
)
from billing.collection_shares import BillPart, check_shares, principal_paid_before, split_payment
from billing.exceptions import (
    BillingError,
    IdempotencyConflict,
    OnboardingRefused,
    PaymentRefused,
)
from billing.models import (
    IDEMPOTENCY_KEY_MAX_LENGTH,
    Bill,
    Biller,
    CustomerAccount,
    FeeSchedule,
    Payment,
    PaymentAllocation,
    platform_date,
)
from billing.money import ZERO, format_money, parse_amount, quantize_money
from billing.money_log import log_money_action, log_posted, logged_posting
from billing.plain_sql import is_deadlock, new_instance
from billing.rules import (
    account_no_is_valid,
    allocate_statement_payment,
    normalize_account_no,
    normalize_code,
)
from billing.transitions import transition
from billing.uscc import uscc_is_valid

IDEMPOTENCY_KEY_RE = re.compile(rf"^[\x21-\x7e]{{1,{IDEMPOTENCY_KEY_MAX_LENGTH}}}$")


@dataclass(frozen=True)
class PostingResult:
    payment: Payment
    replayed: bool


@dataclass(frozen=True)
class _PaymentRequest:
    channel: str
    idempotency_key: str
    biller_code: str
    account_no: str
    amount: Decimal
    periods: tuple[str, ...]
    payer_id: int | None
    branch_id: int | None
    channel_ref: str
    priced_on: datetime.date | None = None

    @classmethod
    def normalized(
        cls,
        *,
        channel,
        idempotency_key,
        biller_code,
        account_no,
        amount,
        periods,
        payer,
        branch,
        channel_ref,
        priced_on,
    ) -> "_PaymentRequest":
        """The request as a caller of `post_payment` or `post_payments` gave it, in the one form both decide
        on; raises the refusal of an amount or pricing day that cannot be."""
        return cls(
            channel=channel,
            idempotency_key=idempotency_key,
            biller_code=normalize_code(biller_code),
            account_no=normalize_account_no(account_no or ""),
            amount=parse_amount(amount),
            periods=tuple(sorted(set(periods or ()))),
            payer_id=getattr(payer, "pk", None),
            branch_id=getattr(branch, "pk", None),
            channel_ref=channel_ref or "",
            priced_on=_check_priced_on(priced_on),
        )

    @property
    def fingerprint(self) -> str:
        """What makes two requests 'the same' for idempotency: everything but the key itself."""
        canonical = {
            "biller": self.biller_code,
            "account_no": self.account_no,
            "amount": str(self.amount),
            "periods": list(self.periods),
            "payer": self.payer_id,
            "branch": self.branch_id,
            "channel_ref": self.channel_ref,
        }
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


@logged_posting
def post_payment(
    *,
    channel: str,
    idempotency_key: str,
    biller_code: str,
    amount: Decimal | str | int,
    account_no: str | None = None,
    periods: Sequence[str] | None = None,
    payer=None,
    branch=None,
    actor=None,
    channel_ref: str = "",
    clearance=None,
    priced_on: datetime.date | None = None,
    collection=None,
    savepoint: bool = True,
    audit: PaymentAudit | None = None,
    kept: posting.KeptRow | None = None,
) -> PostingResult:
    """Take a payment for a biller and write it to the ledger, exactly once per (channel, key).

    Bills are priced (`billing.amounts`) for today in Beijing, or for `priced_on` when the platform fixed
    the amount earlier (a portal order priced on the day it was opened and confirmed by the bank after
    midnight); a payment of a date-dependent bill whose amount no longer matches is refused with
    `amount_due_changed`. Bills are paid oldest first unless `periods` names them. A refused request
    stores nothing, so a corrected retry with the same key goes through; the same key with the same
    request returns the original payment; with a different request it raises `IdempotencyConflict`.

    A biller whose bills are fetched or validated live (billing.presentment) is asked first, outside the
    transaction: by the caller, which passes its `clearance`, or here when the caller passed none.

    Inside a caller's transaction the posting takes a savepoint, so that a caller may catch a refusal and
    go on. A caller whose transaction ends with any refusal may pass `savepoint=False` (two round trips
    less); then a same-key race lost to another channel's request raises instead of answering as a replay.

    `audit`: the new payment's audit row, written by the posting statement itself (none for a replay).
    `kept`: a row of the caller's own, written by the same statement when it can be (`posting.KeptRow`).
    """
    if channel not in Channel.values:
        raise PaymentRefused("channel_invalid", channel=channel)
    if not isinstance(idempotency_key, str) or not IDEMPOTENCY_KEY_RE.fullmatch(idempotency_key):
        raise PaymentRefused("idempotency_key_invalid")
    if channel == Channel.COUNTER and branch is None:
        raise PaymentRefused("branch_required")
    if (channel == Channel.AGENT) != (collection is not None):
        # An agent's payment is collected from its float (the caller's `collection` account), and only its.
        raise PaymentRefused("collection_account_required")
    request = _PaymentRequest.normalized(
        channel=channel,
        idempotency_key=idempotency_key,
        biller_code=biller_code,
        account_no=account_no,
        amount=amount,
        periods=periods,
        payer=payer,
        branch=branch,
        channel_ref=channel_ref,
        priced_on=priced_on,
    )
    # A live biller (billing.presentment) is asked outside any transaction: the lock below says whether the
    # biller is one; if so, and nobody asked it yet, nothing is written, the biller is asked and the
    # posting runs again. Inside the caller's transaction it is posted and confirmed with the biller later.
    asking = _ASKED if clearance is not None else _PENDING if connection.in_atomic_block else _ASK
    # Our own transaction: the payment's statement may commit it, when nothing is recorded after it.
    last = not connection.in_atomic_block
    while True:
        try:
            with transaction.atomic(savepoint=savepoint):
                posted = _post_new_payment(
                    request,
                    payer=payer,
                    branch=branch,
                    actor=actor,
                    collection=collection,
                    asking=asking,
                    clearance=clearance,
                    audit=audit,
                    kept=kept,
                    last=last,
                )
                if not isinstance(posted, _KeyUsed):
                    payment, clearance = posted
                    if clearance is not None:
                        presentment.record_clearance(payment, clearance)
        except _BillerMustBeAsked:
            clearance = presentment.check_with_biller(
                channel=channel,
                idempotency_key=idempotency_key,
                biller_code=request.biller_code,
                account_no=request.account_no,
                amount=request.amount,
                periods=request.periods,
            )
            asking = _ASKED
            continue
        except IntegrityError:
            # A concurrent request with the same key committed first: PostgreSQL made us wait on the unique
            # index, then refused our row. Answer as a replay of the winner.
            if not savepoint and connection.in_atomic_block:
                raise  # the caller's transaction is spoiled: it ends, and a retry answers as a replay
            existing = _payment_for_key(channel, idempotency_key)
            if existing is None:
                raise
            return _replay(existing, request)
        if isinstance(posted, _KeyUsed):
            return _replay(Payment.objects.get(pk=posted.payment_id), request)
        return PostingResult(payment=payment, replayed=False)


# How many orders `post_payments` takes at once: a batch holds its accounts' locks until it commits.
MAX_BATCH = 500
# How many times a batch is decided again when a request racing it took one of its keys first, or PostgreSQL
# broke a lock wait between it and another transaction (a deadlock), before its orders are posted one by one.
_BATCH_ATTEMPTS = 3


@dataclass(frozen=True)
class PaymentOrder:
    """One payment of a batch (`post_payments`): what its caller would otherwise pass `post_payment`."""

    idempotency_key: str
    biller_code: str
    amount: Decimal | str | int
    account_no: str = ""
    periods: tuple[str, ...] = ()
    channel_ref: str = ""
    audit: PaymentAudit | None = None  # the new payment's audit row, as post_payment's `audit`


def post_payments(
    *,
    channel: str,
    orders: Sequence[PaymentOrder],
    payer=None,
    actor=None,
    priced_on: datetime.date | None = None,
) -> list[PostingResult | PaymentRefused]:
    """Post several payments of one channel as if each had been passed to `post_payment` in turn: the
    answer for each, in their order, is its `PostingResult` or the refusal `post_payment` would have raised
    (returned, not raised: one refusal holds back none of the others). `priced_on` as post_payment's, for
    every order.

    Why: a payment costs mostly per statement and per transaction, not per decision (docs/benchmarks.md).
    The common case is posted in one transaction of three statements however many orders there are: an
    account no earlier order of the batch names, with a key no earlier order has, of a biller whose bills
    are pushed, without named periods, not refused, and not a top-up waiting for a card write. Every other
    order goes through `post_payment` alone after the batch, in its place in the order, so it is answered by
    the same rules as ever; an order in the batch shares nothing with any order before it, so posting it
    first changes no answer. Called outside a transaction, the batch commits first; inside a caller's, the
    others are posted under the batch's locks, which hold their accounts too (`_split_batch`)."""
    if channel not in Channel.values:
        raise PaymentRefused("channel_invalid", channel=channel)
    if channel == Channel.COUNTER:
        raise PaymentRefused("branch_required")
    if channel == Channel.AGENT:
        raise PaymentRefused("collection_account_required")
    if len(orders) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} orders a batch, not {len(orders)}")
    batch, alone, accounts = _split_batch(channel, orders, payer=payer, priced_on=priced_on)
    results: list[PostingResult | PaymentRefused | None] = [None] * len(orders)
    if batch:
        audits = {place: orders[place].audit for place in batch}
        posted, left = _post_batch(channel, batch, accounts, audits, payer=payer, actor=actor)
        for place, payment in posted.items():
            results[place] = PostingResult(payment=payment, replayed=False)
        alone = sorted(alone + left)
    for place in alone:
        try:
            results[place] = post_order(
                channel=channel, order=orders[place], payer=payer, actor=actor, priced_on=priced_on
            )
        except PaymentRefused as refused:
            results[place] = refused
    return results


def post_order(
    *,
    channel: str,
    order: PaymentOrder,
    payer=None,
    actor=None,
    priced_on: datetime.date | None = None,
    clearance=None,
    savepoint: bool = True,
    kept: posting.KeptRow | None = None,
) -> PostingResult:
    """`post_payment` of one `PaymentOrder`: for the callers that hold their payment as an order (a batch's
    orders posted alone, the posting desk's caller posting directly)."""
    return post_payment(
        channel=channel,
        idempotency_key=order.idempotency_key,
        biller_code=order.biller_code,
        account_no=order.account_no,
        amount=order.amount,
        periods=order.periods,
        payer=payer,
        actor=actor,
        channel_ref=order.channel_ref,
        clearance=clearance,
        priced_on=priced_on,
        savepoint=savepoint,
        audit=order.audit,
        kept=kept,
    )


def _split_batch(
    channel: str, orders: Sequence[PaymentOrder], *, payer, priced_on
) -> tuple[dict[int, _PaymentRequest], list, list[tuple[str, str]]]:
    """The orders the batch may post together (by their place); the places of those left to `post_payment`
    alone: any that shares an account or a key with an earlier order, names periods or no account, or that
    `post_payment` would refuse before looking at the database; and every account the orders name, once.

    The batch locks all those accounts, its own and the others': inside a caller's transaction the others
    are posted while the batch's locks are still held, and an account locked then, out of the batch's
    order, could wait on another batch that waits on this one."""
    batch: dict[int, _PaymentRequest] = {}
    alone: list[int] = []
    accounts, keys = {}, set()  # accounts: a dict, to keep them in the orders' order
    for place, order in enumerate(orders):
        key = order.idempotency_key
        try:
            request = _PaymentRequest.normalized(
                channel=channel,
                idempotency_key=key,
                biller_code=order.biller_code,
                account_no=order.account_no,
                amount=order.amount,
                periods=order.periods,
                payer=payer,
                branch=None,
                channel_ref=order.channel_ref,
                priced_on=priced_on,
            )
        except PaymentRefused:
            request = None
        account = (request.biller_code, request.account_no) if request is not None else None
        independent = (
            request is not None
            and isinstance(key, str)
            and IDEMPOTENCY_KEY_RE.fullmatch(key)
            and request.account_no
            and not request.periods
            and account not in accounts
            and key not in keys
        )
        if independent:
            batch[place] = request
        else:
            alone.append(place)
        if request is not None and request.account_no:
            accounts.setdefault(account, None)
        keys.add(key)
    return batch, alone, list(accounts)


def _post_batch(
    channel: str, batch: dict[int, _PaymentRequest], accounts: list, audits: dict, *, payer, actor
) -> tuple[dict, list[int]]:
    """Lock, decide and write the batch in one transaction: the payments written (by place) and the places
    of the orders it left to `post_payment`. Decided again from the start, on fresh locks, when a request
    racing it committed one of its keys first or PostgreSQL ended a deadlock by aborting it."""
    for _attempt in range(_BATCH_ATTEMPTS):
        try:
            with transaction.atomic():
                return _lock_decide_and_write(channel, batch, accounts, audits, payer=payer, actor=actor)
        except IntegrityError:
            continue  # a key taken meanwhile: the next attempt's lock finds it and leaves that order out
        except OperationalError as error:
            if not is_deadlock(error):
                raise
    return {}, list(batch)


def _lock_decide_and_write(
    channel: str, batch: dict[int, _PaymentRequest], accounts: list, audits: dict, *, payer, actor
) -> tuple[dict, list[int]]:
    locked_accounts, used_keys = locks.lock_customer_accounts_for_batch(
        channel=channel,
        collection_code=ledger.collection_account_code(channel=channel, branch=None),
        accounts=accounts,
        keys=[request.idempotency_key for request in batch.values()],
    )
    where = {account: index for index, account in enumerate(accounts)}
    decided, left = [], []
    for place, request in batch.items():
        locked = locked_accounts.get(where[request.biller_code, request.account_no])
        if locked is None or locked.live_link or request.idempotency_key in used_keys:
            left.append(place)
            continue
        account = locked.account
        try:
            payment = _decide(
                request,
                biller=account.biller,
                account=account,
                locked=locked,
                bills=locked.payable_bills,
                payer=payer,
                branch=None,
                actor=actor,
                collection=None,
            )
        except PaymentRefused:
            left.append(place)  # refused again by post_payment, which words it and counts it
            continue
        if payment.card_write is not None:
            left.append(place)  # held until the card write (billing.topup_holds): post_payment's way
            continue
        decided.append((place, payment.rows))
    written = (
        posting.write_payments(
            [rows for _place, rows in decided], [audits[place] for place, _rows in decided]
        )
        if decided
        else []
    )
    for payment in written:
        log_posted(payment)
    return {place: payment for (place, _rows), payment in zip(decided, written, strict=True)}, left


# How `_post_new_payment` treats a biller whose bills are live and whose word it has not got yet.
_ASK = "ask"  # stop (`_BillerMustBeAsked`): post_payment asks it outside the transaction, then posts
_PENDING = "pending"  # post it, and confirm with the biller after commit (the caller holds a transaction)
_ASKED = "asked"  # asked already: `clearance` is its answer (None: nothing to record)


class _BillerMustBeAsked(Exception):
    """Raised inside the posting transaction (nothing written yet) when the biller's bills are live."""


@dataclass(frozen=True)
class _KeyUsed:
    """Once the account is locked, the key turns out to have been used by a request that committed."""

    payment_id: int


_PAYMENT_ID_FOR_KEY_SQL = "SELECT id FROM billing_payment WHERE channel = %s AND idempotency_key = %s"


def _payment_id_for_key(channel: str, key: str) -> int | None:
    """Every new payment asks this and nearly always hears 'no'; a bare id query answers that cheaply."""
    with connection.cursor() as cursor:
        cursor.execute(_PAYMENT_ID_FOR_KEY_SQL, [channel, key])
        row = cursor.fetchone()
    return None if row is None else row[0]


def _payment_for_key(channel: str, key: str) -> Payment | None:
    payment_id = _payment_id_for_key(channel, key)
    return None if payment_id is None else Payment.objects.get(pk=payment_id)


def _replay(payment: Payment, request: _PaymentRequest) -> PostingResult:
    if payment.request_fingerprint != request.fingerprint:
        raise IdempotencyConflict(
            "idempotency_conflict", key=request.idempotency_key, receipt_no=payment.receipt_no
        )
    return PostingResult(payment=payment, replayed=True)


def _post_new_payment(
    request: _PaymentRequest,
    *,
    payer,
    branch,
    actor,
    collection=None,
    asking=_ASKED,
    clearance=None,
    audit: PaymentAudit | None = None,
    kept: posting.KeptRow | None = None,
    last: bool = False,
) -> "tuple[Payment, presentment.Clearance | None] | _KeyUsed":
    """Lock, check, decide and write one payment: the payment and the biller's word to record with it
    (billing.presentment), or the key's earlier payment when it was used. `last`: nothing follows in the
    transaction unless this adds it (a clearance, a top-up hold): the payment's statement may commit it."""
    account = locked = winner = bills = None
    if request.account_no:
        locked = locks.lock_customer_account_for_posting(
            biller_code=request.biller_code,
            account_no=request.account_no,
            collection_code=""
            if collection
            else ledger.collection_account_code(channel=request.channel, branch=branch),
            channel=request.channel,
            idempotency_key=request.idempotency_key,
            with_payable_bills=not request.periods,
        )
    if locked is not None:
        account = locked.account
        biller, live = account.biller, locked.live_link
        winner, bills = locked.key_payment_id, locked.payable_bills
        if winner is None and bills is None:
            # Asked after the lock: a request with the same key that held it has committed by now, and
            # this one must answer as its replay.
            winner = _payment_id_for_key(request.channel, request.idempotency_key)
    else:
        winner = _payment_id_for_key(request.channel, request.idempotency_key)
        biller = Biller.objects.filter(code=request.biller_code).first()
        live = biller is not None and presentment.live_link(biller.code) is not None
    if winner is not None:
        return _KeyUsed(winner)
    try:
        return _decide_and_write(
            request,
            biller=biller,
            account=account,
            locked=locked,
            bills=bills,
            live=live,
            payer=payer,
            branch=branch,
            actor=actor,
            collection=collection,
            asking=asking,
            clearance=clearance,
            audit=audit,
            kept=kept,
            last=last,
        )
    except PaymentRefused:
        if bills is not None:
            # The key was looked up by the lock's own statement, whose snapshot is older than the lock: a
            # request with the same key that held it has committed by now, and this one must answer as its
            # replay, not as a refusal of the bills that one just paid. (Had it gone on to pay, its insert
            # would have failed on the key's unique index: post_payment answers that as a replay.)
            winner = _payment_id_for_key(request.channel, request.idempotency_key)
            if winner is not None:
                return _KeyUsed(winner)
        raise


def _decide_and_write(
    request: _PaymentRequest,
    *,
    biller,
    account,
    locked,
    bills,
    live,
    payer,
    branch,
    actor,
    collection,
    asking,
    clearance,
    audit: PaymentAudit | None,
    kept: posting.KeptRow | None,
    last: bool,
) -> "tuple[Payment, presentment.Clearance | None]":
    """Check the request against the locked account and bills, price and allocate, write the payment."""
    if live and asking != _ASKED:
        if asking == _ASK:
            raise _BillerMustBeAsked
        clearance = presentment.PENDING
    decided = _decide(
        request,
        biller=biller,
        account=account,
        locked=locked,
        bills=bills,
        payer=payer,
        branch=branch,
        actor=actor,
        collection=collection,
    )
    last = last and clearance is None and decided.card_write is None
    payment = posting.write_payment(decided.rows, audit=audit, kept=kept, commit=last)
    if decided.card_write is not None:
        topup_holds.open_hold(payment, decided.card_write)
    return payment, clearance


@dataclass
class _Decided:
    """A payment decided under its locks, not written yet: its rows, and the card or meter write a top-up
    waits for (billing.topup_holds), if any."""

    rows: posting.PaymentRows
    card_write: object | None


def _decide(request: _PaymentRequest, *, biller, account, locked, bills, payer, branch, actor, collection):
    """Check the request against the locked account and bills, price and allocate: the rows to write (the
    bills changed in memory). Shared by `post_payment` and `post_payments`, so both keep the same rules."""
    if biller is None:
        raise PaymentRefused("biller_unknown", biller=request.biller_code)
    if not biller.takes_payments:
        raise PaymentRefused(
            "biller_not_active",
            biller=biller.display_name,
            reason=biller.status_reason or biller.get_status_display(),
        )
    _check_amount_limits(biller, request.amount)
    if account is None and (request.account_no or biller.payment_mode != PaymentMode.DONATION):
        _refuse_account(biller, request.account_no)

    if biller.payment_mode == PaymentMode.STATEMENT:
        if bills is None:
            bills = _lock_named_bills(account, request.periods)
        if not bills and biller.amount_rule != AmountRule.EXACT_UP:
            raise PaymentRefused("no_open_bill", account_no=account.account_no)
        for bill in bills:
            bill.biller = biller  # the pricing reads the biller's late-fee rule: no query per bill
        quotes = [amounts.amount_due(bill, on=request.priced_on) for bill in bills]
        plan = _allocate(biller, quotes, request)
        bill_amounts, credit = plan.bill_amounts, plan.credit
    else:
        bills, quotes, bill_amounts, credit = [], [], (), ZERO

    now = timezone.now()
    payment = new_instance(
        Payment,
        channel=request.channel,
        idempotency_key=request.idempotency_key,
        request_fingerprint=request.fingerprint,
        channel_ref=request.channel_ref,
        biller=biller,
        account=account,
        payer=payer,
        branch=branch,
        actor=actor if getattr(actor, "pk", None) else None,
        amount=request.amount,
        business_date=platform_date(now),
        posted_at=now,
    )
    allocations = []
    late_fees = ZERO
    bill_parts = []  # for the biller's co-beneficiaries (billing.collection_shares)
    for bill, quote, share in zip(bills, quotes, bill_amounts, strict=True):
        if not share:
            continue
        amounts.price_bill(bill, quote)
        principal_part, late_fee_part = quote.split(share)
        if principal_part:
            bill_parts.append(BillPart(principal_paid_before(quote), principal_part))
            allocations.append(
                new_instance(
                    PaymentAllocation,
                    payment=payment,
                    bill=bill,
                    kind=AllocationKind.BILL,
                    amount=principal_part,
                )
            )
        if late_fee_part:
            allocations.append(
                new_instance(
                    PaymentAllocation,
                    payment=payment,
                    bill=bill,
                    kind=AllocationKind.LATE_FEE,
                    amount=late_fee_part,
                )
            )
            late_fees += late_fee_part
    if credit:
        allocations.append(
            new_instance(PaymentAllocation, payment=payment, kind=AllocationKind.CREDIT, amount=credit)
        )
    if biller.payment_mode == PaymentMode.PREPAID:
        allocations.append(
            new_instance(PaymentAllocation, payment=payment, kind=AllocationKind.TOPUP, amount=request.amount)
        )
    if biller.payment_mode == PaymentMode.DONATION:
        allocations.append(
            new_instance(
                PaymentAllocation, payment=payment, kind=AllocationKind.DONATION, amount=request.amount
            )
        )
    paid_bills = _advance_bills(_bill_changes(allocations))
    if locked is None:
        collection, payable = ledger.payment_accounts(
            channel=request.channel, branch=branch, biller=biller, collection=collection
        )
    else:
        collection = (
            collection
            or locked.collection
            or ledger.collection_account(channel=request.channel, branch=branch)
        )
        payable = locked.payable or ledger.payable_account(biller)
    card_write = topup_holds.rule_for(biller)
    if card_write is not None:
        # A top-up that must reach a card or meter is held until the write is confirmed (billing/topups.py):
        # the whole amount, which the write then moves to the biller's payable (no co-beneficiary shares).
        payable = topup_holds.hold_account(biller)
    lines = [(collection, request.amount)]
    shared = (
        []
        if card_write
        else _share_lines(biller, principal=request.amount - late_fees, bill_parts=bill_parts)
        if locked is None or locked.shares
        else []
    )
    kept = request.amount - late_fees - sum((amount for _account, amount in shared), ZERO)
    if kept:
        lines.append((payable, -kept))
    lines += [(account, -amount) for account, amount in shared]
    if late_fees:
        # The late fee is the biller's too, but kept apart from the principal (issue 17, item 2).
        late_fee_account = locked.late_fee if locked is not None else None
        lines.append((late_fee_account or ledger.late_fee_account(biller), -late_fees))
    rows = posting.PaymentRows(
        payment=payment,
        allocations=allocations,
        bills=paid_bills,
        account=account,
        credit=credit,
        lines=lines,
    )
    return _Decided(rows=rows, card_write=card_write)


def _bill_changes(allocations) -> list[tuple[Bill, Decimal]]:
    """Each bill once with what the allocations add to it (a bill's principal and late fee are two)."""
    changes: dict[int, tuple[Bill, Decimal]] = {}
    for allocation in allocations:
        if allocation.bill is None:
            continue
        bill, amount = changes.get(id(allocation.bill), (allocation.bill, ZERO))
        changes[id(allocation.bill)] = (bill, amount + allocation.amount)
    return list(changes.values())


# How many days back a payment may be priced: a portal order is fixed for its life (minutes), and a bank
# may confirm it after midnight; nothing older is priced but today.
PRICED_ON_MAX_DAYS = 3


def _check_priced_on(priced_on: datetime.date | None) -> datetime.date:
    today = amounts.beijing_today()
    if priced_on is None:
        return today
    if not isinstance(priced_on, datetime.date) or not (
        today - datetime.timedelta(days=PRICED_ON_MAX_DAYS) <= priced_on <= today
    ):
        raise PaymentRefused("price_date_invalid", day=str(priced_on)[:10])
    return priced_on


def _allocate(biller: Biller, quotes, request: _PaymentRequest):
    """The biller's amount rule over the bills as priced for the payment's day. A refusal of a bill whose
    amount moves with the date says so, with today's amount and until when it holds."""
    try:
        return allocate_statement_payment(
            rule=biller.amount_rule,
            outstanding=[quote.outstanding for quote in quotes],
            amount=request.amount,
            bills_named=bool(request.periods),
            biller=biller.display_name,
        )
    except PaymentRefused as refused:
        by_instalment = _instalment_allocation(quotes, request)
        if by_instalment is not None:
            return by_instalment
        if refused.code not in ("amount_not_exact", "amount_below_due") or not _was_due_the_day_before(
            biller, quotes, request
        ):
            raise
        total = sum((quote.outstanding for quote in quotes), ZERO)
        changed = PaymentRefused(
            "amount_due_changed", expected="¥" + format_money(total), holds=amounts.holds_text(quotes)
        )
        holds_until = amounts.holds_until_of(quotes)
        # For machines (the partner API's error details): today's amount and until when it holds.
        changed.details = {
            "outstanding": f"{total:.2f}",
            "holds_until": holds_until.isoformat() if holds_until else None,
        }
        raise changed from None


def _instalment_allocation(quotes, request: _PaymentRequest):
    """The next open instalment of a bill offered in instalments, paid by its exact amount: the bill
    named alone, or the oldest open bill when none is named (issue 17, item 3). None otherwise."""
    from billing.models import Instalment
    from billing.rules import StatementAllocation

    if not quotes or (request.periods and len(quotes) != 1):
        return None
    bill = quotes[0].bill
    plan = list(Instalment.objects.filter(bill=bill))
    if not plan:
        return None
    upcoming = instalments.next_open(bill, plan)
    if upcoming is None or request.amount != upcoming.remaining or request.amount >= quotes[0].outstanding:
        return None
    return StatementAllocation((request.amount,) + (ZERO,) * (len(quotes) - 1), ZERO)


def _was_due_the_day_before(biller: Biller, quotes, request: _PaymentRequest) -> bool:
    """Whether the refused amount is what these bills cost the day before: a price that went stale
    (a slip or a partner's look-up from before midnight), not a wrong amount."""
    day_before = quotes[0].on - datetime.timedelta(days=1)
    previous = [amounts.requote(quote, on=day_before) for quote in quotes]
    if [q.outstanding for q in previous] == [q.outstanding for q in quotes]:
        return False
    try:
        allocate_statement_payment(
            rule=biller.amount_rule,
            outstanding=[quote.outstanding for quote in previous],
            amount=request.amount,
            bills_named=bool(request.periods),
            biller=biller.display_name,
        )
    except PaymentRefused:
        return False
    return True


def _check_amount_limits(biller: Biller, amount: Decimal) -> None:
    if amount < biller.min_amount:
        raise PaymentRefused(
            "amount_below_minimum", biller=biller.display_name, minimum=format_money(biller.min_amount)
        )
    if biller.max_amount is not None and amount > biller.max_amount:
        raise PaymentRefused(
            "amount_above_maximum", biller=biller.display_name, maximum=format_money(biller.max_amount)
        )


def _refuse_account(biller: Biller, account_no: str) -> None:
    """Say why no account was found: none given, a number the biller's rule rejects, or an unknown one."""
    if not account_no:
        raise PaymentRefused("account_required")
    if not account_no_is_valid(
        account_no, pattern=biller.account_pattern, check_digit=biller.account_check_digit
    ):
        raise PaymentRefused(
            "account_number_invalid",
            account_no=account_no,
            biller=biller.display_name,
            hint=biller.display_account_hint,
        )
    raise PaymentRefused("account_unknown", biller=biller.display_name, account_no=account_no)


def _lock_named_bills(account: CustomerAccount, periods: tuple[str, ...]) -> list[Bill]:
    """The bills a request names by period, locked; without named periods the posting's lock statement
    has already locked the payable ones (`locks.lock_customer_account_for_posting`)."""
    bills = locks.lock_bills_by_period(account, periods)
    missing = set(periods) - {bill.period for bill in bills}
    if missing:
        raise PaymentRefused("bill_unknown", account_no=account.account_no, period=min(missing))
    for bill in bills:
        if bill.status == BillStatus.CANCELLED:
            raise PaymentRefused("bill_cancelled", period=bill.period)
        if bill.status == BillStatus.PAID:
            raise PaymentRefused("bill_already_paid", period=bill.period)
    return bills


def _advance_bills(changes: Sequence[tuple[Bill, Decimal]]) -> list[Bill]:
    """Add (or, for a reversal, subtract) amounts paid and re-derive each bill's status, in memory."""
    for bill, amount in changes:
        bill.amount_paid += amount
        bill.status = _bill_status(bill)
    return [bill for bill, _amount in changes]


def _bill_changes_by_id(allocations, bills: dict[int, Bill]) -> list[tuple[Bill, Decimal]]:
    totals: dict[int, Decimal] = {}
    for allocation in allocations:
        if allocation.bill_id:
            totals[allocation.bill_id] = totals.get(allocation.bill_id, ZERO) + allocation.amount
    return [(bills[bill_id], amount) for bill_id, amount in totals.items()]


def _bill_status(bill: Bill) -> str:
    if bill.amount_paid == ZERO:
        return BillStatus.OPEN
    if bill.amount_paid < bill.total_due:
        return BillStatus.PARTLY_PAID
    return BillStatus.PAID


def reverse_payment(*, payment: Payment, actor, reason: str) -> Payment:
    """Undo a payment: a mirror ledger entry, negative allocations, bills and credit restored."""
    reason = (reason or "").strip()
    if not reason:
        raise PaymentRefused("reversal_reason_required")
    with transaction.atomic():
        payment = locks.lock_payment(payment.pk)
        if payment.status != PaymentStatus.POSTED:
            raise PaymentRefused("payment_already_reversed", receipt_no=payment.receipt_no)
        account = locks.lock_customer_account_by_id(payment.account_id) if payment.account_id else None
        allocations = list(payment.allocations.filter(is_reversal=False))
        bills = {
            bill.pk: bill for bill in locks.lock_bills_by_id(a.bill_id for a in allocations if a.bill_id)
        }
        credit = sum((a.amount for a in allocations if a.kind == AllocationKind.CREDIT), ZERO)
        if credit and account.credit_balance < credit:
            raise PaymentRefused("credit_already_used", receipt_no=payment.receipt_no)

        restored_bills = _advance_bills(
            [(bills[bill.pk], -amount) for bill, amount in _bill_changes_by_id(allocations, bills)]
        )
        original = payment.journal_entries.get(kind=EntryKind.PAYMENT)
        topup_holds.release_on_reversal(payment, reason=reason)
        now = timezone.now()
        posting.write_reversal(
            posting.ReversalRows(
                payment=payment,
                allocations=allocations,
                bills=restored_bills,
                account=account,
                credit=credit,
                original_entry_id=original.pk,
                lines=topup_holds.reversal_lines(payment, original),
                business_date=platform_date(now),
                reversed_at=now,
                reason=reason[:200],
                memo=f"{payment.receipt_no} {reason}"[:200],
                actor_id=getattr(actor, "pk", None),
            )
        )
        record_audit(
            actor=actor, action="payment.reversed", target=payment, reason=reason, amount=payment.amount
        )
        log_money_action(
            "reverse",
            amount=payment.amount,
            channel=payment.channel,
            outcome="reversed",
            payment_id=payment.pk,
            receipt_no=payment.receipt_no,
            biller_id=payment.biller_id,
            entry_reverses_id=original.pk,
        )
    return payment


def change_biller_status(*, biller: Biller, to_status: str, actor, reason: str = "") -> Biller:
    """Move a biller along its lifecycle; the transition map says which moves exist."""
    with transaction.atomic():
        biller = locks.lock_biller(biller.pk)
        if to_status in (BillerStatus.SUBMITTED, BillerStatus.ACTIVE):
            # Payers and files will be checked against it: it must read the same in both engines.
            check_account_pattern(biller.account_pattern)
        current = transition(
            biller, to_status, table=BILLER_TRANSITIONS, choices=BillerStatus, name=biller.display_name
        )
        biller.status_reason = (
            reason[:200] if to_status in (BillerStatus.SUSPENDED, BillerStatus.CLOSED) else ""
        )
        biller.save(update_fields=["status", "status_reason", "updated_at"])
        record_audit(
            actor=actor,
            action="biller.status_changed",
            target=biller,
            reason=reason,
            **{"from": current, "to": to_status},
        )
    return biller


def cancel_bill(*, bill: Bill, actor, reason: str) -> Bill:
    """A biller withdraws a bill. One that has money on it must have its payments reversed first."""
    with transaction.atomic():
        bill = locks.lock_bills_by_id([bill.pk])[0]
        if bill.status == BillStatus.CANCELLED:
            raise PaymentRefused("bill_not_cancellable", period=bill.period, status=bill.get_status_display())
        if bill.amount_paid > ZERO:
            raise PaymentRefused("bill_has_payments", period=bill.period, paid=format_money(bill.amount_paid))
        bill.status = BillStatus.CANCELLED
        bill.save(update_fields=["status", "updated_at"])
        record_audit(actor=actor, action="bill.cancelled", target=bill, reason=reason)
    return bill


# Onboarding: draft → submitted (data complete) → approved (by a second platform administrator) → active.


def missing_onboarding_data(biller: Biller) -> list[str]:
    """Names of what a biller still lacks before it can be submitted; empty when it is complete."""
    missing = [
        name
        for name in ("legal_name", "settlement_bank_name", "settlement_account_name", "settlement_account_no")
        if not getattr(biller, name).strip()
    ]
    if not uscc_is_valid(biller.uscc):
        missing.insert(1, "uscc")
    if not biller.contact_name.strip():
        missing.append("contact_name")
    if not (biller.contact_phone.strip() or biller.contact_email.strip()):
        missing.append("contact_phone_or_email")
    if biller.category_id is None:
        missing.append("category")
    if not FeeSchedule.objects.filter(biller=biller).exists():
        missing.append("fee_schedule")
    return missing


_MISSING_LABELS = {
    "legal_name": _("legal name"),
    "uscc": _("a valid unified social credit code"),
    "settlement_bank_name": _("settlement bank"),
    "settlement_account_name": _("settlement account name"),
    "settlement_account_no": _("settlement account number"),
    "contact_name": _("contact person"),
    "contact_phone_or_email": _("a contact phone or e-mail"),
    "category": _("category"),
    "fee_schedule": _("a fee schedule"),
}


def list_text(items) -> str:
    """Items joined as a list reads in the active language: "a, b" in English, "a、b" in Chinese."""
    return pgettext("list separator", ", ").join(str(item) for item in items)


# Rendered when the error is read, so the list is in the reader's language, as the message is.
_lazy_list_text = lazy(list_text, str)


def submit_biller(*, biller: Biller, actor) -> Biller:
    """Send a draft biller for approval once its onboarding data is complete; the submitter is recorded
    so that someone else approves it."""
    with transaction.atomic():
        biller = locks.lock_biller(biller.pk)
        missing = missing_onboarding_data(biller)
        if missing:
            raise OnboardingRefused(
                "onboarding_incomplete",
                biller=biller.display_name,
                missing=_lazy_list_text([_MISSING_LABELS[name] for name in missing]),
                fields=",".join(missing),
            )
        biller = change_biller_status(
            biller=biller, to_status=BillerStatus.SUBMITTED, actor=actor, reason="submitted for approval"
        )
        biller.submitted_by = actor
        biller.save(update_fields=["submitted_by", "updated_at"])
    return biller


def can_approve_billers(user) -> bool:
    return bool(
        getattr(user, "is_active", False)
        and getattr(user, "is_staff", False)
        and (user.is_superuser or user.groups.filter(name=roles.PLATFORM_ADMIN).exists())
    )


def approve_biller(*, biller: Biller, actor, reason: str = "") -> Biller:
    """Approve a submitted biller. Four eyes: the approver must be a platform administrator who is not
    the one who submitted it."""
    with transaction.atomic():
        biller = locks.lock_biller(biller.pk)
        if not can_approve_billers(actor):
            raise OnboardingRefused("approver_not_platform_admin")
        if biller.submitted_by_id is not None and biller.submitted_by_id == actor.pk:
            raise OnboardingRefused("four_eyes_required", biller=biller.display_name)
        return change_biller_status(
            biller=biller, to_status=BillerStatus.APPROVED, actor=actor, reason=reason or "approved"
        )


def activate_biller(*, biller: Biller, actor, reason: str = "") -> Biller:
    """Start taking payments: after approval, or again after a suspension."""
    return change_biller_status(biller=biller, to_status=BillerStatus.ACTIVE, actor=actor, reason=reason)


def suspend_biller(*, biller: Biller, actor, reason: str) -> Biller:
    """Stop taking payments for a while; payers see the reason."""
    reason = (reason or "").strip()
    if not reason:
        raise OnboardingRefused("suspension_reason_required", biller=biller.display_name)
    return change_biller_status(biller=biller, to_status=BillerStatus.SUSPENDED, actor=actor, reason=reason)


def close_biller(*, biller: Biller, actor, reason: str) -> Biller:
    """Stop for good; payers see the reason."""
    reason = (reason or "").strip()
    if not reason:
        raise OnboardingRefused("closure_reason_required", biller=biller.display_name)
    return change_biller_status(biller=biller, to_status=BillerStatus.CLOSED, actor=actor, reason=reason)


def set_fee_schedule(
    *,
    biller: Biller,
    channel: str,
    fixed: Decimal,
    percentage: Decimal,
    min_fee: Decimal,
    max_fee: Decimal | None,
    payer_pays: bool,
    valid_from: datetime.date,
    actor,
) -> FeeSchedule:
    """Price payments to `biller` through `channel` from `valid_from` on. A new row each time: earlier
    prices stay as they were for the days they covered."""
    if channel not in Channel.values:
        raise BillingError("channel_invalid", channel=channel)
    fixed, percentage, min_fee = Decimal(fixed), Decimal(percentage), Decimal(min_fee)
    max_fee = None if max_fee is None else Decimal(max_fee)
    if min(fixed, percentage, min_fee) < 0:
        raise BillingError("fee_negative")
    if percentage >= 1:
        raise BillingError("fee_percentage_too_high")
    if max_fee is not None and max_fee < min_fee:
        raise BillingError("fee_max_below_min", max_fee=format_money(max_fee), min_fee=format_money(min_fee))
    with transaction.atomic():
        if selectors.fee_schedule_exists(biller_id=biller.pk, channel=channel, valid_from=valid_from):
            raise BillingError(
                "fee_schedule_exists",
                biller=biller.display_name,
                channel=Channel(channel).label,
                valid_from=valid_from.isoformat(),
            )
        schedule = FeeSchedule.objects.create(
            biller=biller,
            channel=channel,
            fixed_fee=quantize_money(fixed),
            percentage=percentage,
            min_fee=quantize_money(min_fee),
            max_fee=None if max_fee is None else quantize_money(max_fee),
            payer_pays=payer_pays,
            valid_from=valid_from,
        )
        record_audit(
            actor=actor,
            action="fee_schedule.set",
            target=biller,
            channel=channel,
            fixed=schedule.fixed_fee,
            percentage=schedule.percentage,
            min_fee=schedule.min_fee,
            max_fee=schedule.max_fee,
            payer_pays=payer_pays,
            valid_from=valid_from.isoformat(),
        )
    return schedule


def set_late_fee_rule(
    *, biller: Biller, daily_rate: Decimal, cap_rate: Decimal | None, actor, reason: str
) -> Biller:
    """Set the biller's late fee (billing.amounts): a fraction of a bill's amount per day after its due
    date, never above `cap_rate` of it (None: no cap). The admin's form does the same, audited by it."""
    daily_rate, cap_rate = Decimal(daily_rate), (None if cap_rate is None else Decimal(cap_rate))
    with transaction.atomic():
        biller = locks.lock_biller(biller.pk)
        before = (str(biller.late_fee_daily_rate), str(biller.late_fee_cap_rate))
        biller.late_fee_daily_rate, biller.late_fee_cap_rate = daily_rate, cap_rate
        biller.full_clean(validate_unique=False, validate_constraints=True)
        biller.save(update_fields=["late_fee_daily_rate", "late_fee_cap_rate", "updated_at"])
        record_audit(
            actor=actor,
            action="biller.late_fee_rule_set",
            target=biller,
            reason=reason,
            **{"from": before, "to": (str(daily_rate), str(cap_rate))},
        )
    return biller


def offer_instalments(
    *, bill: Bill, parts: Sequence[tuple[Decimal, datetime.date]], actor, reason: str = ""
) -> list:
    """Offer an unpaid bill in instalments: `parts` are (amount, due date), in order, at least two and at
    most twelve, due one after the other, adding up to the bill's amount. Replaces an earlier plan while
    nothing is paid. The bill can still be paid in full."""
    from billing.models import Instalment

    with transaction.atomic():
        bill = locks.lock_bills_by_id([bill.pk])[0]
        if bill.status != BillStatus.OPEN or bill.amount_paid:
            raise PaymentRefused("instalments_not_offerable", period=bill.period)
        parts = [(quantize_money(Decimal(amount)), due) for amount, due in parts]
        if not instalments.MIN_INSTALMENTS <= len(parts) <= instalments.MAX_INSTALMENTS:
            raise PaymentRefused("instalments_count_invalid", count=len(parts))
        if any(amount <= 0 for amount, _due in parts) or sum((a for a, _d in parts), ZERO) != bill.amount_due:
            raise PaymentRefused("instalments_do_not_add_up", total=format_money(bill.amount_due))
        dues = [due for _amount, due in parts]
        if dues != sorted(set(dues)) or len(set(dues)) != len(dues):
            raise PaymentRefused("instalments_dates_invalid")
        Instalment.objects.filter(bill=bill).delete()
        rows = Instalment.objects.bulk_create(
            [
                Instalment(bill=bill, number=number, amount=amount, due_date=due)
                for number, (amount, due) in enumerate(parts, start=1)
            ]
        )
        record_audit(
            actor=actor,
            action="bill.instalments_offered",
            target=bill,
            reason=reason,
            parts=[[str(amount), due.isoformat()] for amount, due in parts],
        )
    return rows


def set_collection_shares(*, biller: Biller, shares: Sequence, actor, reason: str = "") -> list:
    """Declare how `biller`'s collections are shared (issue 17, item 4; billing.collection_shares): `shares`
    are new or changed CollectionShare rows; the biller's other rows stay as they are. The whole set is
    checked before anything is saved (a refusal saves nothing) and takes effect for the payments posted
    after it; payments posted before keep their split. A part is switched off, never deleted."""
    from billing.models import CollectionShare

    with transaction.atomic():
        biller = locks.lock_biller(biller.pk)
        given = {share.pk: share for share in shares if share.pk}
        kept = [row for row in CollectionShare.objects.filter(biller=biller) if row.pk not in given]
        before = _shares_summary(CollectionShare.objects.filter(biller=biller))
        for share in shares:
            share.biller = biller
            share.code = (share.code or "").strip().upper()
        check_shares(biller=biller, shares=[*kept, *shares])
        for share in shares:
            share.save()
        after = _shares_summary(CollectionShare.objects.filter(biller=biller))
        record_audit(
            actor=actor,
            action="biller.collection_shares_set",
            target=biller,
            reason=reason,
            **{"from": before, "to": after},
        )
    return list(shares)


def _shares_summary(shares) -> str:
    """The audit trail's words for a biller's parts: "AGENCY ¥10.00 → 6222…; PROV 40.00% → 6222… (off)"."""
    words = []
    for share in shares.order_by("position", "code"):
        value = f"¥{share.fixed_amount}" if share.rule == ShareRule.FIXED else f"{share.percentage}%"
        state = "" if share.active else " (off)"
        words.append(f"{share.code} {value} → {share.settlement_account_no}{state}")
    return "; ".join(words)


def _share_lines(biller: Biller, *, principal: Decimal, bill_parts) -> list:
    """The ledger credits of a payment's co-beneficiaries (billing.collection_shares), each on its own
    payable account: [(account, amount)], empty for a biller that shares nothing."""
    from billing.models import CollectionShare

    if principal <= 0:
        return []
    shares = list(CollectionShare.objects.filter(biller=biller, active=True).order_by("position", "code"))
    if not shares:
        return []
    parts = split_payment(shares, principal=principal, bill_parts=bill_parts)
    return [(ledger.collection_share_account(share, biller=biller), amount) for share, amount in parts]
