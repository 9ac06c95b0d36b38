"""Celery tasks of the portal and of its sandbox bank: thin, by id, safe to run twice."""

import logging
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from celery import shared_task
from django.db.models import F

from config import retries
from payers import services
from payers.choices import LineOutcome
from payers.models import SandboxBankTrade
from payers.sandbox_bank.services import notification_params

logger = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=retries.SANDBOX_BANK_NOTIFY.max_attempts - 1)
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
            raise self.retry(countdown=retries.SANDBOX_BANK_NOTIFY.delay(self.request.retries + 1))
    return answer


@shared_task(bind=True, max_retries=None)
def refund_order_line(self, line_id: int) -> str:
    """One attempt at a refund; while it is still pending (the bank did not confirm), try again later."""
    attempt = self.request.retries + 1
    outcome = services.refund_line(line_id=line_id, attempt=attempt)
    if outcome == LineOutcome.REFUND_PENDING and not self.request.is_eager:
        raise self.retry(countdown=retries.REFUND.delay(attempt))
    return outcome


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
