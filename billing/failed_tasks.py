"""Tasks that exhausted their retries: recorded as `FailedTask` rows for staff (the admin's "failed tasks"
list), and sent again from there with the audited "retry" action.

A task is recorded when it raises out of its last try (Celery's `task_failure` signal, connected in
BillingConfig.ready), or when it gives up on its own without raising (`record_failure`, e.g. a webhook
delivery or a refund past its policy's `max_attempts`). The same task with the same arguments is one row:
its attempts add up and its last failure moves.

Retrying sends the task again after commit. An app whose task keeps its own state (a refund line marked
failed, a webhook delivery given up) registers a `retry handler` that first puts that state back.
"""

import hashlib
import json
import logging
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from billing import locks
from billing.audit import record_audit
from billing.models import FailedTask

logger = logging.getLogger(__name__)

RetryHandler = Callable[[FailedTask, object], None]
_retry_handlers: dict[str, RetryHandler] = {}


def register_retry_handler(task_name: str, handler: RetryHandler) -> None:
    """`handler(failed_task, actor)` runs in the retry's transaction instead of re-sending the task."""
    _retry_handlers[task_name] = handler


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def fingerprint(task_name: str, args, kwargs) -> str:
    text = json.dumps([task_name, _jsonable(list(args or ())), _jsonable(dict(kwargs or {}))], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def record_failure(
    *, task_name: str, args=(), kwargs=None, error: str, attempts: int = 1, task_id: str = ""
) -> FailedTask:
    """Record (or add to) the failure of `task_name(*args, **kwargs)`; in its own transaction."""
    key = fingerprint(task_name, args, kwargs)
    now = timezone.now()
    with transaction.atomic():
        failed = locks.lock_failed_task_by_fingerprint(key)
        if failed is None:
            failed, created = FailedTask.objects.get_or_create(
                fingerprint=key,
                defaults={
                    "task_name": task_name,
                    "args": _jsonable(list(args or ())),
                    "kwargs": _jsonable(dict(kwargs or {})),
                    "error": error[:5000],
                    "task_id": task_id or "",
                    "attempts": attempts,
                    "first_failed_at": now,
                    "last_failed_at": now,
                },
            )
            if created:
                logger.error("task %s%s failed for good: %s", task_name, tuple(args or ()), error[:300])
                return failed
            failed = locks.lock_failed_task(failed.pk)
        failed.error = error[:5000]
        failed.task_id = task_id or failed.task_id
        failed.attempts += attempts
        failed.last_failed_at = now
        failed.save(update_fields=["error", "task_id", "attempts", "last_failed_at"])
    logger.error("task %s%s failed for good again: %s", task_name, tuple(args or ()), error[:300])
    return failed


def on_task_failure(sender=None, task_id=None, exception=None, args=None, kwargs=None, **_extra) -> None:
    """Celery's `task_failure` signal: a task raised out of its last try. Eager runs (the demo, tests) raise
    to their caller instead, who may be inside a transaction that is already failing."""
    request = getattr(sender, "request", None)
    if request is None or getattr(request, "is_eager", False):
        return
    try:
        record_failure(
            task_name=sender.name,
            args=args or (),
            kwargs=kwargs or {},
            error=f"{type(exception).__name__}: {exception}",
            attempts=(request.retries or 0) + 1,
            task_id=task_id or "",
        )
    except Exception:  # the database is what failed: the worker's log keeps the failure
        logger.exception("could not record the failure of task %s", getattr(sender, "name", "?"))


def retry_failed_task(*, failed_task: FailedTask, actor) -> FailedTask:
    """Staff send a failed task again (its app's retry handler first, if it has one); audited."""
    with transaction.atomic():
        failed = locks.lock_failed_task(failed_task.pk)
        failed.retried_at = timezone.now()
        failed.retry_count += 1
        failed.save(update_fields=["retried_at", "retry_count"])
        record_audit(actor=actor, action="failed_task.retried", target=failed, task=failed.task_name)
        handler = _retry_handlers.get(failed.task_name)
        if handler is not None:
            handler(failed, actor)
        else:
            name, args, kwargs = failed.task_name, list(failed.args), dict(failed.kwargs)
            transaction.on_commit(lambda: _send(name, args, kwargs))
    return failed


def _send(name: str, args: list, kwargs: dict) -> None:
    from celery import current_app

    task = current_app.tasks.get(name)
    if task is not None:
        task.apply_async(args, kwargs)  # routed to its queue like any call
    else:
        current_app.send_task(name, args, kwargs)
