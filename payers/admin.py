from django.contrib import admin

from billing.admin_scoping import ScopedAdminMixin
from payers.models import Payer


@admin.register(Payer)
class PayerAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Citizens' personal data: platform admins and auditors only (see billing.access)."""

    list_display = ["public_id", "display_name", "mobile", "email", "created_at"]
    search_fields = ["display_name", "mobile", "email"]
    raw_id_fields = ["user"]
    readonly_fields = ["public_id", "created_at"]
