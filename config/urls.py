from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from billing import staff_auth_views
from branches import urls as branches_urls
from config import metrics
from config import views as config_views

# The built-in sandbox bank exists only when it is switched on (SANDBOX_BANK_ENABLED, default: DEBUG): with
# it off its pages have no address at all, rather than an address that answers 404. Read when the URLconf
# is loaded, like every setting at start; tests load it again after switching it (tests/payers/conftest.py).
sandbox_bank = (
    [
        path("sandbox-bank/", include("payers.sandbox_bank.urls")),
        # The sandbox biller (billing/sandbox_biller): a biller's own system speaking docs/biller-protocol.md.
        path("sandbox-biller/", include("billing.sandbox_biller.urls")),
        # A sandbox IC-card system (api/sandbox_card_system): confirms card top-ups over the biller API.
        path("sandbox-card-system/", include("api.sandbox_card_system.urls")),
        # The sandbox fiscal issuer (billing/sandbox_fiscal): a non-tax e-receipt platform
        # (docs/fiscal-receipts.md).
        path("sandbox-fiscal/", include("billing.sandbox_fiscal.urls")),
    ]
    if settings.SANDBOX_BANK_ENABLED
    else []
)

urlpatterns = [
    # The open APIs first: Django tries the patterns in order, and the partners' payments are the busiest
    # requests (no other pattern starts with api/, so the order changes nothing else).
    path("api/", include("api.urls")),
    path("", include("payers.urls")),
    *sandbox_bank,
    path("accounts/", include("allauth.urls")),
    path("healthz", config_views.healthz, name="healthz"),
    path("healthz/live", config_views.healthz_live, name="healthz_live"),
    path("healthz/ready", config_views.healthz_ready, name="healthz_ready"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("favicon.ico", config_views.favicon, name="favicon"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("staff/2fa/setup/", staff_auth_views.staff_mfa_setup, name="staff_mfa_setup"),
    path("staff/2fa/verify/", staff_auth_views.staff_mfa_verify, name="staff_mfa_verify"),
    path("admin/", admin.site.urls),
    path("hosted/", include("api.hosted.urls")),  # partners' hosted checkout (api.checkout)
    path("counter/", include(branches_urls.counter_patterns)),
    path("agent/", include(branches_urls.agent_patterns)),
    path("outlets/", include(branches_urls.outlet_patterns)),
    path("slips/", include(branches_urls.slip_patterns)),
    path("", include("reconciliation.urls")),
    path("", include("disputes.urls")),
]
