"""Back-office screens. Ledger rows are read-only: they change only through the posting service."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group

from billing.admin_scoping import (
    ScopedAdminMixin,
    ScopedBillerListFilter,
    ScopedBranchListFilter,
    ScopedInlineMixin,
)
from billing.models import (
    AuditEvent,
    Bill,
    Biller,
    BillerCategory,
    BillerStaff,
    CustomerAccount,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    Payment,
    PaymentAllocation,
)


class ReadOnlyAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """For append-only records: viewable, never added, changed or deleted by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BillerCategory)
class BillerCategoryAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["code", "name", "name_en", "parent", "sort_order"]
    list_select_related = ["parent"]


@admin.register(Biller)
class BillerAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["code", "name", "category", "status", "payment_mode", "amount_rule", "accepts_cash"]
    list_filter = ["status", "payment_mode", ("category", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["category"]
    search_fields = ["code", "name", "name_en", "legal_name"]
    readonly_fields = ["status", "status_reason", "created_at", "updated_at"]


@admin.register(BillerStaff)
class BillerStaffAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "biller"]
    list_select_related = ["user", "biller"]
    raw_id_fields = ["user", "biller"]


@admin.register(CustomerAccount)
class CustomerAccountAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["account_no", "biller", "masked_holder_name", "credit_balance"]
    list_filter = [("biller", ScopedBillerListFilter)]
    list_select_related = ["biller"]
    search_fields = ["account_no"]
    raw_id_fields = ["biller"]
    readonly_fields = ["credit_balance", "created_at"]


@admin.register(Bill)
class BillAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["account", "period", "amount_due", "late_fee", "amount_paid", "due_date", "status"]
    list_filter = ["status", "period", ("biller", ScopedBillerListFilter)]
    list_select_related = ["account__biller"]
    search_fields = ["account__account_no", "reference"]
    raw_id_fields = ["account", "biller"]
    readonly_fields = ["amount_paid", "status", "created_at", "updated_at"]


class PaymentAllocationInline(ScopedInlineMixin, admin.TabularInline):
    model = PaymentAllocation
    extra = 0
    can_delete = False
    readonly_fields = ["bill", "kind", "amount", "is_reversal"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("bill__account__biller")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = [
        "receipt_no",
        "channel",
        "biller",
        "account",
        "amount",
        "status",
        "business_date",
        "posted_at",
    ]
    list_filter = [
        "channel",
        "status",
        "business_date",
        ("biller", ScopedBillerListFilter),
        ("branch", ScopedBranchListFilter),
    ]
    list_select_related = ["biller", "account__biller"]
    search_fields = ["receipt_no", "idempotency_key", "channel_ref", "account__account_no"]
    inlines = [PaymentAllocationInline]


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "kind"]
    list_filter = ["kind"]
    search_fields = ["code", "name"]


class JournalLineInline(ScopedInlineMixin, admin.TabularInline):
    model = JournalLine
    extra = 0
    can_delete = False
    readonly_fields = ["account", "amount"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "memo", "business_date", "created_at"]
    list_filter = ["kind", "business_date"]
    search_fields = ["memo"]
    inlines = [JournalLineInline]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "action", "target_repr", "reason"]
    list_filter = ["action", "target_type"]
    list_select_related = ["actor"]
    search_fields = ["target_repr", "target_id", "reason"]


# Staff accounts and role groups: managed by platform admins, seen by auditors (see billing.access).
User = get_user_model()
for model in (User, Group):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(User)
class StaffUserAdmin(ScopedAdminMixin, UserAdmin):
    pass


@admin.register(Group)
class RoleGroupAdmin(ScopedAdminMixin, GroupAdmin):
    pass
