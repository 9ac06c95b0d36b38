"""Operational endpoints."""

from django.http import JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET
from django.views.generic.base import RedirectView

from config import health
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


@require_GET
def healthz_live(request):
    """Liveness: the process answers. No database, broker or cache is asked, so a restart is not ordered
    because something else is down."""
    return JsonResponse({"status": "ok"})


@require_GET
def healthz_ready(request):
    """Readiness: database, broker, cache, a recent worker heartbeat, beat's last run and no raised
    operations alert; 503 with every check's details when one fails."""
    ready, checks = health.readiness()
    return JsonResponse({"status": "ok" if ready else "degraded", **checks}, status=200 if ready else 503)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: a form sent without a valid token gets the platform's page in the user's language
    (nothing was saved), not Django's bare English "CSRF verification failed"."""
    return render(request, "403_csrf.html", status=403)


@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request):
    """Browsers ask every site for /favicon.ico: send them to the static icon rather than a 404."""
    return RedirectView.as_view(url=static("favicon.svg"), permanent=False)(request)
