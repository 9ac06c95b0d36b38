"""Operational endpoints."""

from django.http import JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET
from django.views.generic.base import RedirectView

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


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: a form sent without a valid token gets the platform's page in the user's language
    (nothing was saved), not Django's bare English "CSRF verification failed"."""
    return render(request, "403_csrf.html", status=403)


@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request):
    """Browsers ask every site for /favicon.ico: send them to the static icon rather than a 404."""
    return RedirectView.as_view(url=static("favicon.svg"), permanent=False)(request)
