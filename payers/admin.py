from django.contrib import admin

from payers.models import Payer


@admin.register(Payer)
class PayerAdmin(admin.ModelAdmin):
    list_display = ["public_id", "display_name", "mobile", "email", "created_at"]
    search_fields = ["display_name", "mobile", "email"]
    raw_id_fields = ["user"]
