"""Operations alerts: a condition someone must act on (the nightly ledger check found the books unbalanced).

A raised alert is kept in the shared cache (Redis in production: every web and worker process sees it) with
no expiry until the check that raised it passes again. While it is raised /healthz/ready answers 503 with
its details, /metrics shows `billpay_alert{alert="…"} 1` and platform admins see a banner on every admin
page (templates/admin/base_site.html). Whoever raises one also logs an ERROR and mails OPS_ALERT_EMAILS.
"""

from django.core.cache import cache
from django.utils import timezone

LEDGER_UNBALANCED = "ledger_unbalanced"
KNOWN_ALERTS = (LEDGER_UNBALANCED,)
_KEY = "billpay:alert:{}"


def raise_alert(name: str, detail: dict) -> None:
    cache.set(_KEY.format(name), {"raised_at": timezone.now().isoformat(), **detail}, timeout=None)


def clear_alert(name: str) -> None:
    cache.delete(_KEY.format(name))


def active_alerts() -> dict[str, dict]:
    """{name: detail} of every raised alert; a cache that does not answer raises nothing here (readiness
    reports the cache itself)."""
    try:
        found = cache.get_many([_KEY.format(name) for name in KNOWN_ALERTS])
    except Exception:  # the cache backend's own connection errors
        return {}
    return {name: found[_KEY.format(name)] for name in KNOWN_ALERTS if _KEY.format(name) in found}
