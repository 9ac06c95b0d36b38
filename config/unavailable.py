"""Redis (the shared cache: rate limits, API nonces) or the Celery broker unreachable for a moment.

Found by the cluster run under faults (deploy/cluster.py): with Redis away every page and API call that
touched the cache answered a bare 500. Now they answer 503 with a Retry-After and a clear message: the
open APIs in their error shape ({"error": {"code": "service_unavailable", "message": ...}}, or
`nonce_store_unavailable` from the signature check, which refuses rather than skip the replay check),
pages with templates/503.html. Nothing is let through unchecked: the request is refused, and a payment
already committed stays committed (its outbox event and the beat's relay carry its side effects once the
broker is back; a retry with the same idempotency key answers it again).
"""

import redis
import structlog
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError

logger = structlog.get_logger("billpay.unavailable")

# What redis-py raises when the server cannot be reached or does not answer in time, and what Celery raises
# when a task cannot be handed to the broker.
SERVICE_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OperationalError)
RETRY_AFTER_SECONDS = 5


def unavailable_response(request) -> HttpResponse:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if request.path_info.startswith("/api/"):  # the open APIs' error shape (api/errors.py)
        message = _(
            "The service is briefly unavailable: the request may not have completed. Retry in a few seconds "
            "with the same Idempotency-Key (a payment that did complete is answered again, never made twice)."
        )
        body = {"error": {"code": "service_unavailable", "message": message}}
        return JsonResponse(body, status=503, headers=headers, json_dumps_params={"ensure_ascii": False})
    return HttpResponse(render_to_string("503.html"), status=503, headers=headers)


class ServiceUnavailableMiddleware:
    """Turns SERVICE_ERRORS raised by a view into a 503 (innermost middleware: it sees the view's errors)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, SERVICE_ERRORS):
            return None
        logger.warning(
            "service.unavailable", path=request.path, error=f"{type(exception).__name__}: {exception}"[:300]
        )
        return unavailable_response(request)
