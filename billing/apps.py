from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = _("Billers, bills and payments")

    def ready(self):
        # Declare who may see and change this app's models (billing.access holds only the mechanism).
        from billing.admin_access import declare_access

        declare_access()
