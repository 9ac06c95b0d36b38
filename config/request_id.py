"""A request id on every log line of a request and of the Celery tasks it starts.

The id comes from the `X-Request-ID` header only when the request came through a trusted proxy (nginx sets
it to its own `$request_id`, deploy/nginx/billpay.conf, so its access log and ours name the same id);
anyone else could write any header, so otherwise the platform makes one. It is returned in the response's
`X-Request-ID`, sent with every task published while the request runs (a message header) and bound again
in the worker for the task's lines, and for the tasks that task starts.
"""

import re
import time
import uuid

import structlog
from celery import signals

from config import client_ip

HEADER = "X-Request-ID"
TASK_HEADER = "billpay_request_id"
# What a proxy's id may look like: nginx's is 32 hex digits, others use UUIDs. Anything else is replaced.
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{8,64}")

logger = structlog.get_logger("billpay.tasks")


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return structlog.contextvars.get_contextvars().get("request_id")


def came_through_trusted_proxy(request) -> bool:
    """True when the peer is one of TRUSTED_PROXIES, or every request passes TRUSTED_PROXY_COUNT proxies."""
    from django.conf import settings

    networks = client_ip.trusted_networks()
    if not networks:
        return settings.TRUSTED_PROXY_COUNT > 0
    peer = client_ip._parse(request.META.get("REMOTE_ADDR", "") or "")
    return peer is not None and client_ip._trusted(peer, networks)


def request_id_for(request) -> str:
    offered = request.META.get("HTTP_X_REQUEST_ID", "")
    if offered and _ACCEPTABLE.fullmatch(offered) and came_through_trusted_proxy(request):
        return offered
    return new_request_id()


class RequestIdMiddleware:
    """First in MIDDLEWARE: every later middleware's and view's lines carry the id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_for(request)
        request.request_id = request_id
        # Bound and then reset to what it was (nothing: every request resets its own), rather than
        # `clear_contextvars()` on both sides: that walks every context variable of the thread, and a process
        # that has reversed a URL has one for each of Django's 80-odd URL resolvers (their asgiref `Local`s),
        # 0.23 M instructions a page (docs/benchmarks.md, the lookup page). Nothing else binds a key for
        # the length of a request (an eager task unbinds its own, below).
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            # Django logs a failed response (django.request) after the middleware has returned: that line
            # finds the id on its request (config/logs.py).
            structlog.contextvars.reset_contextvars(**tokens)
        response[HEADER] = request_id
        return response


# --- Celery: the id travels in a message header and is bound again in the worker ---------------------------


@signals.before_task_publish.connect(dispatch_uid="billpay.request_id.publish")
def _send_request_id(headers=None, **kwargs) -> None:
    request_id = current_request_id()
    if request_id and headers is not None:
        headers.setdefault(TASK_HEADER, request_id)


def _task_request_id(task) -> str | None:
    request = task.request
    return getattr(request, TASK_HEADER, None) or (getattr(request, "headers", None) or {}).get(TASK_HEADER)


@signals.task_prerun.connect(dispatch_uid="billpay.request_id.prerun")
def _bind_task(task_id=None, task=None, **kwargs) -> None:
    # An eager task (the demo) runs inside the request: it keeps the request's id.
    inherited = current_request_id() if task.request.is_eager else None
    request_id = _task_request_id(task) or inherited or new_request_id()
    task.request.billpay_own_request_id = not inherited
    if not task.request.is_eager:
        structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id, task_id=task_id, task=task.name)
    task.request.billpay_started = time.monotonic()
    logger.info("task.started")


@signals.task_postrun.connect(dispatch_uid="billpay.request_id.postrun")
def _unbind_task(task_id=None, task=None, state=None, **kwargs) -> None:
    started = getattr(task.request, "billpay_started", None)
    seconds = time.monotonic() - started if started is not None else None
    logger.info("task.finished", state=state, seconds=round(seconds, 4) if seconds is not None else None)
    if task.request.is_eager and not getattr(task.request, "billpay_own_request_id", True):
        structlog.contextvars.unbind_contextvars("task_id", "task")  # back to the request that ran it
    else:
        structlog.contextvars.clear_contextvars()
