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

        # Biller webhooks are the outbox's consumer of payment events (billing.outbox, api.webhooks).
        from api import webhooks
        from billing import outbox

        outbox.register_consumer("biller-webhooks", webhooks.deliveries_for_events)
        # A paid hosted checkout is notified to its partner the same way (api.checkout).
        from api import checkout

        outbox.register_consumer("partner-checkouts", checkout.notifications_for_events)
        # Partners hear about their disputes the same way (disputes.services writes the events).
        outbox.register_consumer("partner-webhooks", webhooks.partner_deliveries_for_events)

        # Whether a partner may still fund its customers' auto-pay debits (payers.mandates, below api).
        from api import selectors
        from payers import mandates

        mandates.register_partner_funding_check(selectors.partner_funding_refusal)

        # A delivery given up on (FailedTask) is sent again from the failed-tasks list too.
        from billing import failed_tasks

        failed_tasks.register_retry_handler(webhooks.DELIVER_TASK, webhooks.retry_failed_delivery)

        # Credentials, their owners and partners' grants are kept in each process's memory on the request
        # path (api.authentication, api.selectors.partner_biller): forgotten whenever one changes.
        from api.models import ApiCredential, BillerApiAccess, Partner
        from config import local_cache

        local_cache.watch(
            ApiCredential,
            Partner,
            BillerApiAccess,
            Partner.allowed_billers.through,
            Partner.allowed_categories.through,
        )
