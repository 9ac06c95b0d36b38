"""The audit trail: every service that changes domain state records who, what, when and why here."""

import json
from dataclasses import dataclass, field

from django.db import connection, models
from django.utils.translation import gettext_lazy as _

from billing.models import AuditEvent
from billing.plain_sql import mark_saved

# One plain statement: every payment through the partner API writes a row, and the ORM's insert cost more
# Python than its round trip (docs/benchmarks.md, "Partner API").
# The columns an audit row is written with, here and in the posting's own statement (billing.posting).
INSERT_INTO_SQL = """INSERT INTO billing_auditevent
    (created_at, actor_id, action, target_type, target_id, target_repr, reason, data)"""
_INSERT_SQL = INSERT_INTO_SQL + "\nVALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb) RETURNING id"


def stored_reason(reason: str) -> str:
    return reason[:500]


def stored_data(data: dict[str, object]) -> dict[str, str]:
    """The audit row's data: each value as text (amounts, dates and ids read back as written)."""
    return {key: str(value) for key, value in data.items()}


def record_audit(*, actor, action: str, target: models.Model, reason: str = "", **data: object) -> AuditEvent:
    event = audit_event(actor=actor, action=action, target=target, reason=reason, **data)
    values = [event.created_at, event.actor_id, event.action, event.target_type, event.target_id]
    values += [event.target_repr, event.reason, json.dumps(event.data)]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, values)
        (event.pk,) = cursor.fetchone()
    mark_saved(event)
    return event


@dataclass(frozen=True)
class PaymentAudit:
    """The audit row of a new payment, passed to `services.post_payment(audit=...)`: the posting's own
    statement writes it (billing.posting), in the payment's transaction and without a round trip of its own;
    a replayed payment writes none. Its actor is the payment's."""

    action: str
    data: dict[str, object] = field(default_factory=dict)
    reason: str = ""

    def reason_text(self) -> str:
        return stored_reason(self.reason)

    def data_json(self) -> str:
        return json.dumps(stored_data(self.data))


def audit_event(*, actor, action: str, target: models.Model, reason: str = "", **data: object) -> AuditEvent:
    """The unsaved row `record_audit` writes, for a service that audits many objects with one
    `AuditEvent.objects.bulk_create` (a day's settlement)."""
    return AuditEvent(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:200],
        reason=stored_reason(reason),
        data=stored_data(data),
    )


# What each audit action code means, for people reading the trail (the admin's audit list). The code stays
# the stable key in the database and in exports; a code not listed here is shown as it is.
ACTION_LABELS = {
    "family.accepted": _("Family payment invitation accepted"),
    "family.checkout": _("Paid by a family member"),
    "family.ended": _("Family payment ended"),
    "family.invited": _("Family member invited"),
    "mandate.created": _("Auto-pay set up"),
    "mandate.changed": _("Auto-pay changed"),
    "mandate.active": _("Auto-pay active"),
    "mandate.paused": _("Auto-pay paused"),
    "mandate.cancelled": _("Auto-pay cancelled"),
    "mandate.expired": _("Auto-pay expired"),
    "mandate_debit.scheduled": _("Auto-pay debit scheduled"),
    "mandate_debit.skipped": _("Auto-pay debit skipped by the citizen"),
    "mandate_debit.refused": _("Auto-pay debit not made"),
    "mandate_debit.attempt_failed": _("Auto-pay debit attempt failed"),
    "mandate_debit.paid": _("Paid by auto-pay"),
    "mandate_debit.paid_elsewhere": _("Auto-pay not needed: already paid elsewhere"),
    "mandate_debit.failed": _("Auto-pay debit failed after retries"),
    "mandate_debit.refund_pending": _("Auto-pay debit refund requested"),
    "mandate_debit.refunded": _("Auto-pay debit refunded"),
    "mandate_debit.refund_failed": _("Auto-pay debit refund failed"),
    "mandate_debit.refund_attempt_failed": _("Auto-pay debit refund attempt failed"),
    "mandate_debit.refund_retried": _("Auto-pay debit refund retried by staff"),
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
    "biller.collection_shares_set": _("Shared collection parts set"),
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
    "counter.card_written": _("Card top-up written at the counter"),
    "counter.card_write_failed": _("Card top-up failed to write at the counter"),
    "counter.topup_refund_owed": _("Card top-up refund owed at the counter"),
    "topup.written": _("Card top-up written"),
    "topup.voided": _("Card top-up voided and refunded"),
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
    "settlement.share_confirmed": _("Co-beneficiary's settlement confirmed"),
    "settlement.day_settled": _("Day settled"),
    "settlement.money_overdue": _("Settleable money overdue"),
    "statement.imported": _("Statement imported"),
    "agent.float_topped_up": _("Agent's float topped up"),
    "agent.low_float": _("Agent's float low"),
    "agent.payment_taken": _("Payment taken by an agent"),
    "agent.registered": _("Agent registered"),
    "dispute.closed": _("Dispute closed"),
    "dispute.escalated": _("Dispute escalated"),
    "dispute.raised": _("Dispute raised"),
    "dispute.resolved": _("Dispute resolved"),
    "dispute.refund_required": _("Disputed debit to be refunded to the payer"),
    "dispute.refund_attempt_failed": _("Disputed debit's refund refused by the bank (tried again)"),
    "dispute.refund_failed": _("Disputed debit's refund failed: staff must act"),
    "fiscal_receipt.failed": _("Fiscal e-receipt failed"),
    "fiscal_receipt.issued": _("Fiscal e-receipt issued"),
    "fiscal_receipt.requested": _("Fiscal e-receipt requested"),
    "fiscal_receipt.retried": _("Fiscal e-receipt retried by staff"),
    "fiscal_receipt.reversal_requested": _("Fiscal e-receipt red-letter reversal requested"),
    "fiscal_receipt.reversed": _("Fiscal e-receipt reversed (red letter)"),
    "hosted_checkout.opened": _("Hosted checkout opened"),
    "hosted_checkout.order_started": _("Hosted checkout sent to payment"),
    "order.handed_off": _("Order continued on another device"),
    "order.handoff_started": _("Order handoff QR code shown"),
    "order_line.refund_pending": _("Refund requested"),
    "till.closed": _("Till closed"),
    "till.opened": _("Till opened"),
}


def action_label(code: str) -> str:
    """The readable name of an audit action code, in the user's language; the code itself when unnamed."""
    return str(ACTION_LABELS.get(code, code))
