"""Celery tasks of disputes: thin, by id, safe to run twice."""

from celery import shared_task

from disputes import notices, services


@shared_task(acks_late=True, ignore_result=True)
def notify_payer(dispute_id: int, what: str) -> None:
    notices.send(dispute_id, what)


@shared_task(acks_late=True)
def escalate_overdue_disputes() -> int:
    """Beat: every open dispute past its response time is escalated once."""
    return len(services.escalate_overdue())
