"""Every set of choices of the citizen portal, in one place."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class OrderKind(models.TextChoices):
    BILLS = "bills", _("Bills")
    TOPUP = "topup", _("Prepaid top-up")
    DONATION = "donation", _("Donation")
    PROXY = "proxy", _("Batch proxy payment")


class OrderStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for the bank")
    PAID = "paid", _("Paid")
    FAILED = "failed", _("Not paid")
    CLOSED = "closed", _("Closed")


# Which order status may follow which. PAID is final: a late "failed" or "closed" notice after a payment
# changes nothing. A CLOSED or FAILED order may still become PAID: the bank took the money after all, and a
# verified notification of that is never thrown away.
ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.PAID, OrderStatus.FAILED, OrderStatus.CLOSED}),
    OrderStatus.FAILED: frozenset({OrderStatus.PAID}),
    OrderStatus.CLOSED: frozenset({OrderStatus.PAID}),
    OrderStatus.PAID: frozenset(),
}


class LineOutcome(models.TextChoices):
    WAITING = "waiting", _("Waiting for the payment")
    POSTED = "posted", _("Posted to the bill")
    CREDITED = "credited", _("Kept as credit on the account")
    REFUND_PENDING = "refund_pending", _("Refund requested")
    REFUNDED = "refunded", _("Refunded")
    REFUND_FAILED = "refund_failed", _("Refund failed: staff must act")
    NOT_PAID = "not_paid", _("Not paid")


# Outcomes staff must look at: the money did not simply land on the bills the payer chose.
ATTENTION_OUTCOMES = (
    LineOutcome.CREDITED,
    LineOutcome.REFUND_PENDING,
    LineOutcome.REFUNDED,
    LineOutcome.REFUND_FAILED,
)


class NotificationResult(models.TextChoices):
    APPLIED = "applied", _("Applied")
    DUPLICATE = "duplicate", _("Duplicate: already applied")
    IGNORED = "ignored", _("Ignored: older than the order's status")
    REJECTED = "rejected", _("Rejected: bad signature or data")


class BankTradeStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting for the payer")
    SUCCESS = "success", _("Paid")
    CLOSED = "closed", _("Closed by the payer")
    REFUNDED = "refunded", _("Refunded")


class MandateStatus(models.TextChoices):
    AWAITING_AGREEMENT = "awaiting", _("Waiting for the bank's agreement")
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


# Which mandate status may follow which (payers.mandates). CANCELLED and EXPIRED are final.
MANDATE_TRANSITIONS: dict[str, frozenset[str]] = {
    MandateStatus.AWAITING_AGREEMENT: frozenset({MandateStatus.ACTIVE, MandateStatus.CANCELLED}),
    MandateStatus.ACTIVE: frozenset({MandateStatus.PAUSED, MandateStatus.CANCELLED, MandateStatus.EXPIRED}),
    MandateStatus.PAUSED: frozenset({MandateStatus.ACTIVE, MandateStatus.CANCELLED, MandateStatus.EXPIRED}),
    MandateStatus.CANCELLED: frozenset(),
    MandateStatus.EXPIRED: frozenset(),
}

# The funding source of a partner's mandate (Mandate.gateway): the partner itself, no bank agreement. Its
# debits are posted as partner payments and the partner collects from its customer (payers.mandates).
PARTNER_FUNDING = "PARTNER"

# A mandate that is still the citizen's for its account: one at a time per account.
LIVE_MANDATE_STATUSES = (MandateStatus.AWAITING_AGREEMENT, MandateStatus.ACTIVE, MandateStatus.PAUSED)


class DebitStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    PROCESSING = "processing", _("Being debited")
    PAID = "paid", _("Paid by auto-pay")
    SKIPPED = "skipped", _("Skipped by the citizen")
    PAID_ELSEWHERE = "paid_elsewhere", _("Already paid elsewhere")
    REFUSED = "refused", _("Not debited")
    FAILED = "failed", _("Failed after retries")
    REFUND_PENDING = "refund_pending", _("Debited, paid elsewhere meanwhile: refund requested")
    REFUNDED = "refunded", _("Debited, paid elsewhere meanwhile: refunded")
    REFUND_FAILED = "refund_failed", _("Refund failed: staff must act")


class AgreementStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting for the payer")
    SIGNED = "signed", _("Signed")
    DECLINED = "declined", _("Declined")
    ENDED = "ended", _("Ended")


class FamilyLinkStatus(models.TextChoices):
    INVITED = "invited", _("Invited")
    ACTIVE = "active", _("Active")
    ENDED = "ended", _("Ended")
