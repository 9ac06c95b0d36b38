"""Disputes' panel on the staff home (mechanism: billing/dashboard.py): open disputes by who answers
them, and how many of those are past their response time (escalated)."""

from django.utils.translation import gettext_lazy as _

from billing.dashboard import Chart, Panel, register_panel
from disputes import selectors, taxonomy
from disputes.models import Dispute


def _open_disputes(user, today):
    rows = selectors.open_disputes_by_answerer(user, today)
    return Chart(
        columns=[str(_("Answered by")), str(_("Open")), str(_("Overdue or escalated"))],
        rows=[(str(taxonomy.Answerer(answerer).label), total, late) for answerer, total, late in rows],
        empty=str(_("No open dispute.")),
    )


def declare_panels() -> None:
    register_panel(
        Panel(
            "disputes",
            _("Disputes and complaints: open, and past their response time"),
            45,
            Dispute,
            _open_disputes,
            "admin:disputes_dispute_changelist",
        )
    )
