"""Who may see disputes in the back-office (mechanism: billing.access): reconciliation officers and
platform admins answer them (the admin's action, disputes.services.answer_dispute)."""

from billing import access, roles
from billing.access import VIEW
from disputes.models import Dispute


def declare_access() -> None:
    access.register(Dispute, {roles.RECONCILIATION_OFFICER: VIEW})
