"""Prometheus metrics at /metrics: payments by channel and outcome, Celery tasks' latency and failures, the
length of each Celery queue in Redis, and whether an operations alert (an unbalanced ledger) is raised.

Several gunicorn workers (and the Celery worker's processes on the same host) each count in their own
process. With `PROMETHEUS_MULTIPROC_DIR` set (deploy/gunicorn.conf.py sets it for the web, the worker unit
must name the same directory) every process writes its counts to files there and /metrics adds them up;
without it (the demo, the tests) the process's own registry is read. The variable must be set before
`prometheus_client` is imported: in the environment, not in the settings.

/metrics answers only to clients inside METRICS_ALLOWED_NETWORKS (config/client_ip.py decides who the
client is); everyone else gets 404, as if it did not exist.
"""

import ipaddress
import os

from celery import signals
from django.conf import settings
from django.http import Http404, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from config import alerts
from config.client_ip import _networks, client_ip

# Each process writes its own files there from its first count: the directory must exist by then.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

PAYMENTS = Counter(
    "billpay_payments_total",
    "Payments by channel and outcome (posted, replayed, refused, reversed, refunded, refund_failed).",
    ["channel", "outcome"],
)
TASK_SECONDS = Histogram(
    "billpay_task_duration_seconds",
    "Time Celery tasks took, by task and state.",
    ["task", "state"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
TASK_FAILURES = Counter("billpay_task_failures_total", "Celery tasks that raised, by task.", ["task"])
HTTP_RESPONSES = Counter("billpay_http_responses_total", "Responses by status class (2xx, 4xx…).", ["status"])


def count_payment(*, channel: str, outcome: str) -> None:
    PAYMENTS.labels(channel=channel or "unknown", outcome=outcome).inc()


# --- Celery tasks ---------------------------------------------------------------------------------------


@signals.task_postrun.connect(dispatch_uid="billpay.metrics.postrun")
def _task_done(task=None, state=None, **kwargs) -> None:
    import time

    started = getattr(task.request, "billpay_started", None)
    if started is not None:
        TASK_SECONDS.labels(task=task.name, state=state or "UNKNOWN").observe(time.monotonic() - started)


@signals.task_failure.connect(dispatch_uid="billpay.metrics.failure")
def _task_failed(sender=None, **kwargs) -> None:
    TASK_FAILURES.labels(task=getattr(sender, "name", "unknown")).inc()


# --- Read at scrape time -----------------------------------------------------------------------------------


def celery_queue_names() -> list[str]:
    from config.celery import app

    names = set(app.amqp.queues.keys()) | {app.conf.task_default_queue or "celery"}
    return sorted(names)


class ScrapeTimeCollector:
    """What is measured when Prometheus asks, not counted: queue lengths (Redis LLEN) and raised alerts."""

    def collect(self):
        queues = GaugeMetricFamily(
            "billpay_celery_queue_length", "Messages waiting in each Celery queue (Redis).", labels=["queue"]
        )
        broker = settings.CELERY_BROKER_URL
        if broker.startswith(("redis://", "rediss://")) and not settings.CELERY_TASK_ALWAYS_EAGER:
            import redis

            try:
                client = redis.Redis.from_url(broker, socket_timeout=2, socket_connect_timeout=2)
                with client.pipeline(transaction=False) as pipe:
                    names = celery_queue_names()
                    for name in names:
                        pipe.llen(name)
                    lengths = pipe.execute()
                for name, length in zip(names, lengths, strict=True):
                    queues.add_metric([name], length)
            except redis.RedisError:
                pass  # no sample: Prometheus sees the gap, /healthz/ready says why
        yield queues
        raised = GaugeMetricFamily(
            "billpay_alert", "1 while an operations alert is raised.", labels=["alert"]
        )
        active = alerts.active_alerts()
        for name in alerts.KNOWN_ALERTS:
            raised.add_metric([name], 1 if name in active else 0)
        yield raised


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_ProcessRegistry())
    registry.register(ScrapeTimeCollector())
    return registry


class _ProcessRegistry:
    """This process's default registry, as one collector of a per-scrape registry."""

    def collect(self):
        yield from REGISTRY.collect()


def _allowed(request) -> bool:
    address = client_ip(request)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    networks = _networks(tuple(settings.METRICS_ALLOWED_NETWORKS))
    return any(ip.version == net.version and ip in net for net in networks)


def metrics_view(request):
    if request.method != "GET" or not _allowed(request):
        raise Http404
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


class CountResponsesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        HTTP_RESPONSES.labels(status=f"{response.status_code // 100}xx").inc()
        return response
