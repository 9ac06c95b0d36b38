"""Celery tasks of the platform itself: the worker heartbeat /healthz/ready reads (config/health.py)."""

from celery import shared_task

from config import health


@shared_task(ignore_result=True)
def record_worker_heartbeat() -> None:
    """Sent by beat every WORKER_HEARTBEAT_SECONDS: a worker that takes it proves the queue is consumed."""
    health.record_worker_heartbeat(hostname=record_worker_heartbeat.request.hostname or "")
