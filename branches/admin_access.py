"""Who may see and change the branches' models in the back-office (the mechanism is `billing.access`).
Platform admins may do everything and auditors see everything; the rest is declared here, with the
branch staff links that limit supervisors and clerks to their own branches."""

from billing import access, roles
from billing.access import BRANCH_SCOPE, VIEW
from branches.models import (
    Branch,
    BranchStaff,
    BranchStatusChange,
    CounterPayment,
    CoverageAlert,
    CoverageThreshold,
    Operator,
    OutletNotice,
    PlannedClosure,
    Till,
)

SUPERVISOR = {roles.BRANCH_SUPERVISOR: VIEW}
BRANCH_STAFF = {roles.BRANCH_SUPERVISOR: VIEW, roles.BRANCH_CLERK: VIEW}


def linked_branches(user):
    """The ids of the branches the user is staff of: the rows a scoped role may see hang off these."""
    return BranchStaff.objects.filter(user=user).values("branch_id")


def declare_access() -> None:
    access.register_scope(BRANCH_SCOPE, linked_branches)
    access.register(Operator)
    access.register(BranchStaff)
    access.register(Branch, BRANCH_STAFF, scope={BRANCH_SCOPE: "pk"})
    # Registry history and planned closures: the supervisor's; tills and counter payments: the staff's.
    access.register(BranchStatusChange, SUPERVISOR, scope={BRANCH_SCOPE: "branch"})
    access.register(PlannedClosure, SUPERVISOR, scope={BRANCH_SCOPE: "branch"})
    access.register(Till, BRANCH_STAFF, scope={BRANCH_SCOPE: "branch"})
    access.register(CounterPayment, BRANCH_STAFF, scope={BRANCH_SCOPE: "branch"})
    # Cash coverage across branches: platform admins set it, auditors see it.
    access.register(CoverageThreshold)
    access.register(CoverageAlert)
    # Who was told of an outlet's suspension or closure: citizens' addresses, so the platform's and auditors'.
    access.register(OutletNotice)
