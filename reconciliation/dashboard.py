"""Reconciliation's panels on the staff home (the mechanism: billing/dashboard.py): open discrepancies by
class and age, settlement batches of today and yesterday, write-offs waiting for a second person."""

from django.utils.translation import gettext_lazy as _

from billing.dashboard import APPROVALS, Chart, Count, Panel, register_count, register_panel
from reconciliation import selectors
from reconciliation.choices import MatchClass, SettlementStatus
from reconciliation.models import Discrepancy, SettlementBatch


def _discrepancies(user, today):
    ages = [_("0–1 days"), _("2–7 days"), _("over 7 days")]
    rows = selectors.open_discrepancies_by_class_and_age(user, today)
    return Chart(
        columns=[str(_("Class")), str(_("Unresolved")), *(str(age) for age in ages)],
        rows=[(str(MatchClass(klass).label), total, *by_age) for klass, by_age, total in rows],
        empty=str(_("No open discrepancy.")),
    )


def _settlements(user, today):
    rows = selectors.settlement_status(user, today)
    return Chart(
        columns=[str(_("Business day · status")), str(_("Batches")), str(_("To pay the billers (¥)"))],
        rows=[
            (
                f"{row['business_date']:%m-%d} {SettlementStatus(row['status']).label}",
                row["count"],
                row["net"],
            )
            for row in rows
        ],
        empty=str(_("No settlement batch for today or yesterday yet.")),
    )


def declare_panels() -> None:
    register_panel(
        Panel(
            "discrepancies",
            _("Reconciliation exceptions by class and age"),
            40,
            Discrepancy,
            _discrepancies,
            "admin:reconciliation_discrepancy_changelist",
        )
    )
    register_panel(
        Panel(
            "settlements",
            _("Settlement: today's and yesterday's batches"),
            50,
            SettlementBatch,
            _settlements,
            "admin:reconciliation_settlementbatch_changelist",
        )
    )
    register_count(
        APPROVALS,
        "write_offs",
        Count(
            _("Write-offs waiting for a second officer's approval"),
            Discrepancy,
            selectors.write_offs_awaiting_approval,
            "admin:reconciliation_discrepancy_changelist",
        ),
    )
