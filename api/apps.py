from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = _("Open APIs: partners and billers")

    def ready(self):
        # Declare who may see and change this app's models (billing.access holds only the mechanism).
        from api.admin_access import declare_access

        declare_access()
        # Its panels on the staff home (billing.dashboard holds only the mechanism).
        from api.dashboard import declare_panels

        declare_panels()
