"""Celery tasks of the open APIs: thin, take ids, safe to run twice."""

from celery import shared_task

from api import idempotency, webhooks


@shared_task(ignore_result=True)
def deliver_webhook(delivery_id: int, manual: bool = False) -> None:
    """Send one delivery if it is due and nobody holds its claim (api.webhooks.claim)."""
    webhooks.attempt(delivery_id, manual=manual)


@shared_task(ignore_result=True)
def retry_due_webhooks() -> int:
    """Run every minute (CELERY_BEAT_SCHEDULE): sends what is due, in case a scheduled retry was lost, and
    what a dead sender had claimed once its lease ran out."""
    due = webhooks.due_deliveries()
    for delivery_id in due:
        deliver_webhook.delay(delivery_id)
    return len(due)


@shared_task(ignore_result=True)
def purge_idempotency_records() -> int:
    """Forget the Idempotency-Key records older than API_IDEMPOTENCY_RETENTION_HOURS (beat, hourly, on the
    batch queue). Safe to run twice: a second run finds nothing more."""
    return idempotency.purge_expired()


@shared_task(ignore_result=True)
def purge_webhook_deliveries() -> int:
    """Delete the deliveries made longer ago than WEBHOOK_RETENTION_DAYS that were delivered or given up on,
    with their attempts (beat, hourly, on the batch queue). Safe to run twice and beside the senders: it
    deletes only finished deliveries, and a sender claims only unfinished ones (or one sent again by hand,
    which is then no longer finished)."""
    return webhooks.purge_finished()
