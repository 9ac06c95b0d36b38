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

        # A refund given up on (FailedTask) is sent again through its line (billing.failed_tasks).
        from billing import failed_tasks
        from payers import mandates, services

        failed_tasks.register_retry_handler(services.REFUND_TASK, services.retry_failed_refund)
        # A portal payment that a live biller rejects after the fact is refunded to the payer.
        from billing import outbox

        outbox.register_consumer("payers-biller-rejections", services.refund_lines_the_biller_rejected)
        failed_tasks.register_retry_handler(mandates.REFUND_TASK, mandates.retry_failed_refund)

        # A card top-up that was not written goes back to the payer through the gateway (billing.topups).
        from billing import topups
        from billing.choices import Channel

        topups.register_refunder(Channel.ONLINE, services.refund_voided_topup)
        # The payer's e-mail and text message when their fiscal e-receipt is issued (billing.fiscal).
        from billing import outbox
        from payers import fiscal_notices

        outbox.register_consumer("fiscal-receipt-notices", fiscal_notices.notices_for_events)
