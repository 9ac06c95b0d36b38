"""The audit trail: every service that changes domain state records who, what, when and why here."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from billing.models import AuditEvent


def record_audit(*, actor, action: str, target: models.Model, reason: str = "", **data: object) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:200],
        reason=reason[:500],
        data={key: str(value) for key, value in data.items()},
    )


# What each audit action code means, for people reading the trail (the admin's audit list). The code stays
# the stable key in the database and in exports; a code not listed here is shown as it is.
ACTION_LABELS = {
    "account.bound": _("Account bound"),
    "account.reminders_set": _("Reminders set"),
    "account.unbound": _("Account unbound"),
    "admin.added": _("Added in the back office"),
    "admin.changed": _("Changed in the back office"),
    "admin.deleted": _("Deleted in the back office"),
    "admin.password_changed": _("Password changed"),
    "api.biller_access_changed": _("API biller access changed"),
    "api.biller_access_created": _("API biller access created"),
    "api.credential_issued": _("API credential issued"),
    "api.credential_revoked": _("API credential revoked"),
    "api.credential_rotated": _("API credential rotated"),
    "bill.cancelled": _("Bill cancelled"),
    "biller.status_changed": _("Biller status changed"),
    "biller.late_fee_rule_set": _("Late-fee rule set"),
    "bill.instalments_offered": _("Instalments offered"),
    "bills.imported": _("Bills imported"),
    "failed_task.retried": _("Failed task sent again"),
    "presentment.confirmed": _("Confirmed by the biller"),
    "presentment.failed": _("Could not be confirmed with the biller"),
    "presentment.link_saved": _("Biller system link saved"),
    "presentment.posted_under_stand_in": _("Posted while the biller's system was down"),
    "presentment.rejected": _("Rejected by the biller and reversed"),
    "branch.closure_cancelled": _("Outlet closure cancelled"),
    "branch.closure_planned": _("Outlet closure planned"),
    "branch.imported": _("Outlets imported"),
    "branch.status_changed": _("Outlet status changed"),
    "complaint.assigned": _("Complaint assigned"),
    "complaint.discrepancy_resolved": _("Complaint's discrepancy resolved"),
    "complaint.escalated": _("Complaint escalated"),
    "complaint.logged": _("Complaint logged"),
    "complaint.resolved": _("Complaint resolved"),
    "counter.cash_taken": _("Cash taken at the counter"),
    "counter.payment_voided": _("Counter payment voided"),
    "coverage.alert_raised": _("Coverage alert raised"),
    "coverage.alert_resolved": _("Coverage alert resolved"),
    "discrepancy.assigned": _("Discrepancy assigned"),
    "discrepancy.complaint_resolved": _("Discrepancy resolved by a complaint"),
    "discrepancy.resolved": _("Discrepancy resolved"),
    "discrepancy.write_off_rejected": _("Write-off rejected"),
    "discrepancy.write_off_requested": _("Write-off requested"),
    "fee_schedule.set": _("Fee schedule set"),
    "login.unlocked": _("Login unlocked"),
    "order.created": _("Order created"),
    "payer.language_set": _("Preferred language set"),
    "order.expired": _("Order expired"),
    "order.notification_duplicate": _("Duplicate payment notification"),
    "order.notification_refused": _("Payment notification refused"),
    "order_line.refund_retried": _("Refund retried"),
    "order_line.refund_attempt_failed": _("Refund attempt failed, tried again later"),
    "partner.changed": _("Partner changed"),
    "partner.payment_reversed": _("Partner payment reversed"),
    "partner.payment_taken": _("Partner payment taken"),
    "partner.status_changed": _("Partner status changed"),
    "payment.reversed": _("Payment reversed"),
    "proxy_batch.checkout": _("Proxy batch sent to payment"),
    "proxy_batch.uploaded": _("Proxy batch uploaded"),
    "receipt_bundle.requested": _("Receipt bundle requested"),
    "reconciliation.cash_matched": _("Cash matched"),
    "reconciliation.matched": _("Payments matched"),
    "settlement.built": _("Settlement built"),
    "settlement.confirmed": _("Settlement confirmed"),
    "settlement.day_settled": _("Day settled"),
    "settlement.money_overdue": _("Settleable money overdue"),
    "statement.imported": _("Statement imported"),
    "till.closed": _("Till closed"),
    "till.opened": _("Till opened"),
}


def action_label(code: str) -> str:
    """The readable name of an audit action code, in the user's language; the code itself when unnamed."""
    return str(ACTION_LABELS.get(code, code))
