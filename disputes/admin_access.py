"""Who may see disputes in the back-office (mechanism: billing.access): reconciliation officers and
branch supervisors read them; answering goes through disputes.services."""

from billing import access, roles
from billing.access import VIEW
from disputes.models import Dispute


def declare_access() -> None:
    access.register(Dispute, {roles.RECONCILIATION_OFFICER: VIEW, roles.BRANCH_SUPERVISOR: VIEW})
