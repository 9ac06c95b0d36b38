"""/healthz/live asks nothing; /healthz/ready asks the database, broker, cache, a worker's heartbeat, beat's
last run and the raised alerts, and answers 503 with the details when one fails. A real Celery worker takes
the heartbeat beat sends; the request id of the request that sent a task is on the task's lines."""

import time

import pytest
from celery.beat import ScheduleEntry, Scheduler
from django.core.cache import cache
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from config import health
from config.celery import app as celery_app
from config.request_id import RequestIdMiddleware
from config.tasks import record_worker_heartbeat

NOT_EAGER = override_settings(CELERY_TASK_ALWAYS_EAGER=False)


def test_liveness_asks_nothing_of_the_database_or_the_cache(client):
    # No django_db mark: a query would raise. No cache backend exists: using one would raise.
    with override_settings(CACHES={"default": {"BACKEND": "no.such.Backend"}}):
        response = client.get("/healthz/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readiness_in_the_demo_needs_no_worker_or_beat(client):
    with override_settings(CELERY_TASK_ALWAYS_EAGER=True):
        response = client.get("/healthz/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["database"]["status"] == "ok" and body["cache"]["status"] == "ok"
    assert body["worker"]["status"] == "eager" and body["beat"]["status"] == "eager"


@pytest.mark.django_db
def test_readiness_is_degraded_without_a_worker_heartbeat_or_beat(client):
    with NOT_EAGER:
        response = client.get("/healthz/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["broker"]["status"] == "ok" and body["database"]["status"] == "ok"
    assert body["worker"] == {"status": "error", "detail": "no worker heartbeat recorded yet"}
    assert body["beat"] == {"status": "error", "detail": "no task sent by beat recorded yet"}


@pytest.mark.django_db
def test_a_stale_heartbeat_degrades_readiness(client, settings):
    cache.set(health.WORKER_HEARTBEAT_KEY, {"at": time.time() - 600, "hostname": "w1"}, timeout=None)
    cache.set(health.BEAT_LAST_RUN_KEY, {"at": time.time()}, timeout=None)
    with NOT_EAGER:
        body = client.get("/healthz/ready").json()
    assert body["worker"]["status"] == "error"
    assert body["worker"]["age_seconds"] >= 600 and body["worker"]["hostname"] == "w1"
    assert body["beat"]["status"] == "ok"


@pytest.mark.django_db
def test_an_unreachable_cache_degrades_readiness(client):
    unreachable = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
    }
    with NOT_EAGER, override_settings(CACHES={"default": unreachable}):
        response = client.get("/healthz/ready")
    assert response.status_code == 503
    assert response.json()["cache"]["status"] == "error"


@pytest.mark.django_db
def test_the_old_healthz_still_answers_for_deploy_scripts(client):
    with NOT_EAGER:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert set(response.json()) == {"status", "database", "broker"}


def _wait_for(condition, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.django_db(transaction=True)
def test_beat_sends_the_heartbeat_a_worker_takes_and_readiness_turns_ready(client, real_worker):
    scheduler = Scheduler(celery_app, lazy=True)
    entry = ScheduleEntry(
        name="health-worker-heartbeat",
        task="config.tasks.record_worker_heartbeat",
        schedule=30,
        app=celery_app,
    )
    scheduler.apply_async(entry, advance=False)  # beat's own way of sending: marks the message as beat's
    assert cache.get(health.BEAT_LAST_RUN_KEY) is not None
    assert _wait_for(lambda: cache.get(health.WORKER_HEARTBEAT_KEY) is not None)
    with NOT_EAGER:
        response = client.get("/healthz/ready")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["worker"]["status"] == "ok" and body["worker"]["hostname"]
    assert body["beat"]["status"] == "ok"


def _heartbeat_line(line: dict, *events: str) -> bool:
    """A line of the heartbeat task itself: not of the worker fixture's ping, whose lines may come later."""
    return line.get("task") == "config.tasks.record_worker_heartbeat" and line["event"] in events


@pytest.mark.django_db(transaction=True)
@override_settings(TRUSTED_PROXIES=["127.0.0.1/32"])
def test_the_request_id_travels_into_the_task_the_request_starts(real_worker, log_lines):
    def view(request):
        record_worker_heartbeat.delay()
        return HttpResponse("sent")

    request = RequestFactory().get("/", HTTP_X_REQUEST_ID="nginx-0123456789abcdef", REMOTE_ADDR="127.0.0.1")
    response = RequestIdMiddleware(view)(request)
    assert response["X-Request-ID"] == "nginx-0123456789abcdef"
    assert _wait_for(lambda: any(_heartbeat_line(line, "task.finished") for line in log_lines()))
    task_lines = [
        line for line in log_lines() if _heartbeat_line(line, "task.started", "task.finished")
    ]  # Celery's own "succeeded in" line carries the same id
    assert [line["event"] for line in task_lines] == ["task.started", "task.finished"]
    assert {line["request_id"] for line in task_lines} == {"nginx-0123456789abcdef"}
    assert task_lines[0]["task_id"] and task_lines[1]["state"] == "SUCCESS"


@pytest.mark.django_db(transaction=True)
def test_a_task_sent_outside_any_request_gets_its_own_request_id(real_worker, log_lines):
    import structlog

    structlog.contextvars.clear_contextvars()
    record_worker_heartbeat.delay()
    assert _wait_for(lambda: any(_heartbeat_line(line, "task.finished") for line in log_lines()))
    started = next(line for line in log_lines() if _heartbeat_line(line, "task.started"))
    assert started["request_id"] not in ("-", None) and len(started["request_id"]) == 32
