"""The branches' panels on the staff home (mechanism: billing/dashboard.py): outlet coverage by district,
and agents whose float is below its alert threshold."""

from django.utils.translation import gettext_lazy as _

from billing.dashboard import Chart, Panel, register_panel
from branches import selectors
from branches.choices import BranchStatus
from branches.models import Branch, LowFloatAlert


def _coverage(user, today):
    rows = selectors.outlets_by_district(user)
    return Chart(
        columns=[str(_("District")), *(str(status.label) for status in BranchStatus)],
        rows=[(row["district"], row["open"], row["suspended"], row["closed"]) for row in rows],
        empty=str(_("No outlet.")),
    )


def _low_float(user, today):
    agents = selectors.agents_with_low_float(user)
    return Chart(
        columns=[str(_("Agent")), str(_("Float left (¥)")), str(_("Alert below (¥)"))],
        rows=[
            (f"{agent.name} ({agent.code})", agent.float_left, agent.low_float_threshold) for agent in agents
        ],
        empty=str(_("No agent is low on float.")),
    )


def declare_panels() -> None:
    register_panel(
        Panel(
            "low_float",
            _("Agents low on float"),
            65,
            LowFloatAlert,
            _low_float,
            "admin:branches_agent_changelist",
        )
    )
    register_panel(
        Panel(
            "outlets",
            _("Outlet coverage by district"),
            60,
            Branch,
            _coverage,
            "admin:branches_branch_changelist",
        )
    )
