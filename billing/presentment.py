"""Bills fetched or validated live from a biller's own system (issue 17, item 1; docs/biller-protocol.md).

A biller's `BillerLink` says how its bills are presented:

- `pushed`: bills are pushed through the biller API or imported, as before; nothing here runs;
- `fetch`: at lookup the platform asks the biller's system for the account's live bills (POST /bills) and
  upserts them as Bill rows (kept a short while in the cache), so the ledger, allocations and receipts work
  unchanged; before posting it asks again, uncached, and refuses when the amount changed since the lookup;
- `validate`: before posting, the platform asks the biller's system to accept the payment (POST /validate),
  idempotent on the payment's key.

Every channel goes through the same two doors: `present` before a lookup shows bills (portal, counter,
slips, partner enquiry) and `check_with_biller` before a payment is posted (called by `post_payment`
itself, or by a channel that posts inside its own transaction before it opens it). Both make their HTTP
call outside any database transaction and row lock.

Bad answers — a timeout, a bad signature, a body that is not what the protocol says, an amount changed
since the lookup — refuse the payment with a message in the payer's language and post nothing. A biller
that cannot be reached at all (connection refused, HTTP 5xx) is handled by its stand-in rule: `refuse`,
or `accept_and_confirm_later` (the payment is posted and a `BillerCheck` is confirmed by a Celery task on
the io queue; a biller that then rejects it has it reversed through `reverse_payment`).
"""

import datetime
import json
import logging
import re
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing import locks, signing
from billing.audit import record_audit
from billing.choices import PAYABLE_BILL_STATUSES, BillStatus
from billing.exceptions import MESSAGES, PaymentRefused
from billing.models import Bill, Biller, CustomerAccount, Payment
from billing.money import ZERO, format_money, parse_amount
from billing.presentment_models import LIVE_MODES, BillerCheck, BillerLink, PresentmentMode, StandIn
from billing.rules import account_no_is_valid, normalize_account_no, normalize_code
from config import retries

logger = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 64 * 1024
MAX_BILLS = 36
ANSWER_MAX_AGE_SECONDS = 300
USER_AGENT = "BillPay-Presentment/1"
RESPONSE_METHOD = "RESPONSE"  # the response's string to sign has this in place of the request's method
CONFIRM_TASK = "billing.tasks.confirm_with_biller"
_PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_AMOUNT_RE = re.compile(r"^\d{1,10}(\.\d{1,2})?$")

PRESENTMENT_MESSAGES = {
    "biller_timeout": _(
        "%(biller)s's system did not answer in time. Nothing was paid; please try again in a few minutes."
    ),
    "biller_unavailable": _(
        "%(biller)s's system cannot be reached at the moment. Nothing was paid; please try again later."
    ),
    "biller_bad_signature": _(
        "%(biller)s's system sent an answer the platform could not verify. Nothing was paid; "
        "the platform has been told, please try again later."
    ),
    "biller_bad_answer": _(
        "%(biller)s's system sent an answer the platform could not read. Nothing was paid; "
        "the platform has been told, please try again later."
    ),
    "biller_amount_changed": _(
        "%(biller)s says account %(account_no)s now owes ¥%(current)s, not ¥%(expected)s as when it was "
        "looked up. Nothing was paid: look the bills up again before paying."
    ),
    "biller_declined": _("%(biller)s declined this payment: %(reason)s Nothing was paid."),
}


class BillerRefused(PaymentRefused):
    """A payment or lookup refused because of what a biller's own system answered (or did not)."""

    messages = {**MESSAGES, **PRESENTMENT_MESSAGES}


# --- the HTTP protocol --------------------------------------------------------------------------------


class _Timeout(Exception):
    pass


class _Down(Exception):
    pass


class _BadSignature(Exception):
    pass


class _Malformed(Exception):
    pass


def _post(
    link: BillerLink, route: str, payload: dict, *, max_bytes: int = MAX_ANSWER_BYTES
) -> tuple[int, dict]:
    """POST a signed JSON request to the biller's system; (HTTP status, verified JSON object). Raises
    _Timeout, _Down (no connection, HTTP 5xx), _BadSignature or _Malformed. Never inside a transaction.
    `link` is any setting with an endpoint_url, key_id, secret and timeout_seconds (billing.fiscal's too)."""
    if connection.in_atomic_block:
        raise RuntimeError("a biller's system is never called inside a database transaction")
    url = link.endpoint_url.rstrip("/") + route
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _Down(f"no usable address: {link.endpoint_url!r}")
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp, nonce = str(int(time.time())), secrets.token_urlsafe(24)
    signed = {"path": parts.path, "query": parts.query, "timestamp": timestamp, "nonce": nonce}
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            signing.KEY_HEADER: link.key_id,
            signing.TIMESTAMP_HEADER: timestamp,
            signing.NONCE_HEADER: nonce,
            signing.SIGNATURE_HEADER: signing.sign(link.secret, method="POST", body=body, **signed),
        },
    )
    timeout = float(link.timeout_seconds)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, headers, raw = response.status, response.headers, response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500:
            raise _Down(f"HTTP {exc.code}") from None
        status, headers, raw = exc.code, exc.headers, exc.read(max_bytes + 1)
    except TimeoutError:
        raise _Timeout(f"no answer within {timeout} s") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _Timeout(f"no answer within {timeout} s") from None
        raise _Down(str(exc.reason)[:200]) from None
    except (OSError, ValueError) as exc:
        raise _Down(str(exc)[:200]) from None
    if len(raw) > max_bytes:
        raise _Malformed("answer too large")
    answer_timestamp = headers.get(signing.TIMESTAMP_HEADER, "")
    if not signing.TIMESTAMP_RE.fullmatch(answer_timestamp) or not signing.signature_matches(
        link.secret,
        headers.get(signing.SIGNATURE_HEADER, ""),
        method=RESPONSE_METHOD,
        body=raw,
        **{**signed, "timestamp": answer_timestamp},
    ):
        raise _BadSignature("the answer's signature does not verify")
    if abs(time.time() - int(answer_timestamp)) > ANSWER_MAX_AGE_SECONDS:
        raise _BadSignature("the answer's timestamp is stale")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _Malformed("the answer is not JSON") from None
    if not isinstance(data, dict):
        raise _Malformed("the answer is not a JSON object")
    return status, data


def sign_answer(secret: str, *, path: str, query: str, nonce: str, body: bytes) -> dict[str, str]:
    """The headers a biller's system puts on its answer (the sandbox biller uses this; docs show how)."""
    timestamp = str(int(time.time()))
    signature = signing.sign(
        secret, method=RESPONSE_METHOD, path=path, query=query, timestamp=timestamp, nonce=nonce, body=body
    )
    return {signing.TIMESTAMP_HEADER: timestamp, signing.SIGNATURE_HEADER: signature}


# --- reading the biller's answers ---------------------------------------------------------------------


@dataclass(frozen=True)
class FetchedBill:
    period: str
    amount_due: Decimal
    due_date: datetime.date
    reference: str
    description: str


@dataclass(frozen=True)
class FetchedAccount:
    account_no: str
    holder_name: str
    bills: tuple[FetchedBill, ...]


def _text(data: dict, key: str, limit: int, *, required: bool = False) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        raise _Malformed(f"{key}: a text of at most {limit} characters")
    return "".join(ch for ch in value if ch.isprintable()).strip()


def _amount(value: object, key: str) -> Decimal:
    if not isinstance(value, str) or not _AMOUNT_RE.fullmatch(value):
        raise _Malformed(f'{key}: an amount such as "128.50"')
    return Decimal(value).quantize(Decimal("0.01"))


def _read_account(data: dict, account_no: str) -> FetchedAccount:
    if data.get("account_no") != account_no:
        raise _Malformed("account_no is not the account asked about")
    bills = data.get("bills")
    if not isinstance(bills, list) or len(bills) > MAX_BILLS:
        raise _Malformed(f"bills: a list of at most {MAX_BILLS}")
    read = []
    for item in bills:
        if not isinstance(item, dict):
            raise _Malformed("bills: objects")
        period = item.get("period")
        if not isinstance(period, str) or not _PERIOD_RE.fullmatch(period):
            raise _Malformed("period: YYYY-MM")
        try:
            due_date = datetime.date.fromisoformat(item.get("due_date"))
        except (TypeError, ValueError):
            raise _Malformed("due_date: YYYY-MM-DD") from None
        read.append(
            FetchedBill(
                period=period,
                amount_due=_amount(item.get("amount_due"), "amount_due"),
                due_date=due_date,
                reference=_text(item, "reference", 64),
                description=_text(item, "description", 200),
            )
        )
    if len({bill.period for bill in read}) != len(read):
        raise _Malformed("bills: one per period")
    return FetchedAccount(
        account_no=account_no, holder_name=_text(data, "holder_name", 100, required=True), bills=tuple(read)
    )


# --- which billers are live -----------------------------------------------------------------------------


def live_link(biller_code: str) -> BillerLink | None:
    """The biller's link when its bills are fetched or its payments validated; None for pushed bills."""
    return (
        BillerLink.objects.select_related("biller")
        .filter(
            biller__code=normalize_code(biller_code),
            mode__in=LIVE_MODES,
        )
        .first()
    )


def _refusal(code: str, link: BillerLink, **params) -> BillerRefused:
    return BillerRefused(code, biller=link.biller.display_name, **params)


def _bad_answer(exc: Exception, link: BillerLink, what: str) -> BillerRefused:
    """The payer's refusal for a timeout, a bad signature or a malformed answer; logged for staff."""
    code = {
        _Timeout: "biller_timeout",
        _BadSignature: "biller_bad_signature",
        _Malformed: "biller_bad_answer",
        _Down: "biller_unavailable",
    }[type(exc)]
    logger.warning("biller %s %s: %s (%s)", link.biller.code, what, code, exc)
    return _refusal(code, link)


# --- lookups: fetched bills, cached a short while ------------------------------------------------------


def _cache_key(link: BillerLink, account_no: str) -> str:
    """Keyed by the link's last change too: a biller's link saved in the admin starts afresh."""
    version = int(link.updated_at.timestamp()) if link.updated_at else 0
    return f"presentment:fetched:{link.biller.code}:{version}:{account_no}"


def forget_fetched(link: BillerLink, account_no: str) -> None:
    cache.delete(_cache_key(link, account_no))


def present(biller: Biller | str, account_no: str, *, link: BillerLink | None = None) -> None:
    """Before a lookup shows an account's bills: for a fetch-mode biller, bring its live bills in as Bill
    rows (unless fetched within the biller's cache time). Refuses with the biller's message on a bad
    answer; while its system is down, refuses or (stand-in `accept_and_confirm_later`) shows the bills
    last fetched."""
    code = biller if isinstance(biller, str) else biller.code
    link = link or live_link(code)
    if link is None or link.mode != PresentmentMode.FETCH:
        return
    account_no = normalize_account_no(account_no)
    biller = link.biller
    if not account_no_is_valid(
        account_no, pattern=biller.account_pattern, check_digit=biller.account_check_digit
    ):
        return  # the caller refuses the number with the biller's hint; its system is not asked about it
    if cache.get(_cache_key(link, account_no)):
        return
    if _fetch_and_store(link, account_no) is not None and link.cache_seconds:
        cache.set(_cache_key(link, account_no), True, link.cache_seconds)


def _fetch(link: BillerLink, account_no: str) -> FetchedAccount | None:
    """The biller's live bills of the account; None while its system is down and its stand-in accepts."""
    try:
        status, data = _post(link, "/bills", {"account_no": account_no})
        error = data.get("error")
        if status == 404 and isinstance(error, dict) and error.get("code") == "account_unknown":
            raise PaymentRefused("account_unknown", biller=link.biller.display_name, account_no=account_no)
        if status != 200:
            raise _Malformed(f"HTTP {status}")
        return _read_account(data, account_no)
    except _Down as exc:
        if link.stand_in == StandIn.ACCEPT:
            logger.warning("biller %s fetch: down (%s), stand-in shows stored bills", link.biller.code, exc)
            return None
        raise _bad_answer(exc, link, "fetch") from None
    except (_Timeout, _BadSignature, _Malformed) as exc:
        raise _bad_answer(exc, link, "fetch") from None


def _fetch_and_store(link: BillerLink, account_no: str) -> FetchedAccount | None:
    fetched = _fetch(link, account_no)
    if fetched is not None:
        store_fetched_bills(biller=link.biller, fetched=fetched)
    return fetched


def store_fetched_bills(*, biller: Biller, fetched: FetchedAccount) -> CustomerAccount:
    """Upsert a fetched account and its bills. A bill with payments keeps what it was paid: its amount due
    changes only where it still covers them; a paid or cancelled bill is left as it is."""
    with transaction.atomic():
        account = CustomerAccount.objects.filter(biller=biller, account_no=fetched.account_no).first()
        if account is None:
            try:
                with transaction.atomic():
                    account = CustomerAccount.objects.create(
                        biller=biller, account_no=fetched.account_no, holder_name=fetched.holder_name
                    )
            except IntegrityError:  # fetched at the same moment by another lookup
                account = CustomerAccount.objects.get(biller=biller, account_no=fetched.account_no)
        account = locks.lock_customer_account_by_id(account.pk)
        existing = {
            bill.period: bill
            for bill in locks.lock_bills_by_period(account, [b.period for b in fetched.bills])
        }
        now = timezone.now()
        for item in fetched.bills:
            bill = existing.get(item.period)
            if bill is None:
                Bill.objects.create(
                    biller=biller,
                    account=account,
                    period=item.period,
                    amount_due=item.amount_due,
                    due_date=item.due_date,
                    reference=item.reference,
                    description=item.description,
                )
                continue
            if bill.status not in PAYABLE_BILL_STATUSES or item.amount_due + bill.late_fee < bill.amount_paid:
                continue
            if (bill.amount_due, bill.due_date, bill.reference, bill.description) == (
                item.amount_due,
                item.due_date,
                item.reference,
                item.description,
            ):
                continue
            bill.amount_due, bill.due_date = item.amount_due, item.due_date
            bill.reference, bill.description = item.reference, item.description
            paid_in_full = bill.amount_paid and bill.amount_paid >= bill.total_due
            bill.status = BillStatus.PAID if paid_in_full else bill.status
            bill.updated_at = now
            bill.save(
                update_fields=["amount_due", "due_date", "reference", "description", "status", "updated_at"]
            )
    return account


# --- payments: validated (or fetched again) before posting ---------------------------------------------


@dataclass(frozen=True)
class Clearance:
    """The biller's word on a payment about to be posted: `accepted`, or `pending` (posted under the
    stand-in rule, or where no call could be made, and confirmed with the biller afterwards)."""

    status: str
    biller_ref: str = ""
    fiscal_receipt_no: str = ""


PENDING = Clearance(status=BillerCheck.Status.PENDING)


def payment_key(channel: str, idempotency_key: str) -> str:
    """What the biller's system is told identifies the payment, the same on every retry and confirmation."""
    return f"{channel}:{idempotency_key}"


def _bills_to_pay(biller: Biller, account_no: str, periods) -> tuple[CustomerAccount | None, list[Bill]]:
    account = CustomerAccount.objects.filter(biller=biller, account_no=account_no).first()
    if account is None:
        return None, []
    bills = Bill.objects.filter(account=account, status__in=PAYABLE_BILL_STATUSES)
    if periods:
        bills = bills.filter(period__in=list(periods))
    return account, list(bills.order_by("due_date", "period"))


def check_with_biller(
    *, channel: str, idempotency_key: str, biller_code: str, account_no: str | None, amount, periods=()
) -> Clearance | None:
    """Ask a live biller's system about a payment before it is posted; None for a pushed-bills biller or
    a key already used (the posting service answers it as a replay). Raises `BillerRefused` on a bad
    answer or a changed amount, and (stand-in `refuse`) while the system is down."""
    link = live_link(biller_code)
    if link is None:
        return None
    if Payment.objects.filter(channel=channel, idempotency_key=idempotency_key).exists():
        return None
    account_no = normalize_account_no(account_no or "")
    if not account_no:
        return None  # the posting service refuses it for want of an account
    if link.mode == PresentmentMode.FETCH:
        return _check_fetched(link, account_no, periods)
    return _validate(link, payment_key(channel, idempotency_key), channel, account_no, amount, periods)


def _check_fetched(link: BillerLink, account_no: str, periods) -> Clearance:
    """Fetch again, uncached: the amount of the bills about to be paid must be what the lookup showed."""
    account, before = _bills_to_pay(link.biller, account_no, periods)
    known = set(Bill.objects.filter(account=account).values_list("period", flat=True)) if account else set()
    forget_fetched(link, account_no)
    fetched = _fetch_and_store(link, account_no)
    if fetched is None:
        return PENDING  # down, and the stand-in accepts: pay the bills last fetched, confirm later
    if account is None:  # never looked up (a partner paying straight away): its live bills are the lookup
        return Clearance(status=BillerCheck.Status.ACCEPTED)
    live = {bill.period: bill.amount_due for bill in fetched.bills}
    expected = sum((bill.outstanding for bill in before), ZERO)
    current = sum((live.get(bill.period, ZERO) + bill.late_fee - bill.amount_paid for bill in before), ZERO)
    if not periods:  # all the account's open bills: a new one since the lookup changes the amount too
        current += sum((amount for period, amount in live.items() if period not in known), ZERO)
    if current != expected:
        raise _refusal(
            "biller_amount_changed",
            link,
            account_no=account_no,
            current=format_money(current),
            expected=format_money(expected),
        )
    return Clearance(status=BillerCheck.Status.ACCEPTED)


def _validation_request(key: str, channel: str, account_no: str, amount, bills: list[Bill]) -> dict:
    return {
        "payment_key": key,
        "channel": channel,
        "account_no": account_no,
        "amount": str(parse_amount(amount)),
        "bills": [{"period": bill.period, "amount_due": str(bill.outstanding)} for bill in bills],
    }


def _ask_to_accept(link: BillerLink, request: dict) -> tuple[bool, dict]:
    """(accepted, answer) from POST /validate; raises the protocol's exceptions."""
    status, data = _post(link, "/validate", request)
    if status != 200 or data.get("payment_key") != request["payment_key"]:
        raise _Malformed(f"HTTP {status}" if status != 200 else "payment_key is not the payment asked about")
    accepted = data.get("accepted")
    if not isinstance(accepted, bool):
        raise _Malformed("accepted: true or false")
    if not accepted and data.get("code") not in ("amount_changed", "declined", "account_unknown"):
        raise _Malformed("code: amount_changed, declined or account_unknown")
    return accepted, data


def _validate(link: BillerLink, key: str, channel: str, account_no: str, amount, periods) -> Clearance:
    _account, bills = _bills_to_pay(link.biller, account_no, periods)
    request = _validation_request(key, channel, account_no, amount, bills)
    try:
        accepted, data = _ask_to_accept(link, request)
        if accepted:
            return Clearance(
                status=BillerCheck.Status.ACCEPTED,
                biller_ref=_text(data, "biller_ref", 64),
                fiscal_receipt_no=_text(data, "fiscal_receipt_no", 64),
            )
        refusal = _declined(link, account_no, data, bills)
    except _Down as exc:
        if link.stand_in == StandIn.ACCEPT:
            logger.warning("biller %s validate: down (%s), stand-in accepts %s", link.biller.code, exc, key)
            return PENDING
        raise _bad_answer(exc, link, "validate") from None
    except (_Timeout, _BadSignature, _Malformed) as exc:
        raise _bad_answer(exc, link, "validate") from None
    raise refusal


def _declined(link: BillerLink, account_no: str, data: dict, bills: list[Bill]) -> PaymentRefused:
    code = data["code"]
    if code == "account_unknown":
        return PaymentRefused("account_unknown", biller=link.biller.display_name, account_no=account_no)
    if code == "amount_changed":
        current = _amount(data.get("amount_due"), "amount_due")
        expected = sum((bill.outstanding for bill in bills), ZERO)
        return _refusal(
            "biller_amount_changed",
            link,
            account_no=account_no,
            current=format_money(current),
            expected=format_money(expected),
        )
    reason = _text(data, "reason", 200) or "—"
    return _refusal("biller_declined", link, reason=reason)


def clearance_for_posting(
    *, channel: str, idempotency_key: str, biller_code: str, account_no: str | None, amount, periods
) -> Clearance | None:
    """`post_payment`'s own check when its caller made none: live, unless the caller already holds a
    transaction (a bank's notification: the money is taken, so post it and confirm with the biller later)."""
    if not connection.in_atomic_block:
        return check_with_biller(
            channel=channel,
            idempotency_key=idempotency_key,
            biller_code=biller_code,
            account_no=account_no,
            amount=amount,
            periods=periods,
        )
    if live_link(biller_code) is None:
        return None
    return PENDING


def record_clearance(payment: Payment, clearance: Clearance) -> BillerCheck:
    """Inside the posting transaction: what the biller said; a pending one is confirmed after commit."""
    check = BillerCheck.objects.create(
        payment=payment,
        status=clearance.status,
        biller_ref=clearance.biller_ref,
        fiscal_receipt_no=clearance.fiscal_receipt_no,
        checked_at=timezone.now() if clearance.status == BillerCheck.Status.ACCEPTED else None,
    )
    if clearance.status == BillerCheck.Status.PENDING:
        record_audit(actor=None, action="presentment.posted_under_stand_in", target=payment)
        from billing import tasks

        transaction.on_commit(lambda: tasks.confirm_with_biller.delay(check.pk))
    return check


# --- confirming later -----------------------------------------------------------------------------------


def confirm(*, check_id: int, attempt: int = 1) -> str:
    """Ask the biller about a payment posted under the stand-in rule (the same payment key as before, so
    the biller answers once). Accepted: confirmed. Rejected: the payment is reversed. No answer: tried
    again with backoff (config.retries.BILLER_CONFIRM), then recorded for staff as a failed task."""
    from billing import failed_tasks
    from billing.services import reverse_payment

    check = BillerCheck.objects.select_related("payment__biller", "payment__account").get(pk=check_id)
    if check.status != BillerCheck.Status.PENDING:
        return check.status
    payment = check.payment
    link = live_link(payment.biller.code)
    if link is None:  # the biller stopped being live: nobody to ask
        return _settle_check(check_id, BillerCheck.Status.CONFIRMED, error="the biller is no longer live")
    allocations = payment.allocations.select_related("bill").filter(bill__isnull=False, is_reversal=False)
    request = {
        "payment_key": payment_key(payment.channel, payment.idempotency_key),
        "channel": payment.channel,
        "account_no": payment.account.account_no if payment.account else "",
        "amount": str(payment.amount),
        # What each bill owed before this payment: what it owes now with the payment's share put back.
        "bills": [
            {"period": a.bill.period, "amount_due": str(a.bill.outstanding + a.amount)} for a in allocations
        ],
    }
    try:
        accepted, data = _ask_to_accept(link, request)
    except (_Down, _Timeout, _BadSignature, _Malformed) as exc:
        error = f"{type(exc).__name__.strip('_').lower()}: {exc}"[:300]
        BillerCheck.objects.filter(pk=check_id).update(attempts=attempt, last_error=error)
        if retries.BILLER_CONFIRM.exhausted(attempt):
            _settle_check(check_id, BillerCheck.Status.FAILED, error=error)
            failed_tasks.record_failure(
                task_name=CONFIRM_TASK, args=[check_id], error=error, attempts=attempt
            )
            return BillerCheck.Status.FAILED
        if not settings.CELERY_TASK_ALWAYS_EAGER:  # eagerly (the demo, tests) a retry would not wait
            from billing import tasks

            tasks.confirm_with_biller.apply_async(
                (check_id,), {"attempt": attempt + 1}, countdown=retries.BILLER_CONFIRM.delay(attempt)
            )
        return "retrying"
    if accepted:
        return _settle_check(
            check_id,
            BillerCheck.Status.CONFIRMED,
            biller_ref=_text(data, "biller_ref", 64),
            fiscal_receipt_no=_text(data, "fiscal_receipt_no", 64),
        )
    reason = _text(data, "reason", 200) or data.get("code", "")
    with transaction.atomic():
        reverse_payment(payment=payment, actor=None, reason=f"{payment.biller.code}: {reason}"[:200])
        return _settle_check(check_id, BillerCheck.Status.REJECTED, error=str(reason)[:300])


def _settle_check(
    check_id: int, status: str, *, error: str = "", biller_ref: str = "", fiscal_receipt_no: str = ""
) -> str:
    with transaction.atomic():
        check = locks.lock_biller_check(check_id)
        check.status = status
        check.last_error = error
        check.biller_ref = biller_ref or check.biller_ref
        check.fiscal_receipt_no = fiscal_receipt_no or check.fiscal_receipt_no
        check.checked_at = timezone.now()
        check.save()
        record_audit(actor=None, action=f"presentment.{status}", target=check.payment, error=error)
    return status


def retry_failed_confirmation(failed_task, actor) -> None:
    """The FailedTask retry action (billing.failed_tasks): a fresh round of confirmation attempts."""
    from billing import tasks

    (check_id,) = failed_task.args
    BillerCheck.objects.filter(pk=check_id, status=BillerCheck.Status.FAILED).update(
        status=BillerCheck.Status.PENDING
    )
    transaction.on_commit(lambda: tasks.confirm_with_biller.delay(check_id))


# --- admin: the link's settings, audited ----------------------------------------------------------------


def save_link(*, link: BillerLink, actor, changed: list[str]) -> BillerLink:
    """Save a biller's link from the back office, audited (never the secret's value, only that it changed)."""
    with transaction.atomic():
        link.save()
        record_audit(
            actor=actor,
            action="presentment.link_saved",
            target=link,
            biller=link.biller.code,
            mode=link.mode,
            endpoint=link.endpoint_url,
            stand_in=link.stand_in,
            timeout=link.timeout_seconds,
            changed=", ".join(field for field in changed if field != "secret") or "-",
            secret_changed="secret" in changed,
        )
    return link
