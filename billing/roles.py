"""Staff roles are Django groups with these names; what each may see is scoped in the admin."""

from django.utils.translation import gettext_lazy as _

PLATFORM_ADMIN = "platform_admin"
BILLER_OPERATOR = "biller_operator"
BRANCH_SUPERVISOR = "branch_supervisor"
BRANCH_CLERK = "branch_clerk"
RECONCILIATION_OFFICER = "reconciliation_officer"
AUDITOR = "auditor"

STAFF_ROLES = (
    PLATFORM_ADMIN,
    BILLER_OPERATOR,
    BRANCH_SUPERVISOR,
    BRANCH_CLERK,
    RECONCILIATION_OFFICER,
    AUDITOR,
)

# What each role is called on the pages staff see (the group name stays the code).
ROLE_NAMES = {
    PLATFORM_ADMIN: _("Platform administrator"),
    BILLER_OPERATOR: _("Biller operator"),
    BRANCH_SUPERVISOR: _("Outlet supervisor"),
    BRANCH_CLERK: _("Outlet clerk"),
    RECONCILIATION_OFFICER: _("Reconciliation officer"),
    AUDITOR: _("Auditor"),
}


def role_name(role: str) -> str:
    """The display name of a role in the user's language; the code itself for a name not listed."""
    return str(ROLE_NAMES.get(role, role))
