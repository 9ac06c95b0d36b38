"""The nightly ledger check and the alert it raises when the books do not balance (issue 15).

An unbalanced ledger means money was written wrong somewhere: it is logged as an ERROR, kept as an
operations alert (config/alerts.py: /healthz/ready answers 503, /metrics shows it, platform admins see a
banner in the admin) and mailed to OPS_ALERT_EMAILS, until a later check finds the books balanced again.
"""

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation

from billing.money import ZERO
from billing.selectors import trial_balance, unbalanced_entry_ids
from config import alerts

logger = structlog.get_logger("billpay.ledger")
SHOWN_ENTRIES = 100  # entry ids kept in the result, the alert and the mail


def check_ledger() -> dict:
    """No entry is unbalanced and the trial balance sums to zero; raise or clear the alert accordingly."""
    balances = trial_balance()
    total = sum(balances.values(), ZERO)
    unbalanced = unbalanced_entry_ids()
    result = {
        "balanced": total == ZERO and not unbalanced,
        "accounts": len(balances),
        "trial_balance_total": str(total),
        "unbalanced_entry_ids": unbalanced[:SHOWN_ENTRIES],
    }
    if result["balanced"]:
        alerts.clear_alert(alerts.LEDGER_UNBALANCED)
        logger.info("ledger.balanced", accounts=len(balances))
        return result
    detail = {
        "trial_balance_total": str(total),
        "unbalanced_entries": len(unbalanced),
        "unbalanced_entry_ids": unbalanced[:SHOWN_ENTRIES],
    }
    logger.error("ledger.unbalanced", **detail)
    alerts.raise_alert(alerts.LEDGER_UNBALANCED, detail)
    _mail_ops(detail)
    return result


def _mail_ops(detail: dict) -> None:
    if not settings.OPS_ALERT_EMAILS:
        logger.warning("ledger.alert_not_mailed", reason="OPS_ALERT_EMAILS is empty")
        return
    context = {**detail, "site_url": settings.SITE_URL}
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string("emails/ops-ledger-unbalanced-subject.txt", context).strip()
        body = render_to_string("emails/ops-ledger-unbalanced-body.txt", context)
    try:
        send_mail(subject, body, None, list(settings.OPS_ALERT_EMAILS))
    except Exception:  # the alert stands (log, readiness, banner) even when the mail server does not answer
        logger.exception("ledger.alert_mail_failed")
