"""Writes of the branch and cash-counter domain: the branch registry's status changes and planned
closures, tills, cash taken at the counter (through `billing.services.post_payment`), voids (through
`reverse_payment`) and till closing. One transaction each, locks first, side effects on commit, audited."""

import datetime
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import ledger, presentment, roles, topups
from billing.access import roles_of
from billing.audit import record_audit
from billing.choices import Channel, EntryKind, LedgerAccountKind, PaymentStatus
from billing.models import Biller, LedgerAccount
from billing.money import CENT, ZERO, format_money, parse_amount, quantize_money
from billing.rules import normalize_code
from billing.services import post_payment, reverse_payment
from billing.topup_models import TopUpSource
from billing.transitions import allowed, refusal, transition
from branches import locks, selectors
from branches.choices import (
    BRANCH_TRANSITIONS,
    DENOMINATIONS_FEN,
    BranchRole,
    BranchStatus,
    ClosureStatus,
    TillStatus,
)
from branches.exceptions import CounterError
from branches.models import Branch, BranchStaff, BranchStatusChange, CounterPayment, PlannedClosure, Till
from payers.accounts import normalize_mobile

NOTICE_PHONE_RE = re.compile(r"^\+861[3-9]\d{9}$")

COUNTER_ROLES = frozenset({roles.BRANCH_CLERK, roles.BRANCH_SUPERVISOR})


# --- the branch registry ---------------------------------------------------------------------------


def change_branch_status(
    *,
    branch: Branch,
    to_status: str,
    actor,
    reason: str = "",
    until: datetime.date | None = None,
    effective_on: datetime.date | None = None,
) -> BranchStatusChange:
    """Open, suspend or close a branch; the transitions map says which moves exist. Payers who paid there
    recently are told of a suspension or closure, and cash coverage is re-checked, after commit."""
    reason = (reason or "").strip()
    with transaction.atomic():
        branch = locks.lock_branch(branch.pk)
        if not allowed(BRANCH_TRANSITIONS, branch.status, to_status):
            raise refusal(name=str(branch), current=branch.status, target=to_status, choices=BranchStatus)
        if to_status != BranchStatus.OPEN and not reason:
            raise CounterError(
                "status_reason_required", branch=branch.name, status=BranchStatus(to_status).label
            )
        today = effective_on or timezone.localdate()
        current = transition(branch, to_status, table=BRANCH_TRANSITIONS, choices=BranchStatus)
        branch.status_reason = reason[:200] if to_status != BranchStatus.OPEN else ""
        branch.status_since = today
        branch.status_until = until if to_status == BranchStatus.SUSPENDED else None
        branch.save(update_fields=["status", "status_reason", "status_since", "status_until"])
        change = BranchStatusChange.objects.create(
            branch=branch,
            from_status=current,
            to_status=to_status,
            reason=reason[:200],
            effective_on=today,
            until=branch.status_until,
            actor=actor if getattr(actor, "pk", None) else None,
        )
        record_audit(
            actor=actor,
            action="branch.status_changed",
            target=branch,
            reason=reason,
            from_status=current,
            to_status=to_status,
            until=until.isoformat() if until else "",
        )
        _after_commit_status_change(change, district=branch.district)
    return change


def _after_commit_status_change(change: BranchStatusChange, *, district: str) -> None:
    from branches import tasks

    if change.to_status != BranchStatus.OPEN:
        transaction.on_commit(lambda: tasks.notify_recent_payers.delay(status_change_id=change.pk))
    transaction.on_commit(lambda: tasks.check_cash_coverage.delay(district=district))


def plan_closure(
    *,
    branch: Branch,
    to_status: str,
    starts_on: datetime.date,
    reason: str,
    actor,
    ends_on: datetime.date | None = None,
) -> PlannedClosure:
    """Announce a suspension or closure ahead: it needs `BRANCH_CLOSURE_NOTICE_DAYS` of notice, the
    finder shows it from now on, and recent payers are told at once."""
    reason = (reason or "").strip()
    validate_closure(branch=branch, to_status=to_status, starts_on=starts_on, ends_on=ends_on, reason=reason)
    with transaction.atomic():
        branch = locks.lock_branch(branch.pk)
        if branch.status == BranchStatus.CLOSED:
            raise refusal(name=str(branch), current=branch.status, target=to_status, choices=BranchStatus)
        clash = branch.planned_closures.filter(status=ClosureStatus.PLANNED).first()
        if clash is not None:
            raise CounterError("closure_overlaps", branch=branch.name, starts_on=clash.starts_on.isoformat())
        closure = PlannedClosure.objects.create(
            branch=branch,
            to_status=to_status,
            starts_on=starts_on,
            ends_on=ends_on if to_status == BranchStatus.SUSPENDED else None,
            reason=reason[:200],
            planned_by=actor if getattr(actor, "pk", None) else None,
        )
        record_audit(
            actor=actor,
            action="branch.closure_planned",
            target=branch,
            reason=reason,
            to_status=to_status,
            starts_on=starts_on.isoformat(),
            ends_on=ends_on.isoformat() if ends_on else "",
        )
        from branches import tasks

        transaction.on_commit(lambda: tasks.notify_recent_payers.delay(closure_id=closure.pk))
    return closure


def validate_closure(
    *, branch: Branch, to_status: str, starts_on: datetime.date, ends_on: datetime.date | None, reason: str
) -> None:
    """The checks of `plan_closure` that need no lock, for forms to show before saving."""
    earliest = timezone.localdate() + datetime.timedelta(days=settings.BRANCH_CLOSURE_NOTICE_DAYS)
    if to_status not in (BranchStatus.SUSPENDED, BranchStatus.CLOSED):
        raise refusal(name=str(branch), current=branch.status, target=to_status, choices=BranchStatus)
    if not (reason or "").strip():
        raise CounterError("status_reason_required", branch=branch.name, status=BranchStatus(to_status).label)
    if starts_on < earliest:
        raise CounterError("closure_needs_notice", earliest=earliest.isoformat())
    if ends_on is not None and ends_on <= starts_on:
        raise CounterError("reopen_before_start")


def cancel_closure(*, closure: PlannedClosure, actor, reason: str = "") -> PlannedClosure:
    with transaction.atomic():
        closure = locks.lock_closure(closure.pk)
        if closure.status != ClosureStatus.PLANNED:
            raise CounterError("closure_not_planned", status=closure.get_status_display())
        closure.status = ClosureStatus.CANCELLED
        closure.save(update_fields=["status"])
        record_audit(actor=actor, action="branch.closure_cancelled", target=closure.branch, reason=reason)
    return closure


def apply_due_closures(*, today: datetime.date | None = None, actor=None) -> dict[str, int]:
    """Put planned closures into effect on their first day and reopen suspended branches on their
    reopening day. Safe to run any number of times a day (a Celery beat task runs it)."""
    today = today or timezone.localdate()
    started = ended = 0
    for closure_id in PlannedClosure.objects.filter(
        status=ClosureStatus.PLANNED, starts_on__lte=today
    ).values_list("pk", flat=True):
        with transaction.atomic():
            closure = locks.lock_closure_with_branch(closure_id)
            if closure.status != ClosureStatus.PLANNED:
                continue
            if allowed(BRANCH_TRANSITIONS, closure.branch.status, closure.to_status):
                change_branch_status(
                    branch=closure.branch,
                    to_status=closure.to_status,
                    actor=actor,
                    reason=closure.reason,
                    until=closure.ends_on,
                    effective_on=closure.starts_on,
                )
            closure.status = ClosureStatus.IN_EFFECT
            closure.save(update_fields=["status"])
            started += 1
    for closure_id in PlannedClosure.objects.filter(
        status=ClosureStatus.IN_EFFECT, ends_on__isnull=False, ends_on__lte=today
    ).values_list("pk", flat=True):
        with transaction.atomic():
            closure = locks.lock_closure_with_branch(closure_id)
            if closure.status != ClosureStatus.IN_EFFECT:
                continue
            if closure.branch.status == BranchStatus.SUSPENDED:
                change_branch_status(
                    branch=closure.branch,
                    to_status=BranchStatus.OPEN,
                    actor=actor,
                    reason=closure.reason,
                    effective_on=closure.ends_on,
                )
            closure.status = ClosureStatus.ENDED
            closure.save(update_fields=["status"])
            ended += 1
    return {"started": started, "ended": ended}


# --- tills -----------------------------------------------------------------------------------------


def _check_counter_staff(user, branch: Branch) -> BranchStaff:
    if not (roles_of(user) & COUNTER_ROLES):
        raise CounterError("not_a_counter_role")
    staff = BranchStaff.objects.filter(user=user, branch=branch).first()
    if staff is None:
        raise CounterError("not_branch_staff", branch=branch.name)
    return staff


def _check_branch_open(branch: Branch) -> None:
    if branch.status != BranchStatus.OPEN:
        raise CounterError(
            "branch_not_open",
            branch=branch.name,
            status=branch.get_status_display(),
            reason=branch.status_reason or "—",
        )


def open_till(*, clerk, branch: Branch, opening_float: Decimal | str) -> Till:
    """Open the clerk's till at the branch with a float of cash for change."""
    amount = quantize_money(Decimal(str(opening_float))) if str(opening_float).strip() else ZERO
    if amount < ZERO:
        raise CounterError("float_negative")
    with transaction.atomic():
        branch = locks.lock_branch(branch.pk)
        _check_counter_staff(clerk, branch)
        _check_branch_open(branch)
        existing = Till.objects.filter(clerk=clerk, status=TillStatus.OPEN).first()
        if existing is not None:
            raise CounterError("till_already_open", till=str(existing))
        try:
            with transaction.atomic():
                till = Till.objects.create(
                    branch=branch,
                    clerk=clerk,
                    business_date=timezone.localdate(),
                    opening_float=amount,
                )
        except IntegrityError:  # the same clerk opened one in another tab at the same moment
            raise CounterError("till_already_open", till=branch.code) from None
        record_audit(actor=clerk, action="till.opened", target=till, opening_float=amount)
    return till


def _lock_clerks_till(*, till_id: int, clerk) -> Till:
    till = locks.lock_till(till_id)
    if till is None or till.clerk_id != clerk.pk:
        raise CounterError("till_not_yours")
    if till.status != TillStatus.OPEN:
        raise CounterError("till_closed")
    return till


@dataclass(frozen=True)
class CashTaken:
    counter_payment: CounterPayment
    replayed: bool


def new_form_key() -> str:
    """A fresh idempotency key for one payment form: a double click or a retry sends it twice."""
    return uuid.uuid4().hex


def take_cash(
    *,
    clerk,
    till_id: int,
    biller_code: str,
    account_no: str,
    periods: list[str],
    amount: Decimal | str,
    tendered: Decimal | str,
    form_key: str,
    from_slip: bool = False,
    notice_phone: str = "",
    notice_consent: bool = False,
) -> CashTaken:
    """Take cash for an account's bills at the clerk's open till and post it as a counter payment.

    The citizen may leave a mobile number to hear if the outlet closes: kept only with their consent,
    and the moment they gave it. Idempotent on the form's key: the same form sent twice answers with the
    first payment."""
    if not periods and not selectors.takes_topups(biller_code):
        raise CounterError("nothing_selected")
    notice_phone = counter_notice_phone(notice_phone, consent=notice_consent)
    amount = parse_amount(amount)
    tendered = parse_amount(tendered)
    if tendered < amount:
        raise CounterError(
            "tendered_too_little", tendered=format_money(tendered), amount=format_money(amount)
        )
    # A biller whose bills are fetched or validated live is asked before the till is locked: its answer
    # (or its stand-in rule) comes before any cash is recorded (billing.presentment).
    clearance = presentment.check_with_biller(
        channel=Channel.COUNTER,
        idempotency_key=f"ctr-{form_key}",
        biller_code=biller_code,
        account_no=account_no,
        amount=amount,
        periods=periods,
    )
    with transaction.atomic():
        till = _lock_clerks_till(till_id=till_id, clerk=clerk)
        existing = CounterPayment.objects.select_related("payment").filter(
            payment__channel=Channel.COUNTER, payment__idempotency_key=f"ctr-{form_key}"
        )
        replay = existing.first()
        if replay is not None and replay.till_id == till.pk:
            return CashTaken(counter_payment=replay, replayed=True)
        branch = till.branch
        _check_counter_staff(clerk, branch)
        if till.business_date != timezone.localdate():
            raise CounterError("till_from_another_day", day=till.business_date.isoformat())
        _check_branch_open(branch)
        biller = Biller.objects.filter(code=normalize_code(biller_code)).first()
        if biller is not None:
            selectors.check_biller_takes_cash_at(biller, branch)
        result = post_payment(
            channel=Channel.COUNTER,
            idempotency_key=f"ctr-{form_key}",
            biller_code=biller_code,
            account_no=account_no,
            periods=periods,
            amount=amount,
            branch=branch,
            actor=clerk,
            channel_ref=f"TILL-{till.pk}",
            clearance=clearance,
        )
        if result.replayed:
            return CashTaken(counter_payment=result.payment.counter, replayed=True)
        counter_payment = CounterPayment.objects.create(
            payment=result.payment,
            till=till,
            branch=branch,
            tendered=tendered,
            change=tendered - amount,
            from_slip=from_slip,
            notice_phone=notice_phone,
            notice_consent_at=timezone.now() if notice_phone else None,
        )
        record_audit(
            actor=clerk,
            action="counter.cash_taken",
            target=result.payment,
            till=till.pk,
            amount=amount,
            tendered=tendered,
            change=tendered - amount,
        )
    return CashTaken(counter_payment=counter_payment, replayed=False)


def counter_notice_phone(raw: str, *, consent: bool) -> str:
    """The mobile number a citizen left for outlet notices, normalised (+86…); refused when it is not a
    mainland mobile number or comes without their consent."""
    phone = normalize_mobile((raw or "").strip()[:40])
    if not phone:
        return ""
    if not NOTICE_PHONE_RE.fullmatch(phone):
        raise CounterError("notice_phone_invalid")
    if not consent:
        raise CounterError("notice_consent_required")
    return phone


def void_counter_payment(
    *, counter_payment: CounterPayment, clerk, supervisor, reason: str
) -> CounterPayment:
    """Undo a payment taken today at the clerk's still-open till, approved by a supervisor of the branch
    (someone other than the clerk), through `reverse_payment`."""
    reason = (reason or "").strip()
    if not reason:
        raise CounterError("void_reason_required")
    with transaction.atomic():
        till = _lock_clerks_till(till_id=counter_payment.till_id, clerk=clerk)
        counter_payment = CounterPayment.objects.select_related("payment").get(pk=counter_payment.pk)
        payment = counter_payment.payment
        if counter_payment.voided_at is not None or payment.status != PaymentStatus.POSTED:
            raise CounterError("void_already", receipt_no=payment.receipt_no)
        if payment.business_date != timezone.localdate():
            raise CounterError(
                "void_other_day", receipt_no=payment.receipt_no, day=payment.business_date.isoformat()
            )
        if (
            supervisor is None
            or not BranchStaff.objects.filter(
                user=supervisor, branch=till.branch, role=BranchRole.SUPERVISOR
            ).exists()
            or roles.BRANCH_SUPERVISOR not in roles_of(supervisor)
        ):
            raise CounterError("void_supervisor_required", branch=till.branch.name)
        if supervisor.pk == clerk.pk:
            raise CounterError("void_self_approval")
        reverse_payment(payment=payment, actor=clerk, reason=reason)
        counter_payment.voided_at = timezone.now()
        counter_payment.void_approved_by = supervisor
        counter_payment.save(update_fields=["voided_at", "void_approved_by"])
        record_audit(
            actor=clerk,
            action="counter.payment_voided",
            target=payment,
            reason=reason,
            approved_by=supervisor.get_username(),
            till=till.pk,
        )
    return counter_payment


def record_card_write(
    *, counter_payment: CounterPayment, clerk, written: bool, write_ref: str = "", reason: str = ""
) -> CounterPayment:
    """The counter's card writer has written the top-up to the citizen's card (`written`), or failed to:
    phase 2 of the top-up (billing.topups). A failed write voids it and the till pays the cash back (the
    voided payment leaves the till's takings). Only the clerk of the still-open till that took it."""
    with transaction.atomic():
        till = _lock_clerks_till(till_id=counter_payment.till_id, clerk=clerk)
        payment = counter_payment.payment
        if written:
            topups.confirm_topup(
                payment=payment, source=TopUpSource.TERMINAL, write_ref=write_ref, actor=clerk
            )
        else:
            topups.void_topup(payment=payment, source=TopUpSource.TERMINAL, reason=reason, actor=clerk)
        record_audit(
            actor=clerk,
            action="counter.card_written" if written else "counter.card_write_failed",
            target=payment,
            till=till.pk,
            reason=reason,
        )
    return CounterPayment.objects.select_related("payment").get(pk=counter_payment.pk)


def refund_voided_topup(payment, hold) -> None:
    """The counter's refunder of a card top-up that was not written (billing.topups, registered in
    branches.apps): the cash goes back to the citizen from the till, so the payment is marked voided at
    the counter (its reversal already took it out of the till's takings). A till closed meanwhile (a
    timeout after the day's count) no longer holds the cash: the refund is recorded as owed, for the
    branch to pay the citizen back."""
    counter_payment = CounterPayment.objects.select_related("till").filter(payment=payment).first()
    if counter_payment is None or counter_payment.voided_at is not None:
        return
    counter_payment.voided_at = timezone.now()
    counter_payment.save(update_fields=["voided_at"])
    if counter_payment.till.status != TillStatus.OPEN:
        record_audit(
            actor=None,
            action="counter.topup_refund_owed",
            target=payment,
            till=counter_payment.till_id,
            branch=counter_payment.branch_id,
            amount=payment.amount,
        )


def parse_count(raw: dict) -> dict[int, int]:
    """{denomination in fen: how many}, refusing anything but whole numbers 0 or more."""
    counts = {}
    for fen in DENOMINATIONS_FEN:
        value = raw.get(fen, raw.get(str(fen), 0))
        text = str(value).strip() or "0"
        if not text.isdigit():
            raise CounterError("count_invalid")
        counts[fen] = int(text)
    return counts


def close_till(*, till_id: int, clerk, counts: dict, note: str = "") -> Till:
    """Close the clerk's till with a count by denomination. Expected cash is the float plus today's cash
    payments not voided; the variance (counted - expected) is kept on the till and, when not zero,
    posted to the ledger: the branch's cash against its cash over/short account."""
    note = (note or "").strip()
    counts = parse_count(counts)
    with transaction.atomic():
        till = _lock_clerks_till(till_id=till_id, clerk=clerk)
        expected = till.opening_float + selectors.till_takings(till)
        counted = quantize_money(sum((Decimal(fen) * qty for fen, qty in counts.items()), ZERO) * CENT)
        variance = counted - expected
        if variance != ZERO and not note:
            raise CounterError("variance_note_required", variance=format_money(variance))
        now = timezone.now()
        till.status = TillStatus.CLOSED
        till.closed_at = now
        till.expected_cash = expected
        till.counted_cash = counted
        till.variance = variance
        till.count = {str(fen): qty for fen, qty in counts.items()}
        till.close_note = note[:200]
        if variance != ZERO:
            till.variance_entry = ledger.post_entry(
                kind=EntryKind.ADJUSTMENT,
                lines=[
                    (ledger.collection_account(channel=Channel.COUNTER, branch=till.branch), variance),
                    (over_short_account(till.branch), -variance),
                ],
                business_date=timezone.localdate(now),
                memo=f"TILL-{till.pk} {note}",
                actor=clerk,
            )
        till.save()
        record_audit(
            actor=clerk,
            action="till.closed",
            target=till,
            reason=note,
            expected=expected,
            counted=counted,
            variance=variance,
        )
    return till


def over_short_account(branch: Branch) -> LedgerAccount:
    """Where a branch's till differences go (现金长短款): a shortage debits it, an overage credits it."""
    account, _ = LedgerAccount.objects.get_or_create(
        code=f"OVERSHORT:{branch.code}",
        defaults={
            "name": f"现金长短款 {branch.name}",
            "kind": LedgerAccountKind.CASH_IN_TILL,
            "branch": branch,
        },
    )
    return account
