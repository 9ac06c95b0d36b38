"""Celery tasks of the portal and of its sandbox bank: thin, by id, safe to run twice."""

import logging
import smtplib
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from celery import shared_task
from django.core.mail import send_mail
from django.db.models import F

from config import retries
from payers import services
from payers.choices import LineOutcome
from payers.models import SandboxBankTrade
from payers.sandbox_bank.services import notification_params
from payers.sms import send_sms

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


# What a mail server or an SMS provider raises when it is away or refuses for now: retried with backoff.
MESSAGE_ERRORS = (OSError, smtplib.SMTPException)


@shared_task(bind=True, max_retries=retries.MESSAGE.max_attempts - 1, ignore_result=True)
def send_email(self, subject: str, body: str, recipients: list[str], from_email: str | None = None) -> None:
    """One e-mail, retried with backoff and jitter while the mail server is away (then a FailedTask)."""
    try:
        send_mail(subject, body, from_email, list(recipients))
    except MESSAGE_ERRORS as exc:
        raise self.retry(exc=exc, countdown=retries.MESSAGE.delay(self.request.retries + 1)) from exc


@shared_task(bind=True, max_retries=retries.MESSAGE.max_attempts - 1, ignore_result=True)
def send_text_message(self, to: str, body: str) -> None:
    """One text message, retried like an e-mail while the provider is away."""
    try:
        send_sms(to, body)
    except MESSAGE_ERRORS as exc:
        raise self.retry(exc=exc, countdown=retries.MESSAGE.delay(self.request.retries + 1)) from exc


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


@shared_task
def run_mandates() -> dict:
    """Beat, hourly: end mandates past their validity, schedule new bills' debits (with their notices), and
    queue the debits that are due, one task each."""
    from payers import mandates

    counts = {"expired": mandates.expire_mandates(), **mandates.schedule_debits()}
    due = mandates.due_debit_ids()
    for debit_id in due:
        run_mandate_debit.delay(debit_id)
    counts["queued"] = len(due)
    return counts


@shared_task
def run_mandate_debit(debit_id: int) -> str:
    from payers import mandates

    return mandates.run_debit(debit_id=debit_id)


@shared_task(bind=True, max_retries=None)
def refund_mandate_debit(self, debit_id: int) -> str:
    """One attempt at giving back a debit of a bill paid elsewhere meanwhile; again later while pending."""
    from payers import mandates
    from payers.choices import DebitStatus

    attempt = self.request.retries + 1
    outcome = mandates.refund_debit(debit_id=debit_id, attempt=attempt)
    if outcome == DebitStatus.REFUND_PENDING and not self.request.is_eager:
        raise self.retry(countdown=retries.REFUND.delay(attempt))
    return outcome
