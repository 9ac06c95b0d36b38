"""The back office of fiscal e-receipts (billing.fiscal): each biller's issuer setting, set by platform
admins and audited (never the secret's value); and the receipts, read-only, scoped to the biller's staff."""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from billing.admin import ReadOnlyAdmin  # billing.admin imports this module after defining it
from billing.admin_audit import AuditedAdminMixin
from billing.admin_presentment import SignedEndpointForm
from billing.admin_scoping import ScopedAdminMixin
from billing.fiscal_models import FiscalIssuerKind, FiscalReceipt, FiscalSetup


class FiscalSetupForm(SignedEndpointForm):
    endpoint_url = forms.URLField(
        label=_("issuer address"),
        required=False,
        max_length=300,
        assume_scheme="https",
        help_text=_("The base HTTPS address of the issuer; /issue, /query and /reverse are added to it."),
    )

    class Meta:
        model = FiscalSetup
        fields = ["biller", "issuer", "agency_code", "endpoint_url", "key_id", "secret", "timeout_seconds"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("issuer", FiscalIssuerKind.NONE) != FiscalIssuerKind.NONE:
            self.check_endpoint(
                cleaned,
                missing=_("A biller with fiscal e-receipts needs its issuer's address."),
                not_https=_("The issuer must be reached over HTTPS."),
                no_key_id=_("Give the key id the issuer knows the platform by."),
                no_secret=_("Give the secret shared with the issuer."),
            )
            if not cleaned.get("agency_code"):
                self.add_error("agency_code", _("Give the biller's issuing unit code at the issuer."))
        return cleaned


@admin.register(FiscalSetup)
class FiscalSetupAdmin(ScopedAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    form = FiscalSetupForm
    list_display = ["biller", "issuer", "agency_code", "endpoint_url", "updated_at"]
    list_filter = ["issuer"]
    list_select_related = ["biller"]
    raw_id_fields = ["biller"]
    search_fields = ["biller__code", "biller__name", "agency_code"]


@admin.register(FiscalReceipt)
class FiscalReceiptAdmin(ReadOnlyAdmin):
    """Each payment's fiscal e-receipt: what the issuer gave, its red-letter reversal, and the last error."""

    list_display = ["payment", "biller", "status", "notice_no", "invoice_code", "invoice_no", "issued_at"]
    list_filter = ["status"]
    list_select_related = ["payment", "biller"]
    search_fields = ["payment__receipt_no", "invoice_no", "notice_no"]
    readonly_fields = [
        "payment",
        "biller",
        "status",
        "notice_no",
        "invoice_code",
        "invoice_no",
        "check_code",
        "issued_at",
        "red_invoice_code",
        "red_invoice_no",
        "reversed_at",
        "attempts",
        "last_error",
        "requested_at",
        "updated_at",
    ]
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("pdf")
