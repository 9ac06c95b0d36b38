"""States of a dispute, the channels it is raised from and how it ended."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class DisputeChannel(models.TextChoices):
    PORTAL = "portal", _("Citizens' portal")
    COUNTER = "counter", _("Counter")
    PARTNER = "partner", _("Partner API")


class DisputeStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ESCALATED = "escalated", _("Escalated: answer overdue")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


DISPUTE_TRANSITIONS: dict[str, frozenset[str]] = {
    DisputeStatus.OPEN: frozenset({DisputeStatus.ESCALATED, DisputeStatus.RESOLVED, DisputeStatus.CLOSED}),
    DisputeStatus.ESCALATED: frozenset({DisputeStatus.RESOLVED, DisputeStatus.CLOSED}),
    DisputeStatus.RESOLVED: frozenset({DisputeStatus.CLOSED}),
    DisputeStatus.CLOSED: frozenset(),
}
OPEN_STATUSES = (DisputeStatus.OPEN, DisputeStatus.ESCALATED)


class Outcome(models.TextChoices):
    ANSWERED = "answered", _("Answered")
    PAYMENT_POSTED = "payment_posted", _("The missing payment was posted")
    PAYMENT_FOUND = "payment_found", _("The payment had been made")
    REFUND_INSTRUCTED = "refund_instructed", _("The channel returns the money")
    # A disputed debit whose bill cannot take it (services/disputed_debits.py in reconciliation): the
    # money goes back to the payer; the dispute stays open until the refund is seen done.
    REFUND_REQUIRED = "refund_required", _("Refund pending at the channel")
    REFUNDED = "refunded", _("The money was returned to the payer")
    WITHDRAWN = "withdrawn", _("Withdrawn by whoever raised it")


class RefundState(models.TextChoices):
    """Where the refund of a disputed debit stands (empty: none was needed)."""

    NONE = "", _("No refund")
    PENDING = "pending", _("Refund pending at the channel")
    REFUNDED = "refunded", _("Refunded")
