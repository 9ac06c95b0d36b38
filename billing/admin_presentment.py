"""The back office of live presentment (billing.presentment): each biller's link to its own system, set by
platform admins and audited; and what billers' systems said about payments, read-only."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from billing import presentment
from billing.admin import ReadOnlyAdmin  # billing.admin imports this module after defining it
from billing.admin_audit import AuditedAdminMixin
from billing.admin_scoping import ScopedAdminMixin
from billing.presentment_models import BillerCheck, BillerLink, PresentmentMode

MIN_SECRET_LENGTH = 16


class SignedEndpointForm(forms.ModelForm):
    """A link to an outside system the platform signs its calls to (a biller's system, a fiscal issuer): its
    shared secret is never shown, kept when left empty, and at least MIN_SECRET_LENGTH characters long."""

    secret = forms.CharField(
        label=_("shared secret"),
        required=False,
        strip=True,
        max_length=128,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Leave empty to keep the current secret. At least 16 characters."),
    )

    def clean_secret(self):
        secret = self.cleaned_data.get("secret", "")
        if not secret:
            return self.instance.secret if self.instance.pk else ""
        if len(secret) < MIN_SECRET_LENGTH:
            raise forms.ValidationError(_("Use at least 16 characters for the shared secret."))
        return secret

    def check_endpoint(self, cleaned: dict, *, missing, not_https, no_key_id, no_secret) -> None:
        """The address (HTTPS outside DEBUG), key id and secret a live link needs, refused on its field."""
        url = cleaned.get("endpoint_url") or ""
        if not url:
            self.add_error("endpoint_url", missing)
        elif not url.startswith("https://") and not settings.DEBUG:
            self.add_error("endpoint_url", not_https)
        if not cleaned.get("key_id"):
            self.add_error("key_id", no_key_id)
        if not cleaned.get("secret"):
            self.add_error("secret", no_secret)


class BillerLinkForm(SignedEndpointForm):
    endpoint_url = forms.URLField(
        label=_("biller system address"),
        required=False,
        max_length=300,
        assume_scheme="https",
        help_text=_("The base HTTPS address of the biller's system; /bills and /validate are added to it."),
    )

    class Meta:
        model = BillerLink
        fields = [
            "biller",
            "mode",
            "endpoint_url",
            "key_id",
            "secret",
            "timeout_seconds",
            "stand_in",
            "cache_seconds",
        ]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("mode") in (PresentmentMode.FETCH, PresentmentMode.VALIDATE):
            self.check_endpoint(
                cleaned,
                missing=_("A biller whose bills are fetched or validated needs its address."),
                not_https=_("The biller's system must be reached over HTTPS."),
                no_key_id=_("Give the key id the biller's system knows the platform by."),
                no_secret=_("Give the secret shared with the biller's system."),
            )
        return cleaned


@admin.register(BillerLink)
class BillerLinkAdmin(ScopedAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    form = BillerLinkForm
    list_display = ["biller", "mode", "endpoint_url", "timeout_seconds", "stand_in", "updated_at"]
    list_filter = ["mode", "stand_in"]
    list_select_related = ["biller"]
    raw_id_fields = ["biller"]
    search_fields = ["biller__code", "biller__name"]

    def save_model(self, request, obj, form, change):
        presentment.save_link(link=obj, actor=request.user, changed=list(form.changed_data))
        self._pending_audit = None  # the service audited it


@admin.register(BillerCheck)
class BillerCheckAdmin(ReadOnlyAdmin):
    """What billers' systems said about payments: accepted before posting, or confirmed (or rejected and
    reversed) after a payment taken under the stand-in rule."""

    list_display = [
        "payment",
        "status",
        "biller_ref",
        "fiscal_receipt_no",
        "attempts",
        "created_at",
        "checked_at",
    ]
    list_filter = ["status"]
    list_select_related = ["payment"]
    search_fields = ["payment__receipt_no", "biller_ref", "fiscal_receipt_no"]
    readonly_fields = [
        "payment",
        "status",
        "biller_ref",
        "fiscal_receipt_no",
        "attempts",
        "last_error",
        "created_at",
        "checked_at",
    ]
    fields = readonly_fields
