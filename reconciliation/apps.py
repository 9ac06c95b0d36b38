from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReconciliationConfig(AppConfig):
    name = "reconciliation"
    verbose_name = _("Reconciliation and settlement")

    def ready(self):
        # Declare who may see and change this app's models (billing.access holds only the mechanism).
        from reconciliation.admin_access import declare_access

        declare_access()
        # Its panels on the staff home (billing.dashboard holds only the mechanism).
        from reconciliation.dashboard import declare_panels

        declare_panels()
        # Disputes' response times count China's working days, as settlement does (disputes.deadlines).
        from disputes import deadlines
        from reconciliation.working_days import next_working_day

        deadlines.use_calendar(next_working_day)
