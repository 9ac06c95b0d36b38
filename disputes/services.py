"""Writes of disputes: raised from any channel with one of the taxonomy's codes, answered, escalated when
overdue, closed; each change tells the payer (e-mail and/or SMS, after commit) and, for a partner's
dispute, the partner (an outbox event that api.webhooks turns into a signed webhook)."""

import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import access, outbox, roles
from billing.audit import record_audit
from billing.models import Biller, Payment
from billing.money import parse_amount
from billing.rules import normalize_account_no, normalize_code
from billing.transitions import transition
from disputes import deadlines, locks, selectors, taxonomy
from disputes.choices import (
    DISPUTE_TRANSITIONS,
    OPEN_STATUSES,
    DisputeChannel,
    DisputeStatus,
    Outcome,
    RefundState,
)
from disputes.exceptions import DisputeError, DisputeTransitionNotAllowed
from disputes.models import Dispute

# Platform staff who answer disputes (a biller answers its own through the biller API).
ANSWERING_ROLES = frozenset({roles.PLATFORM_ADMIN, roles.RECONCILIATION_OFFICER})
COUNTER_ROLES = frozenset({roles.BRANCH_CLERK, roles.BRANCH_SUPERVISOR})

EVENT_UPDATED = "dispute.updated"
EVENT_RESOLVED = "dispute.resolved"


def raise_dispute(
    *,
    channel: str,
    reason: str,
    receipt_no: str = "",
    source: str = "",
    user=None,
    actor=None,
    idempotency_key: str = "",
    biller_code: str = "",
    account_no: str = "",
    channel_ref: str = "",
    amount: Decimal | str | None = None,
    details: str = "",
    contact_name: str = "",
    contact_email: str = "",
    contact_phone: str = "",
    language: str = "",
) -> Dispute:
    """A dispute raised on `channel`: on a payment the channel may dispute (its own, the partner's own),
    or — for a reason that needs none — on a biller, or, for money taken at the channel without a payment
    (D11), on the channel's reference of that debit. Everything is checked before anything is written; a
    refusal writes nothing. A partner's second request with the same Idempotency-Key gets the first
    dispute back."""
    rule = taxonomy.reason((reason or "").strip().upper())
    if rule is None:
        raise DisputeError("dispute_reason_unknown", reason=reason, codes=", ".join(taxonomy.BY_CODE))
    if channel == DisputeChannel.COUNTER and not (access.roles_of(actor) & COUNTER_ROLES):
        raise DisputeError("dispute_no_permission")
    if language not in dict(settings.LANGUAGES):
        language = settings.LANGUAGE_CODE
    contact_email, contact_phone = (contact_email or "").strip(), (contact_phone or "").strip()[:30]
    if channel != DisputeChannel.PARTNER and not (contact_email or contact_phone):
        raise DisputeError("dispute_contact_required")
    payment = None
    if receipt_no:
        payment = selectors.disputable_payment(channel, receipt_no, source=source, user=user)
    elif rule.needs_payment:
        raise DisputeError("dispute_payment_required", reason=rule.code)
    if payment is not None:
        biller, account_no = payment.biller, payment.account.account_no if payment.account_id else ""
    else:
        biller = Biller.objects.filter(code=normalize_code(biller_code or "")).first()
        if biller is None:
            raise DisputeError("dispute_biller_required")
        account_no = normalize_account_no(account_no or "")
    if rule.auto_debit and payment is None and channel == DisputeChannel.COUNTER:
        # Cash is counted at the till: no channel took money the platform could have missed.
        raise DisputeError("dispute_debit_not_at_counter", reason=rule.code)
    parsed_amount = parse_amount(amount) if amount not in (None, "") else None
    channel_ref = (channel_ref or "").strip()[:64]
    if rule.auto_debit and payment is None and not (account_no and parsed_amount and channel_ref):
        raise DisputeError("dispute_debit_details_required", reason=rule.code)
    if idempotency_key:
        earlier = Dispute.objects.filter(
            channel=channel, source=source, idempotency_key=idempotency_key
        ).first()
        if earlier is not None:
            return _replay(earlier, reason=rule.code, payment=payment, channel_ref=channel_ref)
    now = timezone.now()
    try:
        with transaction.atomic():
            dispute = Dispute.objects.create(
                reason=rule.code,
                category=rule.category,
                answerer=rule.answerer,
                channel=channel,
                source=source,
                idempotency_key=idempotency_key,
                payment=payment,
                biller=biller,
                account_no=account_no,
                channel_ref=channel_ref,
                amount=parsed_amount if parsed_amount is not None else getattr(payment, "amount", None),
                details=(details or "")[:4000],
                contact_name=(contact_name or "")[:60],
                contact_email=contact_email,
                contact_phone=contact_phone,
                language=language,
                payer_user=user if channel == DisputeChannel.PORTAL else None,
                raised_by=actor if getattr(actor, "pk", None) else None,
                raised_at=now,
                due_at=deadlines.due_at(rule.code, now),
            )
            record_audit(
                actor=actor,
                action="dispute.raised",
                target=dispute,
                reason=rule.code,
                channel=channel,
                source=source,
                receipt_no=getattr(payment, "receipt_no", ""),
            )
            _told(dispute, EVENT_UPDATED, "raised")
    except IntegrityError:
        # The same key raced us (unique channel + source + key): the winner's dispute is the answer.
        earlier = Dispute.objects.filter(
            channel=channel, source=source, idempotency_key=idempotency_key
        ).first()
        if not idempotency_key or earlier is None:
            raise
        return _replay(earlier, reason=rule.code, payment=payment, channel_ref=channel_ref)
    return dispute


def _replay(earlier: Dispute, *, reason: str, payment: Payment | None, channel_ref: str) -> Dispute:
    same = (
        earlier.reason == reason
        and earlier.payment_id == getattr(payment, "pk", None)
        and earlier.channel_ref == channel_ref
    )
    if not same:
        raise DisputeError("dispute_key_reused", key=earlier.idempotency_key, ref=earlier.ref)
    return earlier


def _transition(dispute: Dispute, target: str) -> None:
    transition(
        dispute, target, table=DISPUTE_TRANSITIONS, choices=DisputeStatus, error=DisputeTransitionNotAllowed
    )


def _require_open(dispute: Dispute) -> None:
    if dispute.status not in OPEN_STATUSES:
        raise DisputeError("dispute_closed", ref=dispute.ref, status=dispute.get_status_display())


def answer_dispute(*, dispute: Dispute, answer: str, actor=None, biller: Biller | None = None) -> Dispute:
    """The answer that resolves a dispute: by the biller (only one it answers, about itself) or by
    platform staff (any)."""
    if biller is None and not (access.roles_of(actor) & ANSWERING_ROLES):
        raise DisputeError("dispute_no_permission")
    answer = (answer or "").strip()
    if not answer:
        raise DisputeError("dispute_answer_required")
    with transaction.atomic():
        dispute = locks.lock_dispute(dispute.pk)
        if biller is not None and (
            dispute.biller_id != biller.pk or dispute.answerer != taxonomy.Answerer.BILLER
        ):
            raise DisputeError(
                "dispute_not_biller_answer", ref=dispute.ref, answerer=dispute.get_answerer_display()
            )
        _require_open(dispute)
        _resolve_locked(
            dispute,
            outcome=Outcome.ANSWERED,
            answer=answer[:4000],
            actor=actor,
            by=biller.code if biller is not None else "platform",
        )
    return dispute


def resolve_from_reconciliation(
    *, dispute: Dispute, outcome: str, answer: str, payment: Payment | None = None
) -> None:
    """Reconciliation's own resolution of a disputed debit (the caller holds the dispute's lock)."""
    dispute.resolution_payment = payment
    _resolve_locked(dispute, outcome=outcome, answer=answer, actor=None, by="reconciliation")


def require_refund(
    *, dispute: Dispute, debit_ref: str, debit_order_no: str = "", refund_ref: str = "", answer: str
) -> None:
    """Reconciliation's decision on a disputed debit the bill cannot take (the caller holds the dispute's
    lock): the money goes back to the payer. The dispute stays open, its refund pending, until the
    refund is seen done (`refund_done`) or the partner closes it with its refund reference; the partner
    gets `dispute.resolved` with the outcome `refund_required` and the amount, the payer is told."""
    dispute.outcome = Outcome.REFUND_REQUIRED
    dispute.answer = answer
    dispute.refund_state = RefundState.PENDING
    dispute.debit_ref = debit_ref[:64]
    dispute.debit_order_no = debit_order_no[:128]
    dispute.refund_ref = refund_ref[:64]
    dispute.save(
        update_fields=["outcome", "answer", "refund_state", "debit_ref", "debit_order_no", "refund_ref"]
    )
    record_audit(
        actor=None,
        action="dispute.refund_required",
        target=dispute,
        reason=answer,
        amount=dispute.amount,
        refund_ref=refund_ref,
    )
    _told(dispute, EVENT_RESOLVED, "refund_pending")


def refund_done(*, dispute: Dispute, refund_ref: str, answer: str) -> None:
    """The refund of a disputed debit is seen done (the gateway confirmed it, or the channel's statement
    carries it): the dispute is resolved as refunded (the caller holds the dispute's lock)."""
    dispute.refund_state = RefundState.REFUNDED
    dispute.refund_ref = refund_ref[:64]
    dispute.save(update_fields=["refund_state", "refund_ref"])
    _resolve_locked(dispute, outcome=Outcome.REFUNDED, answer=answer, actor=None, by="reconciliation")


def _resolve_locked(dispute: Dispute, *, outcome: str, answer: str, actor, by: str) -> None:
    _transition(dispute, DisputeStatus.RESOLVED)
    dispute.outcome = outcome
    dispute.answer = answer
    dispute.resolved_at = timezone.now()
    dispute.save(update_fields=["status", "outcome", "answer", "resolved_at", "resolution_payment"])
    record_audit(
        actor=actor, action="dispute.resolved", target=dispute, reason=answer, outcome=outcome, by=by
    )
    _told(dispute, EVENT_RESOLVED, "resolved")


def close_dispute(*, dispute: Dispute, actor=None, note: str = "", refund_ref: str = "") -> Dispute:
    """Whoever raised it closes it: withdrawn while open, or accepted once resolved. A partner's disputed
    debit whose refund is pending at the partner closes only with the partner's refund reference: the
    money is back with the payer (refunded), not withdrawn."""
    refund_ref = (refund_ref or "").strip()[:64]
    with transaction.atomic():
        dispute = locks.lock_dispute(dispute.pk)
        if dispute.status == DisputeStatus.CLOSED:
            return dispute  # closing twice is the same close
        refunding = dispute.refund_state == RefundState.PENDING and dispute.status in OPEN_STATUSES
        if refunding and dispute.channel == DisputeChannel.PARTNER and not refund_ref:
            raise DisputeError("dispute_refund_ref_required", ref=dispute.ref)
        withdrawn = dispute.status in OPEN_STATUSES
        _transition(dispute, DisputeStatus.CLOSED)
        if refunding and refund_ref:
            dispute.outcome = Outcome.REFUNDED
            dispute.refund_state = RefundState.REFUNDED
            dispute.refund_ref = refund_ref
        elif withdrawn:
            dispute.outcome = Outcome.WITHDRAWN
        dispute.closed_at = timezone.now()
        dispute.save(update_fields=["status", "outcome", "closed_at", "refund_state", "refund_ref"])
        record_audit(
            actor=actor,
            action="dispute.closed",
            target=dispute,
            reason=(note or "")[:200],
            refund_ref=refund_ref,
        )
        _told(dispute, EVENT_UPDATED, "closed")
    return dispute


def escalate_overdue(*, now: datetime.datetime | None = None) -> list[int]:
    """Every open dispute whose answer is past due is escalated (once): the staff home counts it, the
    payer and the partner are told."""
    escalated = []
    for dispute_id in selectors.overdue_dispute_ids(now):
        with transaction.atomic():
            dispute = locks.lock_dispute(dispute_id)
            if dispute.status != DisputeStatus.OPEN:
                continue
            _transition(dispute, DisputeStatus.ESCALATED)
            dispute.escalated_at = timezone.now()
            dispute.save(update_fields=["status", "escalated_at"])
            record_audit(
                actor=None,
                action="dispute.escalated",
                target=dispute,
                reason=dispute.reason,
                due=dispute.due_at,
            )
            _told(dispute, EVENT_UPDATED, "escalated")
        escalated.append(dispute_id)
    return escalated


def event_payload(dispute: Dispute) -> dict:
    """What the partner's webhook and the APIs show of a dispute."""
    return {
        "ref": dispute.ref,
        "reason": dispute.reason,
        "category": dispute.category,
        "answered_by": dispute.answerer,
        "channel": dispute.channel,
        "partner_code": dispute.source if dispute.channel == DisputeChannel.PARTNER else "",
        "status": dispute.status,
        "outcome": dispute.outcome,
        "answer": dispute.answer,
        "receipt_no": dispute.payment.receipt_no if dispute.payment_id else "",
        "resolution_receipt_no": dispute.resolution_payment.receipt_no
        if dispute.resolution_payment_id
        else "",
        "biller_code": dispute.biller.code,
        "account_no": dispute.account_no,
        "channel_ref": dispute.channel_ref,
        "amount": outbox.money(dispute.amount) if dispute.amount is not None else None,
        # A disputed debit returned to the payer: "pending" (at the channel), then "refunded".
        "refund_state": dispute.refund_state,
        "refund_ref": dispute.refund_ref,
        "refund_amount": outbox.money(dispute.amount)
        if dispute.refund_state and dispute.amount is not None
        else None,
        "raised_at": dispute.raised_at,
        "due_at": dispute.due_at,
        "resolved_at": dispute.resolved_at,
        "closed_at": dispute.closed_at,
    }


def _told(dispute: Dispute, event_type: str, what: str) -> None:
    """In the transaction that changed the dispute: its outbox event (a partner's webhook) and, after
    commit, the payer's notice."""
    if dispute.channel == DisputeChannel.PARTNER:
        outbox.record(
            type=event_type, aggregate_type="dispute", aggregate_id=dispute.pk, payload=event_payload(dispute)
        )
    if dispute.contact_email or dispute.contact_phone:
        dispute_id = dispute.pk

        def send():
            from disputes.tasks import notify_payer

            notify_payer.delay(dispute_id, what)

        transaction.on_commit(send)
