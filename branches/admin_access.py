"""Who may see and change the branches' models in the back-office (the mechanism is `billing.access`).
Platform admins may do everything and auditors see everything; the rest is declared here, with the
branch staff links that limit supervisors and clerks to their own branches."""

from billing import access, roles
from billing.access import BRANCH_SCOPE, EDIT, VIEW
from branches.models import (
    Agent,
    AgentPayment,
    AgentStaff,
    Branch,
    BranchStaff,
    BranchStatusChange,
    CounterPayment,
    CoverageAlert,
    CoverageThreshold,
    FloatTopUp,
    LowFloatAlert,
    Operator,
    OutletNotice,
    PlannedClosure,
    Till,
)

SUPERVISOR = {roles.BRANCH_SUPERVISOR: VIEW}
SUPERVISOR_EDITS = {roles.BRANCH_SUPERVISOR: EDIT}
SUPERVISOR_AND_RECONCILIATION = {roles.BRANCH_SUPERVISOR: VIEW, roles.RECONCILIATION_OFFICER: VIEW}
BRANCH_STAFF = {roles.BRANCH_SUPERVISOR: VIEW, roles.BRANCH_CLERK: VIEW}


def linked_branches(user):
    """The ids of the branches the user is staff of: the rows a scoped role may see hang off these."""
    return BranchStaff.objects.filter(user=user).values_list("branch_id", flat=True)


def declare_access() -> None:
    access.register_scope(BRANCH_SCOPE, linked_branches)
    # Supervisors see their own operator (the one their branches belong to), to register its agents.
    access.register(Operator, SUPERVISOR, scope={BRANCH_SCOPE: "branches"})
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
    # Agents with a float (issue 18, item 4): the operator's staff — the supervisors of its branches —
    # register its agents and see only those; who works for an agent is set by platform admins (it names
    # a user); payments, top-ups and alerts are records.
    access.register(Agent, SUPERVISOR_EDITS, scope={BRANCH_SCOPE: "operator__branches"})
    access.register(AgentStaff, SUPERVISOR, scope={BRANCH_SCOPE: "agent__operator__branches"})
    access.register(
        AgentPayment, SUPERVISOR_AND_RECONCILIATION, scope={BRANCH_SCOPE: "agent__operator__branches"}
    )
    access.register(
        FloatTopUp, SUPERVISOR_AND_RECONCILIATION, scope={BRANCH_SCOPE: "agent__operator__branches"}
    )
    access.register(LowFloatAlert, SUPERVISOR, scope={BRANCH_SCOPE: "agent__operator__branches"})
