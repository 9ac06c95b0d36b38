from django.contrib import admin

from billing.admin_scoping import ScopedAdminMixin
from branches.models import Branch, BranchStaff, Operator


@admin.register(Operator)
class OperatorAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["code", "name", "kind"]
    search_fields = ["code", "name"]


@admin.register(Branch)
class BranchAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["code", "name", "operator", "district", "status"]
    list_filter = ["status", "district", ("operator", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["operator"]
    search_fields = ["code", "name", "address"]
    raw_id_fields = ["operator"]
    readonly_fields = ["created_at"]


@admin.register(BranchStaff)
class BranchStaffAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "branch", "role"]
    list_select_related = ["user", "branch"]
    raw_id_fields = ["user", "branch"]
