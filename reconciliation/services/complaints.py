"""Complaints: a citizen's complaint about a payment, linked to its discrepancies, answered by e-mail."""

import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext

from billing.audit import record_audit
from billing.models import Payment
from billing.rules import normalize_code
from billing.transitions import transition
from reconciliation import locks
from reconciliation.choices import (
    COMPLAINT_TRANSITIONS,
    ComplaintStatus,
    DiscrepancyStatus,
)
from reconciliation.exceptions import (
    ReconciliationError,
    ReconciliationTransitionNotAllowed,
)
from reconciliation.models import (
    Complaint,
    Discrepancy,
    ReconciliationRun,
)
from reconciliation.services.staff import _require_recon_staff


def raise_complaint(
    *,
    receipt_no: str,
    reason: str,
    contact_name: str,
    contact_email: str = "",
    contact_phone: str = "",
    details: str = "",
    language: str = "",
    actor=None,
) -> Complaint:
    """A citizen's complaint about a payment; every answer to it is written in `language`, the one they
    complained in (the site's when not given)."""
    receipt_no = normalize_code(receipt_no)
    if language not in dict(settings.LANGUAGES):
        language = settings.LANGUAGE_CODE
    payment = Payment.objects.filter(receipt_no=receipt_no).first()
    if payment is None:
        raise ReconciliationError("receipt_unknown", receipt_no=receipt_no)
    if not (contact_email or "").strip() and not (contact_phone or "").strip():
        raise ReconciliationError("contact_required")
    now = timezone.now()
    with transaction.atomic():
        complaint = Complaint.objects.create(
            payment=payment,
            reason=reason,
            details=details[:4000],
            contact_name=contact_name[:60],
            contact_email=contact_email.strip(),
            contact_phone=contact_phone.strip()[:30],
            language=language,
            due_at=now + datetime.timedelta(hours=settings.RECON_COMPLAINT_RESPONSE_HOURS),
            created_at=now,
        )
        complaint.discrepancies.set(
            Discrepancy.objects.filter(Q(payment=payment) | Q(resolution_payment=payment)).exclude(
                status=DiscrepancyStatus.RESOLVED
            )
        )
        record_audit(
            actor=actor, action="complaint.logged", target=complaint, reason=reason, receipt_no=receipt_no
        )
        _notify(complaint, "logged")
    return complaint


def _link_complaints_to_new_discrepancies(run: ReconciliationRun) -> None:
    """A complaint raised before the statement arrived gets the discrepancies found on its payment."""
    open_complaints = Complaint.objects.exclude(status=ComplaintStatus.RESOLVED).filter(
        payment__in=Discrepancy.objects.filter(run=run).values("payment_id")
    )
    for complaint in open_complaints:
        complaint.discrepancies.add(*Discrepancy.objects.filter(run=run, payment=complaint.payment_id))


def _complaint_transition(complaint: Complaint, target: str) -> None:
    transition(
        complaint,
        target,
        table=COMPLAINT_TRANSITIONS,
        choices=ComplaintStatus,
        error=ReconciliationTransitionNotAllowed,
    )


def assign_complaint(*, complaint: Complaint, assignee, actor) -> Complaint:
    _require_recon_staff(actor)
    with transaction.atomic():
        complaint = locks.lock_complaint(complaint.pk)
        _complaint_transition(complaint, ComplaintStatus.ASSIGNED)
        complaint.assignee = assignee
        complaint.save(update_fields=["status", "assignee"])
        record_audit(
            actor=actor, action="complaint.assigned", target=complaint, assignee=assignee.get_username()
        )
    return complaint


def escalate_complaint(*, complaint: Complaint, actor, note: str) -> Complaint:
    _require_recon_staff(actor)
    if not (note or "").strip():
        raise ReconciliationError("note_required")
    with transaction.atomic():
        complaint = locks.lock_complaint(complaint.pk)
        _complaint_transition(complaint, ComplaintStatus.ESCALATED)
        complaint.save(update_fields=["status"])
        record_audit(actor=actor, action="complaint.escalated", target=complaint, reason=note)
    return complaint


def resolve_complaint(*, complaint: Complaint, outcome: str, actor) -> Complaint:
    _require_recon_staff(actor)
    if not (outcome or "").strip():
        raise ReconciliationError("outcome_required")
    with transaction.atomic():
        complaint = locks.lock_complaint(complaint.pk)
        _resolve_complaint_locked(complaint, outcome=outcome.strip(), actor=actor)
        for discrepancy in complaint.discrepancies.exclude(status=DiscrepancyStatus.RESOLVED):
            record_audit(
                actor=actor,
                action="discrepancy.complaint_resolved",
                target=discrepancy,
                reason=outcome,
                complaint=complaint.pk,
            )
    return complaint


def _resolve_complaint_locked(complaint: Complaint, *, outcome: str, actor, resolution: str = "") -> None:
    """Close the complaint with the officer's words; `resolution` names the workbench action that closed
    its discrepancy, told to the citizen in their own language when they are written to."""
    _complaint_transition(complaint, ComplaintStatus.RESOLVED)
    complaint.outcome = outcome
    complaint.outcome_resolution = resolution
    complaint.resolved_at = timezone.now()
    complaint.save(update_fields=["status", "outcome", "outcome_resolution", "resolved_at"])
    record_audit(actor=actor, action="complaint.resolved", target=complaint, reason=outcome)
    _notify(complaint, "resolved")


def _notify(complaint: Complaint, event: str) -> None:
    """Tell the citizen, after the commit (an e-mail; the demo's backend prints it)."""
    if not complaint.contact_email:
        return
    complaint_id = complaint.pk

    def send():
        from reconciliation.tasks import send_complaint_notice

        send_complaint_notice.delay(complaint_id, event)

    transaction.on_commit(send)


def complaint_notice(complaint: Complaint, event: str) -> tuple[str, str]:
    """The e-mail about the complaint, wholly in the language the citizen complained in."""
    with translation.override(complaint.language):
        return _complaint_notice(complaint, event)


def _complaint_notice(complaint: Complaint, event: str) -> tuple[str, str]:
    if event == "logged":
        subject = gettext("We have your complaint C%(id)s") % {"id": complaint.pk}
        body = gettext(
            "Dear %(name)s,\n\nWe have logged your complaint about payment %(receipt)s (%(reason)s). "
            "We will answer by %(due)s.\n"
        ) % {
            "name": complaint.contact_name,
            "receipt": complaint.payment.receipt_no,
            "reason": complaint.get_reason_display(),
            "due": timezone.localtime(complaint.due_at).strftime("%Y-%m-%d %H:%M"),
        }
    else:
        subject = gettext("Your complaint C%(id)s is resolved") % {"id": complaint.pk}
        body = gettext(
            "Dear %(name)s,\n\nYour complaint about payment %(receipt)s is resolved.\n\n%(outcome)s\n"
        ) % {
            "name": complaint.contact_name,
            "receipt": complaint.payment.receipt_no,
            "outcome": complaint.outcome_told,
        }
    return subject, body


def send_notice(complaint_id: int, event: str) -> None:
    complaint = Complaint.objects.select_related("payment").get(pk=complaint_id)
    subject, body = complaint_notice(complaint, event)
    send_mail(subject, body, None, [complaint.contact_email])
    record_audit(
        actor=None, action=f"complaint.notified_{event}", target=complaint, to=complaint.contact_email
    )
