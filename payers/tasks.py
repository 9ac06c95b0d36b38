"""Celery tasks of the portal and of its sandbox bank: thin, by id, safe to run twice."""

import logging
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from celery import shared_task
from django.db.models import F

from payers import services
from payers.models import SandboxBankTrade
from payers.sandbox_bank.services import notification_params

logger = logging.getLogger(__name__)

# How long the sandbox bank waits before sending a notification again, as real banks back off.
NOTIFY_BACKOFF_SECONDS = (15, 60, 300, 900, 3600, 7200)


@shared_task(bind=True, max_retries=len(NOTIFY_BACKOFF_SECONDS))
def sandbox_bank_notify(self, trade_id: int) -> str:
    """The bank POSTs its signed notification to the merchant until the merchant answers "success"."""
    trade = SandboxBankTrade.objects.get(pk=trade_id)
    if trade.notified:
        return "already acknowledged"
    body = urlencode(notification_params(trade)).encode()
    request = Request(
        trade.notify_url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urlopen(request, timeout=10) as response:
            answer = response.read(200).decode("utf-8", "replace").strip()
    except OSError as exc:
        answer = f"error: {exc}"
    acknowledged = answer == "success"
    SandboxBankTrade.objects.filter(pk=trade_id).update(
        notify_attempts=F("notify_attempts") + 1, notified=acknowledged
    )
    if not acknowledged:
        logger.warning("sandbox bank: notification of %s not acknowledged: %s", trade.trade_no, answer)
        if not self.request.is_eager and self.request.retries < self.max_retries:
            raise self.retry(countdown=NOTIFY_BACKOFF_SECONDS[self.request.retries])
    return answer


@shared_task
def refund_order_line(line_id: int) -> str:
    return services.refund_line(line_id=line_id)


@shared_task
def send_reminders() -> dict:
    from payers import reminders

    return reminders.send_due_reminders()


@shared_task
def settle_order(order_id: int) -> dict:
    return services.settle_order(order_id=order_id)


@shared_task
def query_pending_orders() -> dict:
    from django.conf import settings

    return services.query_pending_orders(older_than_minutes=settings.PORTAL_QUERY_PENDING_AFTER_MINUTES)


@shared_task(acks_late=True)
def build_receipt_bundle(bundle_id: int) -> dict:
    return services.build_receipt_bundle(bundle_id=bundle_id)
