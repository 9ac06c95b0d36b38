"""What the payer is told about their dispute, wholly in the language they raised it in: an e-mail and/or
a text message, sent by the portal's message tasks (retried with backoff, then a FailedTask)."""

from django.utils import timezone, translation
from django.utils.translation import gettext

from billing.audit import record_audit
from disputes.models import Dispute


def notice(dispute: Dispute, what: str) -> tuple[str, str]:
    with translation.override(dispute.language):
        subject = {
            "raised": gettext("We have your dispute %(ref)s"),
            "escalated": gettext("Your dispute %(ref)s is taking longer: it has been escalated"),
            "resolved": gettext("Your dispute %(ref)s is resolved"),
            "closed": gettext("Your dispute %(ref)s is closed"),
            "refund_pending": gettext("Your money for dispute %(ref)s is being returned"),
        }[what] % {"ref": dispute.ref}
        lines = [
            gettext("Dispute %(ref)s: %(reason)s.") % {"ref": dispute.ref, "reason": dispute.reason_label},
        ]
        if what == "raised":
            lines.append(
                gettext("We will answer by %(due)s.")
                % {"due": timezone.localtime(dispute.due_at).strftime("%Y-%m-%d %H:%M")}
            )
        if what == "refund_pending":
            lines.append(
                gettext("%(amount)s will be returned to you the way you paid. %(answer)s")
                % {"amount": f"¥{dispute.amount:.2f}", "answer": dispute.answer}
            )
        if what == "resolved":
            lines.append(f"{dispute.get_outcome_display()}. {dispute.answer}")
        return subject, "\n".join(lines) + "\n"


def send(dispute_id: int, what: str) -> None:
    from payers.tasks import send_email, send_text_message

    dispute = Dispute.objects.select_related("biller").get(pk=dispute_id)
    subject, body = notice(dispute, what)
    if dispute.contact_email:
        send_email.delay(subject, body, [dispute.contact_email])
    if dispute.contact_phone:
        send_text_message.delay(dispute.contact_phone, f"{subject}. {body}")
    record_audit(
        actor=None,
        action=f"dispute.notified_{what}",
        target=dispute,
        to=", ".join(filter(None, (dispute.contact_email, dispute.contact_phone))),
    )
