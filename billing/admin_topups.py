"""The back office of card top-ups (billing/topups.py): which prepaid billers hold a top-up until it is
written to the card, set by platform admins and audited; and each top-up's hold, read-only."""

from django.contrib import admin

from billing.admin import ReadOnlyAdmin  # billing.admin imports this module after defining it
from billing.admin_audit import AuditedAdminMixin
from billing.admin_scoping import ScopedAdminMixin
from billing.topup_models import CardWriteRule, TopUpHold


@admin.register(CardWriteRule)
class CardWriteRuleAdmin(ScopedAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["biller", "timeout_minutes", "updated_at"]
    list_select_related = ["biller"]
    raw_id_fields = ["biller"]
    search_fields = ["biller__code", "biller__name"]


@admin.register(TopUpHold)
class TopUpHoldAdmin(ReadOnlyAdmin):
    """Each card top-up: held until written, or voided and refunded — by whom and when."""

    list_display = ["payment", "status", "expires_at", "decided_by", "decided_at", "write_ref"]
    list_filter = ["status", "decided_by"]
    list_select_related = ["payment"]
    search_fields = ["payment__receipt_no", "write_ref"]
    readonly_fields = [
        "payment",
        "status",
        "expires_at",
        "decided_by",
        "decided_at",
        "actor",
        "write_ref",
        "reason",
        "created_at",
    ]
    fields = readonly_fields
