"""Top-ups that must reach a card or a meter (issue 17, item 8; IC-card gas and power meters, 圈存): which
billers hold a top-up until the write is confirmed, and the hold of each such payment.

Kept apart from billing/models.py (and imported at its end) so that changes to Biller and Payment elsewhere
merge cleanly; the two phases are billing/topup_holds.py (the ledger) and billing/topups.py (the services).
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CardWriteRule(models.Model):
    """A prepaid biller whose top-ups must be written to the payer's card or meter: each one is held in the
    ledger until the biller's system or a counter's card writer confirms the write, and voided and refunded
    when the write fails or no confirmation comes within `timeout_minutes`."""

    biller = models.OneToOneField(
        "billing.Biller", on_delete=models.CASCADE, related_name="card_write", verbose_name=_("biller")
    )
    timeout_minutes = models.PositiveIntegerField(
        _("confirmation timeout (minutes)"),
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text=_("A top-up not confirmed as written within this time is voided and refunded."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("card top-up rule")
        verbose_name_plural = _("card top-up rules")

    def __str__(self) -> str:
        return f"{self.biller.code} ({self.timeout_minutes} min)"


class TopUpStatus(models.TextChoices):
    HELD = "held", _("Waiting for the card write")
    WRITTEN = "written", _("Written to the card")
    VOIDED = "voided", _("Not written, refunded")


class TopUpSource(models.TextChoices):
    """Who decided a hold."""

    BILLER = "biller", _("The biller's system")
    TERMINAL = "terminal", _("The counter's card writer")
    TIMEOUT = "timeout", _("No confirmation in time")
    REVERSAL = "reversal", _("The payment was reversed")


class TopUpHold(models.Model):
    """The hold of one top-up: phase 1 (the payment's entry credits the biller's hold account) happened
    when the row was written; phase 2 moves it to the biller's payable (written) or back (voided), once."""

    payment = models.OneToOneField(
        "billing.Payment", on_delete=models.PROTECT, related_name="topup_hold", verbose_name=_("payment")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=TopUpStatus.choices, default=TopUpStatus.HELD
    )
    expires_at = models.DateTimeField(_("voided if not confirmed by"))
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.CharField(_("decided by"), max_length=16, choices=TopUpSource.choices, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("confirmed by"),
    )
    write_ref = models.CharField(_("card write reference"), max_length=64, blank=True)
    reason = models.CharField(_("why it was not written"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("card top-up")
        verbose_name_plural = _("card top-ups")
        indexes = [models.Index(fields=["status", "expires_at"], name="topuphold_status_expires")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="held", decided_at__isnull=True)
                | (~models.Q(status="held") & models.Q(decided_at__isnull=False)),
                name="topuphold_decided_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.payment_id} {self.status}"
