from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PayersConfig(AppConfig):
    name = "payers"
    verbose_name = _("Payers")

    def ready(self):
        from payers import checks  # noqa: F401  (registers the gateways' start-up checks)

        # Declare who may see and change this app's models (billing.access holds only the mechanism).
        from payers.admin_access import declare_access

        declare_access()
