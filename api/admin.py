"""Partner onboarding and API access in the back-office. Writes go through `api.services`."""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from api import services
from api.choices import PartnerStatus
from api.models import (
    ApiCredential,
    BillerApiAccess,
    HostedCheckout,
    Partner,
    PartnerCommission,
    PartnerReturnUrl,
    WebhookAttempt,
    WebhookDelivery,
)
from billing.admin import ReadOnlyAdmin
from billing.admin_scoping import ScopedAdminMixin, ScopedInlineMixin
from billing.exceptions import BillingError


def show_secret(request, modeladmin, issued, *, rotated_from=None):
    """The new secret, shown once on this page; it is never shown again."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": _("New API key"),
        "credential": issued.credential,
        "secret": issued.secret,
        "rotated_from": rotated_from,
        "opts": ApiCredential._meta,
    }
    response = TemplateResponse(request, "api/admin/new_secret.html", context)
    response["Cache-Control"] = "no-store"
    return response


class PartnerCommissionInline(ScopedInlineMixin, admin.TabularInline):
    model = PartnerCommission
    extra = 0
    raw_id_fields = ["biller"]
    fields = ["biller", "category", "fixed_fee", "percentage", "min_fee", "max_fee", "valid_from"]


class PartnerReturnUrlInline(ScopedInlineMixin, admin.TabularInline):
    model = PartnerReturnUrl
    extra = 0
    fields = ["url", "created_at"]
    readonly_fields = ["created_at"]


class CredentialInline(ScopedInlineMixin, admin.TabularInline):
    model = ApiCredential
    fk_name = "partner"
    extra = 0
    can_delete = False
    fields = ["key_id", "label", "status", "created_at", "expires_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class BillerCredentialInline(CredentialInline):
    fk_name = "biller_access"


class PartnerForm(forms.ModelForm):
    class Meta:
        model = Partner
        fields = [
            "code",
            "name",
            "allowed_billers",
            "allowed_categories",
            "ip_allowlist",
            "rate_limit_per_minute",
            "contact_name",
            "contact_email",
            "is_sandbox",
            "checkout_notify_url",
            "webhook_url",
        ]

    def clean_ip_allowlist(self):
        import ipaddress

        text = self.cleaned_data["ip_allowlist"]
        for line in text.splitlines():
            if line.strip():
                try:
                    ipaddress.ip_network(line.strip(), strict=False)
                except ValueError:
                    raise forms.ValidationError(
                        _("“%(entry)s” is not an address or network."), params={"entry": line.strip()}
                    ) from None
        return text


@admin.register(Partner)
class PartnerAdmin(ScopedAdminMixin, admin.ModelAdmin):
    form = PartnerForm
    list_display = ["code", "name", "status", "is_sandbox", "rate_limit_per_minute", "created_at"]
    list_filter = ["status", "is_sandbox"]
    search_fields = ["code", "name"]
    filter_horizontal = ["allowed_billers", "allowed_categories"]
    readonly_fields = ["status", "status_reason", "created_at"]
    inlines = [PartnerCommissionInline, PartnerReturnUrlInline, CredentialInline]
    actions = ["issue_key", "suspend", "reactivate", "show_webhook_secret"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "code"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        import secrets

        from billing.audit import record_audit

        if not obj.webhook_seed:
            obj.webhook_seed = secrets.token_hex(32)
        super().save_model(request, obj, form, change)
        record_audit(
            actor=request.user,
            action="partner.changed" if change else "partner.created",
            target=obj,
            fields=",".join(form.changed_data),
        )

    @admin.action(description=_("Show the webhook signing secret"), permissions=["change"])
    def show_webhook_secret(self, request, queryset):
        """The secret that signs the partner's dispute webhooks, on a page of its own."""
        from api import credentials

        context = {
            **self.admin_site.each_context(request),
            "title": _("Webhook signing secrets"),
            "secrets": [(partner, credentials.partner_webhook_secret_for(partner)) for partner in queryset],
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "api/admin/webhook_secrets.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Issue a new API key (the secret is shown once)"), permissions=["change"])
    def issue_key(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Choose exactly one partner."), messages.ERROR)
            return None
        return show_secret(request, self, services.issue_credential(owner=queryset.get(), actor=request.user))

    @admin.action(description=_("Suspend the chosen partners"), permissions=["change"])
    def suspend(self, request, queryset):
        self._move(request, queryset, PartnerStatus.SUSPENDED, _("suspended by a platform administrator"))

    @admin.action(description=_("Reactivate the chosen partners"), permissions=["change"])
    def reactivate(self, request, queryset):
        self._move(request, queryset, PartnerStatus.ACTIVE, "")

    def _move(self, request, queryset, to_status, reason):
        for partner in queryset:
            try:
                services.change_partner_status(
                    partner=partner, to_status=to_status, actor=request.user, reason=str(reason)
                )
            except BillingError as error:
                self.message_user(request, error.message, messages.ERROR)


class RotateForm(forms.Form):
    overlap_hours = forms.IntegerField(min_value=0, max_value=24 * 90, label=_("Overlap (hours)"))


@admin.register(ApiCredential)
class ApiCredentialAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["key_id", "partner", "biller_access", "label", "status", "expires_at", "last_used_at"]
    list_filter = ["status"]
    list_select_related = ["partner", "biller_access__biller"]
    search_fields = ["key_id", "partner__code", "biller_access__biller__code", "label"]
    readonly_fields = [
        "key_id",
        "partner",
        "biller_access",
        "status",
        "expires_at",
        "replaced_by",
        "created_at",
        "created_by",
        "last_used_at",
    ]
    fields = ["key_id", "label", *readonly_fields[1:]]
    actions = ["rotate", "revoke"]

    def has_add_permission(self, request):
        return False  # keys are issued from the partner or biller API access pages

    @admin.action(
        description=_("Rotate: a new key, the old one works until the overlap ends"), permissions=["change"]
    )
    def rotate(self, request, queryset):
        from django.conf import settings

        if queryset.count() != 1:
            self.message_user(request, _("Choose exactly one key."), messages.ERROR)
            return None
        form = RotateForm(request.POST if "overlap_hours" in request.POST else None)
        if form.is_bound and form.is_valid():
            old = queryset.get()
            try:
                issued = services.rotate_credential(
                    credential=old, actor=request.user, overlap_hours=form.cleaned_data["overlap_hours"]
                )
            except BillingError as error:
                self.message_user(request, error.message, messages.ERROR)
                return None
            old.refresh_from_db()
            return show_secret(request, self, issued, rotated_from=old)
        if not form.is_bound:
            form = RotateForm(initial={"overlap_hours": settings.API_KEY_ROTATION_OVERLAP_HOURS})
        context = {
            **self.admin_site.each_context(request),
            "title": _("Rotate API key"),
            "form": form,
            "credential": queryset.get(),
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "api/admin/rotate.html", context)

    @admin.action(description=_("Revoke now"), permissions=["change"])
    def revoke(self, request, queryset):
        for credential in queryset:
            services.revoke_credential(
                credential=credential, actor=request.user, reason="revoked in the admin"
            )


@admin.register(BillerApiAccess)
class BillerApiAccessAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["biller", "enabled", "webhook_url", "rate_limit_per_minute"]
    list_select_related = ["biller"]
    raw_id_fields = ["biller"]
    search_fields = ["biller__code", "biller__name"]
    inlines = [BillerCredentialInline]
    actions = ["issue_key", "show_webhook_secret"]

    def save_model(self, request, obj, form, change):
        import secrets

        from billing.audit import record_audit

        if not obj.webhook_seed:
            obj.webhook_seed = secrets.token_hex(32)
        super().save_model(request, obj, form, change)
        record_audit(
            actor=request.user,
            action="api.biller_access_changed" if change else "api.biller_access_created",
            target=obj,
            fields=",".join(form.changed_data),
        )

    @admin.action(description=_("Issue a new API key (the secret is shown once)"), permissions=["change"])
    def issue_key(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Choose exactly one biller."), messages.ERROR)
            return None
        return show_secret(request, self, services.issue_credential(owner=queryset.get(), actor=request.user))

    @admin.action(description=_("Show the webhook signing secret"), permissions=["change"])
    def show_webhook_secret(self, request, queryset):
        """On a page of its own, never in a message (messages may be kept in a cookie)."""
        from api import credentials

        context = {
            **self.admin_site.each_context(request),
            "title": _("Webhook signing secrets"),
            "secrets": [(access.biller, credentials.webhook_secret_for(access)) for access in queryset],
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "api/admin/webhook_secrets.html", context)
        response["Cache-Control"] = "no-store"
        return response


class WebhookAttemptInline(ScopedInlineMixin, admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["attempted_at", "status_code", "error", "duration_ms", "manual"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "event_id",
        "event",
        "biller_access",
        "credential",
        "partner",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
    ]
    list_filter = ["status", "event"]
    list_select_related = ["biller_access__biller", "credential", "partner"]
    search_fields = ["event_id", "biller_access__biller__code", "partner__code", "payment__receipt_no"]
    readonly_fields = [
        "event_id",
        "event",
        "biller_access",
        "credential",
        "partner",
        "payment",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
    ]
    fields = readonly_fields
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Send again now"), permissions=["change"])
    def redeliver(self, request, queryset):
        from api.tasks import deliver_webhook

        for delivery in queryset:
            deliver_webhook.delay(delivery.pk, manual=True)
        self.message_user(request, _("Redelivery queued for %(count)s events.") % {"count": queryset.count()})


@admin.register(HostedCheckout)
class HostedCheckoutAdmin(ReadOnlyAdmin):
    """Read only: what partners sent payers to pay on the hosted page, and the order that paid it."""

    list_display = ["partner_order_id", "partner", "biller", "amount", "order", "created_at"]
    list_filter = ["partner"]
    list_select_related = ["partner", "biller", "order"]
    search_fields = ["partner_order_id", "partner__code", "order__order_no"]
    fields = [
        "partner",
        "partner_order_id",
        "credential",
        "biller",
        "account",
        "periods",
        "amount",
        "return_url",
        "order",
        "created_at",
    ]
    readonly_fields = fields
