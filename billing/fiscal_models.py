"""Fiscal e-receipts (财政电子票据) and e-invoices (issue 17, item 5): which billers have them issued, by
which issuer, and what the issuer gave for each payment.

Kept apart from billing/models.py (and imported at its end) like billing/presentment_models.py; the
protocol and the work are billing/fiscal.py, the states below with their allowed moves.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class FiscalIssuerKind(models.TextChoices):
    NONE = "none", _("No fiscal e-receipts")
    SANDBOX = "sandbox", _("The demo's sandbox issuer")
    SIGNED_HTTP = "signed_http", _("An issuer speaking the platform's signed fiscal protocol")


class FiscalSetup(models.Model):
    """A biller whose payments get an official fiscal e-receipt: the issuer, and the biller's own code at it
    (开票单位编码 / 执收单位编码)."""

    biller = models.OneToOneField(
        "billing.Biller", on_delete=models.CASCADE, related_name="fiscal_setup", verbose_name=_("biller")
    )
    issuer = models.CharField(
        _("fiscal e-receipt issuer"),
        max_length=16,
        choices=FiscalIssuerKind.choices,
        default=FiscalIssuerKind.NONE,
    )
    agency_code = models.CharField(
        _("issuing unit code"),
        max_length=32,
        blank=True,
        help_text=_("The biller's code at the fiscal issuer (开票单位编码)."),
    )
    endpoint_url = models.URLField(
        _("issuer address"),
        max_length=300,
        blank=True,
        help_text=_("The base HTTPS address of the issuer; /issue, /query and /reverse are added to it."),
    )
    key_id = models.CharField(_("key id"), max_length=40, blank=True, help_text=_("Sent as X-BillPay-Key."))
    secret = models.CharField(
        _("shared secret"),
        max_length=128,
        blank=True,
        help_text=_("Signs the platform's requests and verifies the issuer's answers (HMAC-SHA256)."),
    )
    timeout_seconds = models.DecimalField(
        _("timeout in seconds"),
        max_digits=3,
        decimal_places=1,
        default=5,
        validators=[MinValueValidator(0.2), MaxValueValidator(30)],
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("fiscal e-receipt setting")
        verbose_name_plural = _("fiscal e-receipt settings")
        constraints = [
            models.UniqueConstraint(
                fields=["agency_code"], condition=~Q(agency_code=""), name="fiscal_setup_agency_code_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.biller} → {self.get_issuer_display()}"

    @property
    def issues(self) -> bool:
        return self.issuer != FiscalIssuerKind.NONE and bool(self.endpoint_url and self.agency_code)


class FiscalStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    ISSUED = "issued", _("Issued")
    REVERSAL_REQUESTED = "reversal_requested", _("Red-letter reversal requested")
    REVERSED = "reversed", _("Reversed (red-letter)")
    FAILED = "failed", _("Failed")


# current → where it may go (billing.transitions). A receipt whose payment is reversed before it was issued
# goes to reversal_requested too: the issuer's issue call is idempotent on the payment, so the work issues
# it (or finds the one it issued) and then asks for its red-letter reversal.
FISCAL_TRANSITIONS = {
    FiscalStatus.REQUESTED: frozenset(
        {FiscalStatus.ISSUED, FiscalStatus.REVERSAL_REQUESTED, FiscalStatus.FAILED}
    ),
    FiscalStatus.ISSUED: frozenset({FiscalStatus.REVERSAL_REQUESTED}),
    FiscalStatus.REVERSAL_REQUESTED: frozenset({FiscalStatus.REVERSED, FiscalStatus.FAILED}),
    FiscalStatus.FAILED: frozenset({FiscalStatus.REQUESTED, FiscalStatus.REVERSAL_REQUESTED}),
    FiscalStatus.REVERSED: frozenset(),
}


class FiscalReceipt(models.Model):
    """The official e-receipt of one payment: requested when the payment's posted event is relayed (once per
    event id), issued by the biller's issuer, reversed in red letters (冲红) when the payment is reversed."""

    payment = models.OneToOneField(
        "billing.Payment", on_delete=models.PROTECT, related_name="fiscal_receipt", verbose_name=_("payment")
    )
    biller = models.ForeignKey(
        "billing.Biller", on_delete=models.PROTECT, related_name="+", verbose_name=_("biller")
    )
    status = models.CharField(
        _("status"), max_length=20, choices=FiscalStatus.choices, default=FiscalStatus.REQUESTED
    )
    issue_event_id = models.UUIDField(_("posted event"), unique=True, editable=False)
    reversal_event_id = models.UUIDField(
        _("reversed event"), unique=True, null=True, blank=True, editable=False
    )
    notice_no = models.CharField(_("payment notice number"), max_length=32, blank=True)
    invoice_code = models.CharField(_("e-receipt code"), max_length=20, blank=True)
    invoice_no = models.CharField(_("e-receipt number"), max_length=20, blank=True)
    check_code = models.CharField(_("verification code"), max_length=12, blank=True)
    pdf = models.BinaryField(_("e-receipt file"), blank=True, default=b"", editable=False)
    pdf_sha256 = models.CharField(_("file SHA-256"), max_length=64, blank=True)
    issued_at = models.DateTimeField(_("issued"), null=True, blank=True)
    red_invoice_code = models.CharField(_("red-letter code"), max_length=20, blank=True)
    red_invoice_no = models.CharField(_("red-letter number"), max_length=20, blank=True)
    reversed_at = models.DateTimeField(_("reversed"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # Claimed by one worker for one call to the issuer (billing.fiscal._claim); a dead worker's runs out.
    lease_token = models.CharField(max_length=32, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    requested_at = models.DateTimeField(_("requested"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-requested_at"]
        verbose_name = _("fiscal e-receipt")
        verbose_name_plural = _("fiscal e-receipts")
        indexes = [models.Index(fields=["biller", "status"], name="fiscal_receipt_biller_status")]

    def __str__(self) -> str:
        if self.invoice_no:
            return f"{self.invoice_code}-{self.invoice_no}"
        return f"{_('fiscal e-receipt')} #{self.pk}"


class SandboxFiscalDocument(models.Model):
    """What the demo's sandbox fiscal issuer (billing/sandbox_fiscal) issued: its own records, kept in the
    platform's database only because it is a sandbox. A real issuer keeps these on its own system."""

    agency_code = models.CharField(_("issuing unit code"), max_length=32)
    business_no = models.CharField(_("business number"), max_length=40)
    invoice_code = models.CharField(_("e-receipt code"), max_length=20)
    invoice_no = models.CharField(_("e-receipt number"), max_length=20)
    check_code = models.CharField(_("verification code"), max_length=12)
    issued_at = models.DateTimeField(_("issued"))
    pdf = models.BinaryField(_("e-receipt file"))
    red_invoice_code = models.CharField(_("red-letter code"), max_length=20, blank=True)
    red_invoice_no = models.CharField(_("red-letter number"), max_length=20, blank=True)
    reversal_reason = models.CharField(_("reason for reversal"), max_length=100, blank=True)
    reversed_at = models.DateTimeField(_("reversed"), null=True, blank=True)

    class Meta:
        verbose_name = _("sandbox fiscal document")
        verbose_name_plural = _("sandbox fiscal documents")
        constraints = [
            models.UniqueConstraint(
                fields=["agency_code", "business_no"], name="sandbox_fiscal_once_per_business"
            ),
            models.UniqueConstraint(
                fields=["agency_code", "invoice_code", "invoice_no"], name="sandbox_fiscal_number_unique"
            ),
            models.UniqueConstraint(
                fields=["agency_code", "red_invoice_code", "red_invoice_no"],
                condition=~Q(red_invoice_no=""),
                name="sandbox_fiscal_red_number_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_code}-{self.invoice_no}"
