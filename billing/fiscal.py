"""Fiscal e-receipts (财政电子票据) and e-invoices (issue 17, item 5; docs/fiscal-receipts.md).

A biller configured for it (`FiscalSetup`: the issuer and the biller's code there) gets, for every payment
to it, an official e-receipt from its issuer: a code and number (票据代码/号码), a 6-character verification
code (校验码) and the file. When the payment is reversed, the receipt is reversed in red letters (冲红).

How it runs:

1. The outbox relay hands payment events to `receipts_for_events` (registered in BillingConfig.ready),
   inside its transaction: a posted payment to a configured biller writes one `FiscalReceipt` (unique on
   the event id and on the payment, so a replayed event writes nothing); a reversed one moves its receipt to
   `reversal_requested` once (unique reversal event id). Each is queued after commit.
2. `work` (the Celery task `billing.tasks.work_fiscal_receipt`, io queue) claims the receipt with a lease in
   a short transaction, calls the issuer outside any transaction, and records the answer under the row
   lock. An issuer that is down, answers with a bad signature or a body that is not the protocol's is
   refused (nothing of its answer is kept) and asked again by `config.retries.FISCAL_ISSUER`; past its
   attempts the receipt is `failed` and a `billing.FailedTask` is recorded, which staff send again from the
   admin. The payment itself is never touched: it was posted before any of this.
3. An issued receipt writes a `fiscal_receipt.issued` outbox event, which the portal turns into the
   payer's e-mail and text message (payers.fiscal_notices).

The adapter interface is `Issuer` (issue, query, reverse); `SignedHttpIssuer` speaks the platform's signed
fiscal protocol (requests signed as billing/signing.py signs the biller protocol, answers signed back),
which the demo's sandbox issuer (billing/sandbox_fiscal) serves. An issuer with another protocol is one more
class in `ADAPTERS`.
"""

import base64
import binascii
import datetime
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from billing import failed_tasks, locks, outbox, presentment
from billing.audit import record_audit
from billing.fiscal_models import (
    FISCAL_TRANSITIONS,
    FiscalIssuerKind,
    FiscalReceipt,
    FiscalSetup,
    FiscalStatus,
)
from billing.models import OutboxEvent, Payment, PaymentAllocation
from billing.transitions import transition
from config import retries

logger = logging.getLogger(__name__)

WORK_TASK = "billing.tasks.work_fiscal_receipt"
LEASE_SECONDS = 120  # above the io queue's hard time limit: a live worker never loses its claim
MAX_ANSWER_BYTES = 512 * 1024  # an answer carries the e-receipt's PDF, base64
MAX_PDF_BYTES = 256 * 1024

_INVOICE_CODE_RE = re.compile(r"^\d{8,12}$")
_INVOICE_NO_RE = re.compile(r"^\d{8,12}$")
_CHECK_CODE_RE = re.compile(r"^[0-9A-Za-z]{6}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


# --- the adapter interface ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueRequest:
    business_no: str  # the payment's receipt number: the issuer issues once per business number
    notice_no: str
    payer: str
    amount: str
    paid_at: str
    items: list[dict]


@dataclass(frozen=True)
class Issued:
    invoice_code: str
    invoice_no: str
    check_code: str
    issued_at: datetime.datetime
    pdf: bytes
    pdf_sha256: str


@dataclass(frozen=True)
class Reversed:
    red_invoice_code: str
    red_invoice_no: str
    reversed_at: datetime.datetime


class IssuerError(Exception):
    """The issuer could not be used this time: down, too slow, or an answer refused (bad signature, not the
    protocol's body). The work is tried again later; nothing of the answer is kept."""


class Issuer(Protocol):
    def issue(self, request: IssueRequest) -> Issued: ...

    def query(self, business_no: str) -> Issued | None: ...

    def reverse(self, *, business_no: str, invoice_code: str, invoice_no: str, reason: str) -> Reversed: ...


class SignedHttpIssuer:
    """The platform's signed fiscal protocol over HTTP(S): POST /issue, /query, /reverse (docs)."""

    def __init__(self, setup: FiscalSetup):
        self.setup = setup

    def _call(self, route: str, payload: dict) -> tuple[int, dict]:
        try:
            return presentment._post(self.setup, route, payload, max_bytes=MAX_ANSWER_BYTES)
        except (presentment._Down, presentment._Timeout) as exc:
            raise IssuerError(f"unavailable: {exc}") from None
        except presentment._BadSignature as exc:
            raise IssuerError(f"bad signature: {exc}") from None
        except presentment._Malformed as exc:
            raise IssuerError(f"bad answer: {exc}") from None

    def issue(self, request: IssueRequest) -> Issued:
        status, data = self._call("/issue", {**request.__dict__, "agency_code": self.setup.agency_code})
        if status != 200:
            raise IssuerError(f"refused: HTTP {status} {_error_code(data)}")
        return read_issued(data, request.business_no)

    def query(self, business_no: str) -> Issued | None:
        status, data = self._call(
            "/query", {"agency_code": self.setup.agency_code, "business_no": business_no}
        )
        if status == 404 and _error_code(data) == "not_issued":
            return None
        if status != 200:
            raise IssuerError(f"refused: HTTP {status} {_error_code(data)}")
        return read_issued(data, business_no)

    def reverse(self, *, business_no: str, invoice_code: str, invoice_no: str, reason: str) -> Reversed:
        status, data = self._call(
            "/reverse",
            {
                "agency_code": self.setup.agency_code,
                "business_no": business_no,
                "invoice_code": invoice_code,
                "invoice_no": invoice_no,
                "reason": reason[:100],
            },
        )
        if status != 200:
            raise IssuerError(f"refused: HTTP {status} {_error_code(data)}")
        if data.get("invoice_no") != invoice_no or data.get("business_no") != business_no:
            raise IssuerError("bad answer: the reversal is of another e-receipt")
        return Reversed(
            red_invoice_code=_match(data, "red_invoice_code", _INVOICE_CODE_RE),
            red_invoice_no=_match(data, "red_invoice_no", _INVOICE_NO_RE),
            reversed_at=_moment(data, "reversed_at"),
        )


ADAPTERS: dict[str, type] = {
    FiscalIssuerKind.SANDBOX: SignedHttpIssuer,
    FiscalIssuerKind.SIGNED_HTTP: SignedHttpIssuer,
}


def issuer_for(setup: FiscalSetup) -> Issuer:
    return ADAPTERS[setup.issuer](setup)


# --- reading the issuer's answers -----------------------------------------------------------------------


def _error_code(data: dict) -> str:
    error = data.get("error")
    return str(error.get("code", ""))[:40] if isinstance(error, dict) else ""


def _match(data: dict, key: str, pattern: re.Pattern) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise IssuerError(f"bad answer: {key} is not what the protocol says")
    return value


def _moment(data: dict, key: str) -> datetime.datetime:
    value = data.get(key)
    try:
        moment = datetime.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise IssuerError(f"bad answer: {key} is not a time with its offset")
    return moment


def read_issued(data: dict, business_no: str) -> Issued:
    """The issuer's e-receipt, checked field by field: numbers, code, time, and the file against its hash."""
    if data.get("business_no") != business_no:
        raise IssuerError("bad answer: the e-receipt is of another payment")
    encoded = data.get("pdf_base64")
    if not isinstance(encoded, str) or len(encoded) > MAX_PDF_BYTES * 4 // 3 + 4:
        raise IssuerError("bad answer: no e-receipt file, or one too large")
    try:
        pdf = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise IssuerError("bad answer: the e-receipt file is not base64") from None
    digest = _match(data, "pdf_sha256", _SHA256_RE)
    if not pdf.startswith(b"%PDF-") or hashlib.sha256(pdf).hexdigest() != digest:
        raise IssuerError("bad answer: the e-receipt file is not the PDF its hash names")
    return Issued(
        invoice_code=_match(data, "invoice_code", _INVOICE_CODE_RE),
        invoice_no=_match(data, "invoice_no", _INVOICE_NO_RE),
        check_code=_match(data, "check_code", _CHECK_CODE_RE),
        issued_at=_moment(data, "issued_at"),
        pdf=pdf,
        pdf_sha256=digest,
    )


# --- the outbox consumer --------------------------------------------------------------------------------


def _setups_of(codes: set) -> dict[str, FiscalSetup]:
    rows = (
        FiscalSetup.objects.filter(biller__code__in=codes)
        .exclude(issuer=FiscalIssuerKind.NONE)
        .select_related("biller")
    )
    return {setup.biller.code: setup for setup in rows if setup.issues}


def _notice_numbers(payment_ids: list[int]) -> dict[int, str]:
    """The payment notice number (缴款书号) of each payment's bill, where its bill has one."""
    rows = (
        PaymentAllocation.objects.filter(payment_id__in=payment_ids, is_reversal=False)
        .exclude(bill__notice_no="")
        .order_by("pk")
        .values_list("payment_id", "bill__notice_no")
    )
    found: dict[int, str] = {}
    for payment_id, notice_no in rows:
        found.setdefault(payment_id, notice_no)
    return found


def receipts_for_events(events) -> list[int]:
    """The outbox consumer (inside the relay's transaction): a receipt requested per posted payment to a
    configured biller, a red-letter reversal requested per reversed one; each once per event id. Queued
    after commit; returns the receipts queued."""
    posted = [e for e in events if e.type == outbox.EventType.PAYMENT_POSTED]
    reversed_events = {e.aggregate_id: e for e in events if e.type == outbox.EventType.PAYMENT_REVERSED}
    queued = _request_receipts(posted) if posted else []
    if reversed_events:
        queued += _request_reversals(reversed_events)
    if queued:
        transaction.on_commit(lambda: _queue(queued))
    return queued


def _request_receipts(events: list[OutboxEvent]) -> list[int]:
    setups = _setups_of({event.payload.get("biller_code") for event in events})
    wanted = [event for event in events if event.payload.get("biller_code") in setups]
    if not wanted:
        return []
    notices = _notice_numbers([int(event.aggregate_id) for event in wanted])
    created = []
    for event in wanted:
        payment_id = int(event.aggregate_id)
        try:
            with transaction.atomic():  # a savepoint: the event (or its payment) already has its receipt
                receipt = FiscalReceipt.objects.create(
                    payment_id=payment_id,
                    biller=setups[event.payload["biller_code"]].biller,
                    issue_event_id=event.id,
                    notice_no=notices.get(payment_id, ""),
                )
        except IntegrityError:
            continue
        record_audit(actor=None, action="fiscal_receipt.requested", target=receipt, event=event.id)
        created.append(receipt.pk)
    return created


def _request_reversals(events: dict[str, OutboxEvent]) -> list[int]:
    queued = []
    for receipt in locks.lock_fiscal_receipts_of_payments(int(pk) for pk in events):
        if receipt.reversal_event_id is not None:
            continue  # this payment's reversal was requested already
        event = events[str(receipt.payment_id)]
        transition(receipt, FiscalStatus.REVERSAL_REQUESTED, table=FISCAL_TRANSITIONS, choices=FiscalStatus)
        receipt.reversal_event_id = event.id
        receipt.save(update_fields=["status", "reversal_event_id", "updated_at"])
        record_audit(actor=None, action="fiscal_receipt.reversal_requested", target=receipt, event=event.id)
        queued.append(receipt.pk)
    return queued


def _queue(receipt_ids: list[int]) -> None:
    from billing.tasks import work_fiscal_receipt

    for receipt_id in receipt_ids:
        work_fiscal_receipt.delay(receipt_id)


# --- the work: issue, then reverse when asked ------------------------------------------------------------


WORKABLE = (FiscalStatus.REQUESTED, FiscalStatus.REVERSAL_REQUESTED)


def _claim(receipt_id: int) -> tuple[FiscalReceipt, str] | None:
    """Take the receipt for one call to its issuer: (receipt, our lease token), or None when there is
    nothing to do or another worker's lease still runs (a replayed or retried task calls nobody)."""
    now = timezone.now()
    with transaction.atomic():
        receipt = locks.lock_fiscal_receipt(receipt_id)
        if receipt.status not in WORKABLE or (receipt.lease_until and receipt.lease_until > now):
            return None
        receipt.lease_token = secrets.token_hex(8)
        receipt.lease_until = now + datetime.timedelta(seconds=LEASE_SECONDS)
        receipt.attempts += 1
        receipt.save(update_fields=["lease_token", "lease_until", "attempts", "updated_at"])
    return receipt, receipt.lease_token


def _issue_request(receipt: FiscalReceipt) -> IssueRequest:
    payment = Payment.objects.select_related("account", "biller").get(pk=receipt.payment_id)
    paid = (
        payment.allocations.filter(is_reversal=False, bill__isnull=False)
        .select_related("bill")
        .order_by("pk")
    )
    items = [
        {
            "name": (a.bill.description or payment.biller.display_name)[:60],
            "period": a.bill.period,
            "notice_no": a.bill.notice_no,
            "amount": f"{a.amount:.2f}",
        }
        for a in paid
    ] or [
        {
            "name": payment.biller.display_name[:60],
            "period": "",
            "notice_no": "",
            "amount": f"{payment.amount:.2f}",
        }
    ]
    return IssueRequest(
        business_no=payment.receipt_no,
        notice_no=receipt.notice_no,
        payer=payment.account.holder_name[:60] if payment.account_id else "",
        amount=f"{payment.amount:.2f}",
        paid_at=timezone.localtime(payment.posted_at).isoformat(),
        items=items,
    )


def work(*, receipt_id: int, attempt: int = 1) -> str:
    """One run for a receipt: issue it (asking first, after a failed try, whether the issuer issued it
    anyway), then, when its payment was reversed, request its red-letter reversal. Returns its status."""
    claimed = _claim(receipt_id)
    if claimed is None:
        return FiscalReceipt.objects.filter(pk=receipt_id).values_list("status", flat=True).first() or ""
    receipt, token = claimed
    setup = FiscalSetup.objects.filter(biller_id=receipt.biller_id).first()
    try:
        if setup is None or not setup.issues:
            raise IssuerError("the biller has no fiscal e-receipt issuer any more")
        issuer = issuer_for(setup)
        if not receipt.invoice_no:
            request = _issue_request(receipt)
            issued = (issuer.query(request.business_no) if attempt > 1 else None) or issuer.issue(request)
            receipt = _record_issued(receipt_id, token, issued)
        if receipt is not None and receipt.status == FiscalStatus.REVERSAL_REQUESTED:
            answer = issuer.reverse(
                business_no=receipt.payment.receipt_no,
                invoice_code=receipt.invoice_code,
                invoice_no=receipt.invoice_no,
                reason=receipt.payment.reversal_reason or "payment reversed",
            )
            receipt = _record_reversed(receipt_id, token, answer)
    except IssuerError as exc:
        return _record_failure(receipt_id, token, attempt, str(exc)[:300])
    return receipt.status if receipt is not None else ""


def _locked_if_ours(receipt_id: int, token: str) -> FiscalReceipt | None:
    receipt = locks.lock_fiscal_receipt(receipt_id)
    return receipt if receipt.lease_token == token else None  # our lease ran out and another took over


def _record_issued(receipt_id: int, token: str, issued: Issued) -> FiscalReceipt | None:
    with transaction.atomic():
        receipt = _locked_if_ours(receipt_id, token)
        if receipt is None:
            return None
        receipt.invoice_code, receipt.invoice_no = issued.invoice_code, issued.invoice_no
        receipt.check_code, receipt.issued_at = issued.check_code, issued.issued_at
        receipt.pdf, receipt.pdf_sha256 = issued.pdf, issued.pdf_sha256
        receipt.last_error = ""
        fields = ["invoice_code", "invoice_no", "check_code", "issued_at", "pdf", "pdf_sha256", "last_error"]
        record_audit(
            actor=None,
            action="fiscal_receipt.issued",
            target=receipt,
            invoice_code=issued.invoice_code,
            invoice_no=issued.invoice_no,
        )
        if receipt.status != FiscalStatus.REQUESTED:  # its payment was reversed meanwhile: go on to that
            receipt.save(update_fields=[*fields, "updated_at"])
            return receipt
        transition(receipt, FiscalStatus.ISSUED, table=FISCAL_TRANSITIONS, choices=FiscalStatus)
        receipt.lease_token, receipt.lease_until = "", None
        receipt.save(update_fields=[*fields, "status", "lease_token", "lease_until", "updated_at"])
        outbox.record(  # the payer's e-mail and text message (payers.fiscal_notices)
            type=outbox.EventType.FISCAL_RECEIPT_ISSUED,
            aggregate_type="fiscal_receipt",
            aggregate_id=receipt.pk,
            payload={
                "receipt_no": receipt.payment.receipt_no,
                "biller_code": receipt.biller.code,
                "invoice_code": receipt.invoice_code,
                "invoice_no": receipt.invoice_no,
                "check_code": receipt.check_code,
                "notice_no": receipt.notice_no,
            },
        )
    return receipt


def _record_reversed(receipt_id: int, token: str, answer: Reversed) -> FiscalReceipt | None:
    with transaction.atomic():
        receipt = _locked_if_ours(receipt_id, token)
        if receipt is None:
            return None
        transition(receipt, FiscalStatus.REVERSED, table=FISCAL_TRANSITIONS, choices=FiscalStatus)
        receipt.red_invoice_code, receipt.red_invoice_no = answer.red_invoice_code, answer.red_invoice_no
        receipt.reversed_at = answer.reversed_at
        receipt.lease_token, receipt.lease_until, receipt.last_error = "", None, ""
        receipt.save()
        record_audit(
            actor=None,
            action="fiscal_receipt.reversed",
            target=receipt,
            red_invoice_code=answer.red_invoice_code,
            red_invoice_no=answer.red_invoice_no,
        )
    return receipt


def _record_failure(receipt_id: int, token: str, attempt: int, error: str) -> str:
    gave_up = retries.FISCAL_ISSUER.exhausted(attempt)
    with transaction.atomic():
        receipt = _locked_if_ours(receipt_id, token)
        if receipt is None:
            return "superseded"
        receipt.last_error = error
        receipt.lease_token, receipt.lease_until = "", None
        if gave_up:
            transition(receipt, FiscalStatus.FAILED, table=FISCAL_TRANSITIONS, choices=FiscalStatus)
            record_audit(actor=None, action="fiscal_receipt.failed", target=receipt, error=error)
        receipt.save()
    logger.warning("fiscal e-receipt %s: attempt %s failed: %s", receipt_id, attempt, error)
    if gave_up:
        failed_tasks.record_failure(task_name=WORK_TASK, args=[receipt_id], error=error, attempts=attempt)
        return FiscalStatus.FAILED
    if not settings.CELERY_TASK_ALWAYS_EAGER:  # eagerly (the demo, tests) a retry would not wait
        from billing.tasks import work_fiscal_receipt

        work_fiscal_receipt.apply_async(
            (receipt_id,), {"attempt": attempt + 1}, countdown=retries.FISCAL_ISSUER.delay(attempt)
        )
    return "retrying"


def retry_failed_receipt(failed_task, actor) -> None:
    """The FailedTask retry action (billing.failed_tasks): the receipt goes back to what it was waiting for
    (issue, or its red-letter reversal) and gets a fresh round of attempts."""
    (receipt_id,) = failed_task.args
    receipt = locks.lock_fiscal_receipt(receipt_id)
    if receipt.status == FiscalStatus.FAILED:
        target = FiscalStatus.REVERSAL_REQUESTED if receipt.reversal_event_id else FiscalStatus.REQUESTED
        transition(receipt, target, table=FISCAL_TRANSITIONS, choices=FiscalStatus)
        receipt.save(update_fields=["status", "updated_at"])
        record_audit(actor=actor, action="fiscal_receipt.retried", target=receipt, status=target)
    transaction.on_commit(lambda: _queue([receipt_id]))


def stalled_receipt_ids(now: datetime.datetime | None = None) -> list[int]:
    """Receipts whose work stopped: claimed by a worker that died (its lease ran out), or waiting longer than
    the policy's longest wait for a retry whose message was lost. Beat sends them again."""
    now = now or timezone.now()
    waited = now - datetime.timedelta(seconds=2 * retries.FISCAL_ISSUER.cap_seconds)
    return list(
        FiscalReceipt.objects.filter(status__in=WORKABLE)
        .filter(Q(lease_until__lte=now) | Q(lease_until__isnull=True, updated_at__lte=waited))
        .order_by("pk")
        .values_list("pk", flat=True)[:500]
    )


# --- reads ----------------------------------------------------------------------------------------------


def receipt_of(payment: Payment) -> FiscalReceipt | None:
    """The payment's fiscal e-receipt, whatever its state (None when its biller issues none)."""
    return FiscalReceipt.objects.defer("pdf").filter(payment=payment).first()


def issued_pdf(payment: Payment) -> tuple[FiscalReceipt, bytes] | None:
    """The issued file of the payment's fiscal e-receipt (also after its reversal: the red letter is a new
    document at the issuer), or None."""
    receipt = FiscalReceipt.objects.filter(payment=payment).exclude(invoice_no="").first()
    return (receipt, bytes(receipt.pdf)) if receipt is not None and receipt.pdf else None
