from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BranchesConfig(AppConfig):
    name = "branches"
    verbose_name = _("Branches and cash channel")

    def ready(self):
        # Declare who may see and change this app's models (billing.access holds only the mechanism).
        from branches.admin_access import declare_access

        declare_access()
        # Its panels on the staff home (billing.dashboard holds only the mechanism).
        from branches.dashboard import declare_panels

        declare_panels()

        # A card top-up that was not written is paid back in cash from the till (billing.topups).
        from billing import topups
        from billing.choices import Channel
        from branches import services

        topups.register_refunder(Channel.COUNTER, services.refund_voided_topup)
