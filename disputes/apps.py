from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DisputesConfig(AppConfig):
    name = "disputes"
    verbose_name = _("Disputes and complaints")

    def ready(self):
        from disputes.admin_access import declare_access
        from disputes.dashboard import declare_panels

        declare_access()
        declare_panels()
