"""Who may work the reconciliation workbench."""

from billing import access, roles
from reconciliation.exceptions import (
    ReconciliationError,
)


def _require_recon_staff(actor) -> None:
    held = access.roles_of(actor)
    if not held & {roles.PLATFORM_ADMIN, roles.RECONCILIATION_OFFICER} and not getattr(
        actor, "is_superuser", False
    ):
        raise ReconciliationError("not_reconciliation_staff")


def is_recon_staff(user) -> bool:
    try:
        _require_recon_staff(user)
    except ReconciliationError:
        return False
    return True
