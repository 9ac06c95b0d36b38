"""A dispute or complaint, whichever channel it came from: one row, one fixed reason code (taxonomy)."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.money import money_field_kwargs
from disputes import taxonomy
from disputes.choices import DisputeChannel, DisputeStatus, Outcome, RefundState

USER = settings.AUTH_USER_MODEL


def new_dispute_ref() -> str:
    """The dispute's public reference, given to the payer and the partner: DSP + 12 base-32 characters."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "DSP" + "".join(secrets.choice(alphabet) for _ in range(12))


class Dispute(models.Model):
    ref = models.CharField(
        _("reference"), max_length=20, unique=True, default=new_dispute_ref, editable=False
    )
    reason = models.CharField(_("reason"), max_length=4, choices=taxonomy.CHOICES)
    category = models.CharField(_("category"), max_length=12, choices=taxonomy.Category.choices)
    answerer = models.CharField(_("answered by"), max_length=10, choices=taxonomy.Answerer.choices)
    channel = models.CharField(_("raised through"), max_length=10, choices=DisputeChannel.choices)
    # Who raised it on the channel: the partner's code, the branch's code; empty on the portal.
    source = models.CharField(_("raised by (partner or branch code)"), max_length=32, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=128, blank=True)
    payment = models.ForeignKey(
        "billing.Payment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="disputes",
        verbose_name=_("payment"),
    )
    biller = models.ForeignKey(
        "billing.Biller", on_delete=models.PROTECT, related_name="disputes", verbose_name=_("biller")
    )
    account_no = models.CharField(_("account number"), max_length=40, blank=True)
    # For money taken at the channel with no payment here: the channel's own id of that debit, as its
    # statement carries it (channel_ref or merchant order number), and the amount.
    channel_ref = models.CharField(_("channel's reference of the debit"), max_length=64, blank=True)
    amount = models.DecimalField(_("amount"), null=True, blank=True, **money_field_kwargs())
    details = models.TextField(_("details"), blank=True)
    contact_name = models.CharField(_("name"), max_length=60, blank=True)
    contact_email = models.EmailField(_("e-mail"), blank=True)
    contact_phone = models.CharField(_("phone"), max_length=30, blank=True)
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    payer_user = models.ForeignKey(
        USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("citizen")
    )
    raised_by = models.ForeignKey(
        USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("raised by")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=DisputeStatus.choices, default=DisputeStatus.OPEN
    )
    raised_at = models.DateTimeField(_("raised"), default=timezone.now)
    due_at = models.DateTimeField(_("answer due"))
    escalated_at = models.DateTimeField(_("escalated"), null=True, blank=True)
    answer = models.TextField(_("answer"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices, blank=True)
    resolution_payment = models.ForeignKey(
        "billing.Payment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("payment posted to resolve it"),
    )
    # A disputed debit refunded rather than posted: the statement line's own references of the debit
    # (its channel reference, its merchant order number), the refund's state and its reference (our
    # refund number at the gateway, or the channel's refund reference).
    debit_ref = models.CharField(_("statement's reference of the debit"), max_length=64, blank=True)
    debit_order_no = models.CharField(_("merchant order of the debit"), max_length=128, blank=True)
    refund_state = models.CharField(
        _("refund"), max_length=10, choices=RefundState.choices, default=RefundState.NONE, blank=True
    )
    refund_ref = models.CharField(_("refund reference"), max_length=64, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        ordering = ["-raised_at"]
        verbose_name = _("dispute")
        verbose_name_plural = _("disputes")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "source", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="dispute_once_per_channel_key",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gt=0), name="dispute_amount_positive"
            ),
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="dispute_status_due")]

    def __str__(self) -> str:
        return f"{self.ref} {self.reason}"

    @property
    def reason_label(self) -> str:
        return f"{self.reason} {self.get_reason_display()}"
