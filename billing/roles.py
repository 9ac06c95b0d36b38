"""Staff roles are Django groups with these names; what each may see is scoped in the admin."""

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
