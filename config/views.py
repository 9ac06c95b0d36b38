"""Operational endpoints."""

from django.http import JsonResponse
from django.views.decorators.http import require_GET

from config.health import broker_status, database_status


@require_GET
def healthz(request):
    """200 when the database answers and the broker does (or tasks run eagerly); 503 otherwise."""
    database = database_status()
    broker = broker_status()
    healthy = database["status"] == "ok" and broker["status"] in ("ok", "eager")
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "database": database, "broker": broker},
        status=200 if healthy else 503,
    )
