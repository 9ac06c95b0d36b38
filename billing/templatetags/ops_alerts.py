"""`{% ops_alert_banner %}`: the raised operations alerts (config/alerts.py), on every admin page, for
platform admins only."""

from django import template

from billing.access import is_platform_admin
from config import alerts

register = template.Library()


@register.inclusion_tag("billing/partials/ops_alert_banner.html", takes_context=True)
def ops_alert_banner(context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not is_platform_admin(user):
        return {"ledger": None}
    return {"ledger": alerts.active_alerts().get(alerts.LEDGER_UNBALANCED)}
