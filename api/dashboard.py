"""The APIs' line on the staff home's failed tasks (the mechanism: billing/dashboard.py)."""

from django.utils.translation import gettext_lazy as _

from api import selectors
from api.models import WebhookDelivery
from billing.dashboard import FAILED_TASKS, Count, register_count


def declare_panels() -> None:
    register_count(
        FAILED_TASKS,
        "webhooks",
        Count(
            _("Webhook deliveries that gave up after every retry (last 7 days)"),
            WebhookDelivery,
            selectors.failed_webhook_deliveries,
            "admin:api_webhookdelivery_changelist",
        ),
    )
