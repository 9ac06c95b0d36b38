"""Is the platform's infrastructure answering? Used by /healthz, /healthz/ready and by operators.

Liveness (/healthz/live) asks nothing of anyone: the process answers. Readiness (/healthz/ready) asks the
database, the broker, the cache, whether a worker has taken a heartbeat task lately (config/tasks.py, sent by
beat), when beat last sent a task, and whether an operations alert is raised (config/alerts.py). /healthz
keeps its first meaning (database and broker) for the deploy scripts that call it.
"""

import contextlib
import time

from celery import signals
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection

from config import alerts
from config.celery import app as celery_app

WORKER_HEARTBEAT_KEY = "billpay:health:worker_heartbeat"
BEAT_LAST_RUN_KEY = "billpay:health:beat_last_run"
_PROBE_KEY = "billpay:health:probe"


def database_status() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return {"status": "error", "vendor": connection.vendor, "detail": str(exc)[:200]}
    return {"status": "ok", "vendor": connection.vendor}


def broker_status() -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": "eager", "detail": "tasks run in the web process (demo mode)"}
    url = settings.CELERY_BROKER_URL
    transport = url.split(":", 1)[0]
    try:
        with celery_app.connection_for_write(url) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # kombu raises a variety of transport errors
        return {"status": "error", "transport": transport, "detail": str(exc)[:200]}
    return {"status": "ok", "transport": transport}


def cache_status() -> dict:
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    try:
        token = str(time.time())
        cache.set(_PROBE_KEY, token, timeout=30)
        if cache.get(_PROBE_KEY) != token:
            return {"status": "error", "backend": backend, "detail": "a value written was not read back"}
    except Exception as exc:  # the backend's own connection errors
        return {"status": "error", "backend": backend, "detail": str(exc)[:200]}
    return {"status": "ok", "backend": backend}


def record_worker_heartbeat(*, hostname: str) -> None:
    cache.set(WORKER_HEARTBEAT_KEY, {"at": time.time(), "hostname": hostname[:200]}, timeout=None)


def _age_status(key: str, max_age: int, what: str) -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": "eager", "detail": "tasks run in the web process (demo mode)"}
    try:
        seen = cache.get(key)
    except Exception as exc:
        return {"status": "error", "detail": str(exc)[:200]}
    if not seen:
        return {"status": "error", "detail": f"no {what} recorded yet"}
    age = max(0.0, time.time() - seen["at"])
    status = {"status": "ok" if age <= max_age else "error", "age_seconds": round(age, 1), "max_age": max_age}
    if seen.get("hostname"):
        status["hostname"] = seen["hostname"]
    if age > max_age:
        status["detail"] = f"the last {what} is older than {max_age} s"
    return status


def worker_status() -> dict:
    return _age_status(WORKER_HEARTBEAT_KEY, settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS, "worker heartbeat")


def beat_status() -> dict:
    return _age_status(BEAT_LAST_RUN_KEY, settings.BEAT_MAX_SILENCE_SECONDS, "task sent by beat")


def alerts_status() -> dict:
    active = alerts.active_alerts()
    if active:
        return {"status": "error", "raised": active}
    return {"status": "ok"}


def readiness() -> tuple[bool, dict]:
    checks = {
        "database": database_status(),
        "broker": broker_status(),
        "cache": cache_status(),
        "worker": worker_status(),
        "beat": beat_status(),
        "alerts": alerts_status(),
    }
    ready = all(check["status"] in ("ok", "eager") for check in checks.values())
    return ready, checks


@signals.before_task_publish.connect(dispatch_uid="billpay.health.beat_sent")
def _beat_sent_a_task(headers=None, **kwargs) -> None:
    """Celery beat marks what it sends (the `celery_beat_task` header): each one proves beat is running."""
    if headers and headers.get("celery_beat_task"):
        # Beat goes on without the cache; readiness then reports beat silent.
        with contextlib.suppress(Exception):
            cache.set(BEAT_LAST_RUN_KEY, {"at": time.time()}, timeout=None)
