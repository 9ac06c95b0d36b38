from django.contrib import admin

from branches.models import Branch, BranchStaff, Operator


@admin.register(Operator)
class OperatorAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind"]


@admin.register(Branch)
class BranchAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "operator", "district", "status"]
    list_filter = ["status", "district", "operator"]
    list_select_related = ["operator"]
    search_fields = ["code", "name", "address"]


@admin.register(BranchStaff)
class BranchStaffAdmin(admin.ModelAdmin):
    list_display = ["user", "branch", "role"]
    list_select_related = ["user", "branch"]
    raw_id_fields = ["user", "branch"]
