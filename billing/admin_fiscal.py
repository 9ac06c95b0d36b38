"""The back office of fiscal e-receipts (billing.fiscal): each biller's issuer setting, set by platform
admins and audited (never the secret's value); and the receipts, read-only, scoped to the biller's staff."""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from billing.admin import ReadOnlyAdmin  # billing.admin imports this module after defining it
from billing.admin_audit import AuditedAdminMixin
from billing.admin_presentment import MIN_SECRET_LENGTH
from billing.admin_scoping import ScopedAdminMixin
from billing.fiscal_models import FiscalReceipt, FiscalSetup


class FiscalSetupForm(forms.ModelForm):
    endpoint_url = forms.URLField(
        label=_("issuer address"),
        required=False,
        max_length=300,
        assume_scheme="https",
        help_text=_("The base HTTPS address of the issuer; /issue, /query and /reverse are added to it."),
    )
    secret = forms.CharField(
        label=_("shared secret"),
        required=False,
        strip=True,
        max_length=128,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Leave empty to keep the current secret. At least 16 characters."),
    )

    class Meta:
        model = FiscalSetup
        fields = ["biller", "issuer", "agency_code", "endpoint_url", "key_id", "secret", "timeout_seconds"]

    def clean_secret(self):
        secret = self.cleaned_data.get("secret", "")
        if not secret:
            return self.instance.secret if self.instance.pk else ""
        if len(secret) < MIN_SECRET_LENGTH:
            raise forms.ValidationError(_("Use at least 16 characters for the shared secret."))
        return secret


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
