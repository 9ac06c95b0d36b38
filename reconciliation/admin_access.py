"""Who may see and change reconciliation's models in the back-office (the mechanism is
`billing.access`). Platform admins may do everything and auditors see everything; reconciliation
officers see every row. The workbench's actions (assign, resolve, approve) are services that check the
role themselves; the admin rows stay read-only for every role."""

from billing import access, roles
from billing.access import VIEW
from reconciliation.models import (
    Complaint,
    Discrepancy,
    ReconciliationRun,
    SettlementBatch,
    SettlementRun,
    StatementFile,
    WorkingDayOverride,
)


def declare_access() -> None:
    for model in (StatementFile, ReconciliationRun, Discrepancy, SettlementBatch, SettlementRun, Complaint):
        access.register(model, {roles.RECONCILIATION_OFFICER: VIEW})
    # The working calendar settlement follows: platform admins keep it, officers read it.
    access.register(WorkingDayOverride, {roles.RECONCILIATION_OFFICER: VIEW})
