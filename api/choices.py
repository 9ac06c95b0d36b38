"""Every set of choices of the open APIs, in one place."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class PartnerStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    CLOSED = "closed", _("Closed")


# Which partner status may follow which; anything else is refused by `change_partner_status`.
PARTNER_TRANSITIONS: dict[str, frozenset[str]] = {
    PartnerStatus.ACTIVE: frozenset({PartnerStatus.SUSPENDED, PartnerStatus.CLOSED}),
    PartnerStatus.SUSPENDED: frozenset({PartnerStatus.ACTIVE, PartnerStatus.CLOSED}),
    PartnerStatus.CLOSED: frozenset(),
}


class CredentialStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    REVOKED = "revoked", _("Revoked")


class WebhookEvent(models.TextChoices):
    PAYMENT_POSTED = "payment.posted", _("Payment posted")
    PAYMENT_REVERSED = "payment.reversed", _("Payment reversed")
    CHECKOUT_PAID = "checkout.paid", _("Hosted checkout paid")
    DISPUTE_UPDATED = "dispute.updated", _("Dispute updated")
    DISPUTE_RESOLVED = "dispute.resolved", _("Dispute resolved")
    MANDATE_NOTICE = "mandate.notice", _("Auto-pay debit coming")
    MANDATE_DEBIT = "mandate.debit", _("Auto-pay debit outcome")


BILLER_EVENTS = (WebhookEvent.PAYMENT_POSTED, WebhookEvent.PAYMENT_REVERSED)
# To Partner.webhook_url: its disputes, and its customers' auto-pay mandates (payers.mandates).
PARTNER_EVENTS = (
    WebhookEvent.DISPUTE_UPDATED,
    WebhookEvent.DISPUTE_RESOLVED,
    WebhookEvent.MANDATE_NOTICE,
    WebhookEvent.MANDATE_DEBIT,
)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    RETRYING = "retrying", _("Failed, will retry")
    SENDING = "sending", _("Being sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed, gave up")
