"""Is the platform's infrastructure answering? Used by /healthz and by operators."""

from django.conf import settings
from django.db import DatabaseError, connection

from config.celery import app as celery_app


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
