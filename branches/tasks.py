"""Celery tasks of the branches app: thin, by id, safe to run twice."""

from celery import shared_task

from branches import notifications, services


@shared_task
def notify_recent_payers(*, status_change_id: int | None = None, closure_id: int | None = None) -> int:
    """Tell payers who recently paid at an outlet that it is suspended, closed, or will be."""
    return notifications.notify_recent_payers(status_change_id=status_change_id, closure_id=closure_id)


@shared_task
def check_cash_coverage(*, district: str) -> int:
    """Raise (and e-mail) alerts where a district's open cash outlets fell below its threshold."""
    return notifications.check_cash_coverage(district=district)


@shared_task
def apply_due_closures() -> dict:
    """Daily: put planned closures into effect and reopen suspended branches on their reopening day."""
    return services.apply_due_closures()


@shared_task
def notify_low_float(*, alert_id: int) -> bool:
    """Tell an agent and its operator's supervisors that the agent's float is below its threshold."""
    return notifications.notify_low_float(alert_id=alert_id)
