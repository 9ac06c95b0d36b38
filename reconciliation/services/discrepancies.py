"""Discrepancies: assigned, resolved by an action that keeps the ledger balanced; a write-off takes two
people."""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from billing import ledger
from billing.audit import record_audit
from billing.choices import Channel
from billing.money import ZERO
from billing.money_log import log_money_action
from billing.rules import normalize_account_no, normalize_code
from billing.services import post_payment, reverse_payment
from billing.transitions import transition
from reconciliation import locks
from reconciliation.choices import (
    ALLOWED_RESOLUTIONS,
    DISCREPANCY_TRANSITIONS,
    ComplaintStatus,
    DiscrepancyStatus,
    LineKind,
    MatchClass,
    Resolution,
)
from reconciliation.exceptions import (
    ReconciliationError,
    ReconciliationTransitionNotAllowed,
)
from reconciliation.models import (
    Discrepancy,
)
from reconciliation.services.channel_codes import parse_channel_code
from reconciliation.services.complaints import _resolve_complaint_locked
from reconciliation.services.staff import _require_recon_staff


def _transition(discrepancy: Discrepancy, target: str) -> None:
    transition(
        discrepancy,
        target,
        table=DISCREPANCY_TRANSITIONS,
        choices=DiscrepancyStatus,
        error=ReconciliationTransitionNotAllowed,
    )


def _lock_discrepancy(pk: int) -> Discrepancy:
    return locks.lock_discrepancy(pk)


def assign_discrepancy(*, discrepancy: Discrepancy, assignee, actor) -> Discrepancy:
    _require_recon_staff(actor)
    _require_recon_staff(assignee)
    with transaction.atomic():
        discrepancy = _lock_discrepancy(discrepancy.pk)
        if discrepancy.status == DiscrepancyStatus.RESOLVED:
            raise ReconciliationError("discrepancy_closed", id=discrepancy.pk)
        if discrepancy.status != DiscrepancyStatus.AWAITING_APPROVAL:
            _transition(discrepancy, DiscrepancyStatus.ASSIGNED)
        discrepancy.assignee = assignee
        discrepancy.save(update_fields=["status", "assignee"])
        record_audit(
            actor=actor, action="discrepancy.assigned", target=discrepancy, assignee=assignee.get_username()
        )
    return discrepancy


def allowed_resolutions(discrepancy: Discrepancy) -> tuple[str, ...]:
    """The actions that fit the discrepancy: its class's, narrowed by what it concerns."""
    if discrepancy.till_id is not None:
        return (Resolution.ACCEPT_VARIANCE,) if discrepancy.till.variance_entry_id else ()
    actions = [a for a in ALLOWED_RESOLUTIONS[discrepancy.klass] if a != Resolution.ACCEPT_VARIANCE]
    if discrepancy.payment_id is None:
        actions = [a for a in actions if a not in (Resolution.REVERSE_OURS, Resolution.RECORD_REFUND)]
    if discrepancy.line_id is None or discrepancy.line.kind != LineKind.PAYMENT:
        actions = [a for a in actions if a != Resolution.POST_MISSING]
    if parse_channel_code(discrepancy.channel_code).channel == Channel.AGENT:
        # A float transfer is not a payment (services.agent_topups): nothing to post for a biller.
        actions = [a for a in actions if a != Resolution.POST_MISSING]
    return tuple(actions)


def write_off_amount(discrepancy: Discrepancy) -> Decimal:
    """How far the channel's clearing account must move (debit positive) to agree with the channel."""
    line_amount = discrepancy.line_amount or ZERO
    payment_amount = discrepancy.payment_amount or ZERO
    refund_line = discrepancy.line_id is not None and discrepancy.line.kind == LineKind.REFUND
    if discrepancy.klass == MatchClass.STATUS_MISMATCH:
        return -line_amount if refund_line else line_amount
    difference = line_amount - payment_amount
    return -difference if refund_line else difference


def resolve_discrepancy(
    *,
    discrepancy: Discrepancy,
    action: str,
    note: str,
    actor,
    biller_code: str = "",
    account_no: str = "",
) -> Discrepancy:
    """Close a discrepancy with an action that keeps the ledger balanced. A write-off is only asked for
    here; a second person approves it (`approve_write_off`)."""
    _require_recon_staff(actor)
    note = (note or "").strip()
    if not note:
        raise ReconciliationError("note_required")
    with transaction.atomic():
        discrepancy = _lock_discrepancy(discrepancy.pk)
        if discrepancy.status == DiscrepancyStatus.RESOLVED:
            raise ReconciliationError("discrepancy_closed", id=discrepancy.pk)
        if action not in allowed_resolutions(discrepancy):
            raise ReconciliationError(
                "not_resolvable",
                klass=MatchClass(discrepancy.klass).label,
                action=Resolution(action).label if action in Resolution.values else action,
            )
        if action == Resolution.ACCEPT_VARIANCE:
            # The till's close already posted its over/short entry: the ledger is balanced by it.
            discrepancy.resolution_entry = discrepancy.till.variance_entry
            _close(discrepancy, action=action, note=note, actor=actor, till=discrepancy.till_id)
            return discrepancy
        code = parse_channel_code(discrepancy.channel_code)
        if action == Resolution.WRITE_OFF:
            if write_off_amount(discrepancy) == ZERO:
                raise ReconciliationError("nothing_to_difference")
            _transition(discrepancy, DiscrepancyStatus.AWAITING_APPROVAL)
            discrepancy.write_off_requested_by = actor
            discrepancy.resolution_note = note
            discrepancy.save(update_fields=["status", "write_off_requested_by", "resolution_note"])
            record_audit(
                actor=actor,
                action="discrepancy.write_off_requested",
                target=discrepancy,
                reason=note,
                amount=write_off_amount(discrepancy),
            )
            return discrepancy
        if action == Resolution.POST_MISSING:
            line = discrepancy.line
            biller_code = normalize_code(biller_code or line.biller_code)
            account_no = normalize_account_no(account_no or line.account_no)
            if not biller_code or not account_no:
                raise ReconciliationError("post_missing_needs_account")
            result = post_payment(
                channel=code.channel,
                idempotency_key=code.posting_key(line),
                biller_code=biller_code,
                account_no=account_no,
                amount=line.amount,
                channel_ref=line.channel_ref,
                actor=actor,
            )
            discrepancy.resolution_payment = result.payment
            discrepancy.resolution_entry = result.payment.journal_entries.order_by("id").first()
            discrepancy.biller_id = result.payment.biller_id
        else:  # reverse ours, or record the refund the channel made
            payment = reverse_payment(payment=discrepancy.payment, actor=actor, reason=note)
            discrepancy.resolution_entry = payment.journal_entries.order_by("-id").first()
        _close(discrepancy, action=action, note=note, actor=actor)
    return discrepancy


def approve_write_off(*, discrepancy: Discrepancy, actor, note: str = "") -> Discrepancy:
    _require_recon_staff(actor)
    with transaction.atomic():
        discrepancy = _lock_discrepancy(discrepancy.pk)
        if discrepancy.status != DiscrepancyStatus.AWAITING_APPROVAL:
            raise ReconciliationError("write_off_not_requested", id=discrepancy.pk)
        if discrepancy.write_off_requested_by_id == actor.pk:
            raise ReconciliationError("write_off_second_person", user=actor.get_username())
        code = parse_channel_code(discrepancy.channel_code)
        amount = write_off_amount(discrepancy)
        entry = ledger.post_write_off_entry(
            channel=code.channel,
            branch=discrepancy.run.branch,
            amount=amount,
            business_date=timezone.localdate(),
            memo=f"D{discrepancy.pk} {discrepancy.channel_code} {discrepancy.business_date}",
            actor=actor,
        )
        discrepancy.resolution_entry = entry
        log_money_action(
            "write_off",
            amount=amount,
            channel=code.channel,
            discrepancy_id=discrepancy.pk,
            entry_id=entry.pk,
            branch_id=getattr(discrepancy.run.branch, "pk", None),
        )
        full_note = discrepancy.resolution_note + (f"\n{note.strip()}" if note.strip() else "")
        _close(discrepancy, action=Resolution.WRITE_OFF, note=full_note, actor=actor, amount=amount)
    return discrepancy


def reject_write_off(*, discrepancy: Discrepancy, actor, note: str) -> Discrepancy:
    _require_recon_staff(actor)
    if not (note or "").strip():
        raise ReconciliationError("note_required")
    with transaction.atomic():
        discrepancy = _lock_discrepancy(discrepancy.pk)
        if discrepancy.status != DiscrepancyStatus.AWAITING_APPROVAL:
            raise ReconciliationError("write_off_not_requested", id=discrepancy.pk)
        _transition(discrepancy, DiscrepancyStatus.ASSIGNED)
        discrepancy.assignee = discrepancy.write_off_requested_by
        discrepancy.write_off_requested_by = None
        discrepancy.save(update_fields=["status", "assignee", "write_off_requested_by"])
        record_audit(actor=actor, action="discrepancy.write_off_rejected", target=discrepancy, reason=note)
    return discrepancy


def _close(discrepancy: Discrepancy, *, action: str, note: str, actor, **data) -> None:
    _transition(discrepancy, DiscrepancyStatus.RESOLVED)
    discrepancy.resolution = action
    discrepancy.resolution_note = note
    discrepancy.resolved_by = actor
    discrepancy.resolved_at = timezone.now()
    discrepancy.save()
    record_audit(
        actor=actor,
        action="discrepancy.resolved",
        target=discrepancy,
        reason=note,
        resolution=action,
        journal_entry=discrepancy.resolution_entry_id,
        **data,
    )
    for complaint in locks.lock_open_complaints_of(discrepancy, resolved=ComplaintStatus.RESOLVED):
        open_left = complaint.discrepancies.exclude(status=DiscrepancyStatus.RESOLVED).exclude(
            pk=discrepancy.pk
        )
        record_audit(
            actor=actor, action="complaint.discrepancy_resolved", target=complaint, discrepancy=discrepancy.pk
        )
        if not open_left.exists():
            # The action is told in the citizen's language when they are written to (Complaint.outcome_told).
            _resolve_complaint_locked(complaint, outcome=note, actor=actor, resolution=action)
