"""Bills presented live by a biller's own system (issue 17, item 1): how the platform reaches each biller
that fetches or validates, and what each biller said about each payment it was asked about.

Kept apart from billing/models.py (and imported at its end) so that changes to Biller and Bill elsewhere
merge cleanly; the protocol itself is billing/presentment.py and docs/biller-protocol.md.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PresentmentMode(models.TextChoices):
    PUSHED = "pushed", _("Pushed or imported bills")
    FETCH = "fetch", _("Fetched live at lookup")
    VALIDATE = "validate", _("Validated by the biller before posting")


LIVE_MODES = (PresentmentMode.FETCH, PresentmentMode.VALIDATE)  # the platform asks the biller's system


class StandIn(models.TextChoices):
    REFUSE = "refuse", _("Refuse payments while the biller's system is down")
    ACCEPT = "accept_and_confirm_later", _("Accept payments and confirm them with the biller later")


class BillerLink(models.Model):
    """A biller's own system, for a biller whose bills are fetched live or whose payments it validates."""

    biller = models.OneToOneField(
        "billing.Biller", on_delete=models.CASCADE, related_name="presentment", verbose_name=_("biller")
    )
    mode = models.CharField(
        _("presentment mode"), max_length=16, choices=PresentmentMode.choices, default=PresentmentMode.PUSHED
    )
    endpoint_url = models.URLField(
        _("biller system address"),
        max_length=300,
        blank=True,
        help_text=_("The base HTTPS address of the biller's system; /bills and /validate are added to it."),
    )
    key_id = models.CharField(_("key id"), max_length=40, blank=True, help_text=_("Sent as X-BillPay-Key."))
    secret = models.CharField(
        _("shared secret"),
        max_length=128,
        blank=True,
        help_text=_("Signs the platform's requests and verifies the biller's answers (HMAC-SHA256)."),
    )
    timeout_seconds = models.DecimalField(
        _("timeout in seconds"),
        max_digits=3,
        decimal_places=1,
        default=3,
        validators=[MinValueValidator(0.2), MaxValueValidator(10)],
    )
    stand_in = models.CharField(
        _("stand-in rule"),
        max_length=32,
        choices=StandIn.choices,
        default=StandIn.REFUSE,
        help_text=_("What the platform does with a payment while the biller's system cannot be reached."),
    )
    cache_seconds = models.PositiveSmallIntegerField(
        _("keep fetched bills for (seconds)"), default=60, validators=[MaxValueValidator(600)]
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("biller system link")
        verbose_name_plural = _("biller system links")

    def __str__(self) -> str:
        return f"{self.biller.code} ({self.get_mode_display()})"

    @property
    def is_live(self) -> bool:
        return self.mode in LIVE_MODES


class BillerCheck(models.Model):
    """What the biller's system said about one payment: accepted before posting, or (stand-in) posted while
    it was down and confirmed, or rejected and reversed, afterwards."""

    class Status(models.TextChoices):
        ACCEPTED = "accepted", _("Accepted by the biller")
        PENDING = "pending", _("Posted under the stand-in rule, to confirm")
        CONFIRMED = "confirmed", _("Confirmed by the biller later")
        REJECTED = "rejected", _("Rejected by the biller later, reversed")
        FAILED = "failed", _("Could not be confirmed")

    payment = models.OneToOneField(
        "billing.Payment", on_delete=models.PROTECT, related_name="biller_check", verbose_name=_("payment")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    biller_ref = models.CharField(_("biller's reference"), max_length=64, blank=True)
    fiscal_receipt_no = models.CharField(_("fiscal e-receipt number"), max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(_("confirmation attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    checked_at = models.DateTimeField(_("answered"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("biller check")
        verbose_name_plural = _("biller checks")
        indexes = [models.Index(fields=["status", "created_at"], name="billercheck_status_created")]

    def __str__(self) -> str:
        return f"{self.payment_id} {self.status}"
