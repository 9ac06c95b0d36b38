from allauth.account.admin import EmailAddressAdmin  # registers it first, so it can be replaced below
from allauth.account.models import EmailAddress
from allauth.mfa.admin import AuthenticatorAdmin
from allauth.mfa.models import Authenticator
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from billing.admin_scoping import ScopedAdminMixin, ScopedBillerListFilter, ScopedInlineMixin
from payers import services
from payers.choices import ATTENTION_OUTCOMES, LineOutcome
from payers.models import (
    FamilyLink,
    GatewayNotification,
    GatewayOrder,
    Mandate,
    MandateDebit,
    OrderLine,
    Payer,
)


@admin.register(Payer)
class PayerAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Citizens' personal data: platform admins and auditors only (see billing.access)."""

    list_display = ["public_id", "display_name", "mobile", "email", "created_at"]
    search_fields = ["display_name", "mobile", "email"]
    raw_id_fields = ["user"]
    readonly_fields = ["public_id", "created_at"]


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OrderLineInline(ReadOnlyMixin, ScopedInlineMixin, admin.TabularInline):
    model = OrderLine
    extra = 0
    fields = [
        "line_no",
        "biller",
        "account",
        "periods",
        "amount",
        "outcome",
        "refusal_code",
        "payment",
        "refund_no",
    ]
    readonly_fields = fields


class NotificationInline(ReadOnlyMixin, ScopedInlineMixin, admin.TabularInline):
    model = GatewayNotification
    extra = 0
    fields = ["received_at", "verified", "result", "note"]
    readonly_fields = fields


class NeedsAttentionFilter(admin.SimpleListFilter):
    title = _("needs attention")
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("yes", _("Paid elsewhere meanwhile: credited or refunded"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(outcome__in=ATTENTION_OUTCOMES)
        return queryset


@admin.register(GatewayOrder)
class GatewayOrderAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    """Online checkouts with their bank notifications: platform staff who reconcile or audit."""

    list_display = ["order_no", "gateway", "kind", "status", "amount", "trade_no", "created_at", "paid_at"]
    list_filter = ["gateway", "status", "kind"]
    search_fields = ["order_no", "trade_no"]
    inlines = [OrderLineInline, NotificationInline]
    date_hierarchy = "created_at"


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    """Each line of an online order, where its money went; biller staff see their own billers' lines, and
    the late payments kept as credit or refunded stand out with the "needs attention" filter."""

    list_display = ["__str__", "biller", "account", "amount", "outcome", "refusal_code", "refund_no"]
    list_filter = [NeedsAttentionFilter, "outcome", ("biller", ScopedBillerListFilter)]
    list_select_related = ["order", "biller", "account"]
    search_fields = ["order__order_no", "sub_trade_no", "account__account_no"]
    raw_id_fields = ["order", "account", "payment"]
    actions = ["retry_refunds"]

    @admin.action(description=_("Send the failed refunds to the bank again"))
    def retry_refunds(self, request, queryset):
        if not services.can_retry_refunds(request.user):
            self.message_user(request, _("Only a platform administrator may do this."), messages.ERROR)
            return
        done = [
            services.retry_refund(line=line, actor=request.user)
            for line in queryset.filter(outcome=LineOutcome.REFUND_FAILED)
        ]
        self.message_user(request, _("%(count)s refunds sent again.") % {"count": len(done)})


class MandateDebitInline(ReadOnlyMixin, ScopedInlineMixin, admin.TabularInline):
    model = MandateDebit
    extra = 0
    fields = [
        "bill",
        "amount",
        "debit_on",
        "status",
        "attempts",
        "trade_no",
        "payment",
        "refusal_code",
        "message",
    ]
    readonly_fields = fields


@admin.register(Mandate)
class MandateAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    """Auto-pay mandates (代扣) with their debits, read-only: those who may see payers. Citizens change theirs
    in the portal, partners theirs (for their customers, funding source PARTNER) through the partner API;
    every change goes through payers.mandates and is audited."""

    list_display = [
        "public_id",
        "user",
        "partner_code",
        "customer_ref",
        "account",
        "cap_per_bill",
        "valid_until",
        "status",
        "created_at",
    ]
    list_filter = ["status", "gateway", "partner_code"]
    list_select_related = ["user", "account__biller"]
    search_fields = ["public_id", "account__account_no", "agreement_no", "user__email", "customer_ref"]
    inlines = [MandateDebitInline]
    date_hierarchy = "created_at"


@admin.register(FamilyLink)
class FamilyLinkAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    """Family payments (亲情付), read-only: who may pay whose bills, within which limits."""

    list_display = ["label", "owner", "member", "per_payment_limit", "monthly_limit", "status", "created_at"]
    list_filter = ["status"]
    list_select_related = ["owner", "member"]
    search_fields = ["public_id", "owner__email", "member__email", "label"]
    exclude = ["invite_token"]


# allauth's e-mail addresses are citizens' personal data: scoped like every other admin (billing.access).
admin.site.unregister(EmailAddress)


@admin.register(EmailAddress)
class ScopedEmailAddressAdmin(ScopedAdminMixin, EmailAddressAdmin):
    pass


admin.site.unregister(Authenticator)
# allauth gives the model no verbose name, so the admin showed "Authenticators" in Chinese too (issue 14).
Authenticator._meta.verbose_name = _("authenticator")
Authenticator._meta.verbose_name_plural = _("authenticators")
for _field, _label in (
    ("user", _("user")),
    ("type", _("type")),
    ("data", _("data")),
    ("created_at", _("created")),
    ("last_used_at", _("last used")),
):  # nor its fields: the change list and filters showed "以 type", "Last used at"
    Authenticator._meta.get_field(_field).verbose_name = _label


@admin.register(Authenticator)
class ScopedAuthenticatorAdmin(ScopedAdminMixin, AuthenticatorAdmin):
    # `data` holds the TOTP secret and the recovery codes: staff never see or edit it here. A lost second
    # factor is reset by deleting the row, so that its owner enrols again.
    exclude = ["data"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "type", "created_at", "last_used_at"] if obj is not None else []
