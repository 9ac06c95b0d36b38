"""/metrics: payments by channel and outcome, task latency and failures from a real worker, the length of the
Celery queues in Redis; only for METRICS_ALLOWED_NETWORKS; summed over several gunicorn workers."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from billing.exceptions import PaymentRefused
from config.celery import app as celery_app
from tests.factories import BillFactory
from tests.observability.conftest import scrape
from tests.support import database_url, pay

pytestmark = pytest.mark.django_db
ROOT = Path(settings.BASE_DIR)


@celery_app.task(name="tests.observability.always_fails")
def always_fails():
    raise RuntimeError("this task fails on purpose")


def payments(samples, channel, outcome) -> float:
    return samples.get(("billpay_payments_total", (("channel", channel), ("outcome", outcome))), 0.0)


def test_metrics_are_not_shown_outside_the_allowed_networks(client):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404


@override_settings(METRICS_ALLOWED_NETWORKS=["10.1.0.0/16"], TRUSTED_PROXIES=["127.0.0.1/32"])
def test_behind_the_proxy_the_client_address_decides(client):
    # nginx on the loopback forwards for 203.0.113.9: that client is outside, whatever the peer is.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 404
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 200


def test_payments_are_counted_by_channel_and_outcome(client, django_capture_on_commit_callbacks):
    before = scrape(client)
    bill = BillFactory(amount_due=Decimal("20.00"))
    with django_capture_on_commit_callbacks(execute=True):
        pay(bill.account, "20.00", key="m-1")
        pay(bill.account, "20.00", key="m-1")
    with pytest.raises(PaymentRefused):
        pay(bill.account, "-1", key="m-2")
    after = scrape(client)
    for outcome in ("posted", "replayed", "refused"):
        assert payments(after, "online", outcome) - payments(before, "online", outcome) == 1, outcome


def _length(samples, queue):
    return samples.get(("billpay_celery_queue_length", (("queue", queue),)))


@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_queue_depth_is_the_length_of_each_celery_queue_in_redis(client):
    queue = celery_app.conf.task_default_queue or "celery"
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(queue)
    try:
        assert _length(scrape(client), queue) == 0
        for _ in range(3):
            celery_app.send_task("tests.observability.always_fails", queue=queue)
        assert _length(scrape(client), queue) == broker.llen(queue) == 3
    finally:
        broker.delete(queue)


HEARTBEAT = "config.tasks.record_worker_heartbeat"


@pytest.mark.django_db(transaction=True)
def test_task_latency_and_failures_are_counted(client, real_worker):
    succeeded = ("billpay_task_duration_seconds_count", (("state", "SUCCESS"), ("task", HEARTBEAT)))
    failures = ("billpay_task_failures_total", (("task", "tests.observability.always_fails"),))
    before = scrape(client)
    with pytest.raises(RuntimeError):
        always_fails.delay().get(timeout=20)
    celery_app.send_task(HEARTBEAT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and scrape(client).get(succeeded, 0) <= before.get(succeeded, 0):
        time.sleep(0.1)
    after = scrape(client)
    assert after.get(failures, 0) - before.get(failures, 0) == 1
    assert after.get(succeeded, 0) - before.get(succeeded, 0) == 1


def test_several_gunicorn_workers_are_counted_together(tmp_path):
    """deploy/gunicorn.conf.py with two workers: /metrics adds up what every worker answered."""
    multiproc = tmp_path / "prometheus"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "LOG_FORMAT": "json",
    }
    log = tmp_path / "gunicorn.log"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "deploy/gunicorn.conf.py",
         "config.wsgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz/live", timeout=10) as first:
                    first_request_id = first.headers["X-Request-ID"]
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.3)
        # Requests at once, until both sync workers have answered some (each then has its own file).
        sent = 1
        for _round in range(30):
            threads = [threading.Thread(target=_get_many, args=(f"{base}/healthz/live", 5)) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            sent += 8 * 5
            if len(_workers_counted(multiproc)) == 2:
                break
        text = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    answered = {
        sample.labels["status"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "billpay_http_responses_total"
    }
    assert len(_workers_counted(multiproc)) == 2
    # gunicorn's own lines are the platform's JSON lines; its access line names the request's id.
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    probes = [line for line in access if "GET /healthz/live" in line["event"]]
    assert len(probes) >= sent  # a probe that timed out while starting was still answered
    assert answered["2xx"] == len(probes)  # every answer counted, whichever worker gave it
    # …and each access line names the id its response carried (the first one: the id of the first probe).
    assert all(re.fullmatch(r"[0-9a-f]{32}", line["request_id"]) for line in probes)
    assert first_request_id in {line["request_id"] for line in probes}
    assert all(line["timestamp"] and line["level"] == "info" for line in access)


def _workers_counted(multiproc: Path) -> set[str]:
    """The processes that wrote counts: prometheus_client names each file counter_<pid>.db."""
    return {path.stem.rsplit("_", 1)[-1] for path in multiproc.glob("counter_*.db")}


def _get_many(url: str, times: int) -> None:
    for _ in range(times):
        urllib.request.urlopen(url, timeout=30).read()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
