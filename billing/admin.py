"""Back-office screens. Ledger rows are read-only: they change only through the posting service."""

from django.contrib import admin

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


class ReadOnlyAdmin(admin.ModelAdmin):
    """For append-only records: viewable, never added, changed or deleted by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BillerCategory)
class BillerCategoryAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "name_en", "parent", "sort_order"]
    list_select_related = ["parent"]


@admin.register(Biller)
class BillerAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "category", "status", "payment_mode", "amount_rule", "accepts_cash"]
    list_filter = ["status", "payment_mode", "category"]
    list_select_related = ["category"]
    search_fields = ["code", "name", "name_en", "legal_name"]
    readonly_fields = ["status", "status_reason", "created_at", "updated_at"]


@admin.register(BillerStaff)
class BillerStaffAdmin(admin.ModelAdmin):
    list_display = ["user", "biller"]
    list_select_related = ["user", "biller"]
    raw_id_fields = ["user", "biller"]


@admin.register(CustomerAccount)
class CustomerAccountAdmin(admin.ModelAdmin):
    list_display = ["account_no", "biller", "masked_holder_name", "credit_balance"]
    list_select_related = ["biller"]
    search_fields = ["account_no"]
    raw_id_fields = ["biller"]
    readonly_fields = ["credit_balance"]


@admin.register(Bill)
class BillAdmin(admin.ModelAdmin):
    list_display = ["account", "period", "amount_due", "late_fee", "amount_paid", "due_date", "status"]
    list_filter = ["status", "period"]
    list_select_related = ["account__biller"]
    search_fields = ["account__account_no", "reference"]
    raw_id_fields = ["account", "biller"]
    readonly_fields = ["amount_paid", "status"]


class PaymentAllocationInline(admin.TabularInline):
    model = PaymentAllocation
    extra = 0
    can_delete = False
    readonly_fields = ["bill", "kind", "amount", "is_reversal"]

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
    list_filter = ["channel", "status", "business_date"]
    list_select_related = ["biller", "account__biller"]
    search_fields = ["receipt_no", "idempotency_key", "channel_ref", "account__account_no"]
    inlines = [PaymentAllocationInline]


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "kind"]
    list_filter = ["kind"]
    search_fields = ["code", "name"]


class JournalLineInline(admin.TabularInline):
    model = JournalLine
    extra = 0
    can_delete = False
    readonly_fields = ["account", "amount"]

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
