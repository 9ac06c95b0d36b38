"""The branches' panel on the staff home (mechanism: billing/dashboard.py): outlet coverage by district."""

from django.utils.translation import gettext_lazy as _

from billing.dashboard import Chart, Panel, register_panel
from branches import selectors
from branches.choices import BranchStatus
from branches.models import Branch


def _coverage(user, today):
    rows = selectors.outlets_by_district(user)
    return Chart(
        columns=[str(_("District")), *(str(status.label) for status in BranchStatus)],
        rows=[(row["district"], row["open"], row["suspended"], row["closed"]) for row in rows],
        empty=str(_("No outlet.")),
    )


def declare_panels() -> None:
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
