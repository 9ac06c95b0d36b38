"""Who may see and change what in the back-office: the one place that says so.

A staff member's roles are the Django groups named in `billing.roles`; superusers are platform admins.
`PERMISSIONS` says, per role, which actions each model allows; `ROLE_SCOPE` says which rows: all of them,
or only those of the billers (`BillerStaff`) or branches (`BranchStaff`) the user is linked to, found
through the paths in `SCOPE_PATHS`. Django's model permissions play no part: a role's group may hold none.
Anything not listed is refused, and a scoped role on a model without a scope path sees nothing.
"""

from django.contrib.auth.models import Group
from django.db.models import Model, Q, QuerySet

from billing import roles
from billing.models import Bill, Biller, BillerStaff, CustomerAccount, Payment
from branches.models import Branch, BranchStaff

VIEW = frozenset({"view"})
EDIT = frozenset({"view", "add", "change"})
FULL = frozenset({"view", "add", "change", "delete"})
ACTIONS = ("view", "add", "change", "delete")

# Every model registered in the admin, by `app_label.model_name`.
ADMIN_MODELS = (
    "auth.group",
    "auth.user",
    "billing.auditevent",
    "billing.bill",
    "billing.biller",
    "billing.billercategory",
    "billing.billerstaff",
    "billing.customeraccount",
    "billing.journalentry",
    "billing.ledgeraccount",
    "billing.payment",
    "branches.branch",
    "branches.branchstaff",
    "branches.operator",
    "payers.payer",
    "billing.billimportjob",
    "billing.feeschedule",
    # Open APIs (api/): platform admins onboard partners and keys; auditors see them.
    "api.apicredential",
    "api.billerapiaccess",
    "api.partner",
    "api.webhookdelivery",
    "payers.gatewayorder",
    "payers.orderline",
    "account.emailaddress",
    "mfa.authenticator",
    # Failed-login records (django-axes): platform admins unlock (billing/admin_logins.py), auditors see.
    "axes.accessattempt",
    # branches app: registry history, planned closures, tills, counter payments, cash coverage
    "branches.branchstatuschange",
    "branches.plannedclosure",
    "branches.till",
    "branches.counterpayment",
    "branches.coveragethreshold",
    "branches.coveragealert",
    "reconciliation.statementfile",
    "reconciliation.reconciliationrun",
    "reconciliation.discrepancy",
    "reconciliation.settlementbatch",
    "reconciliation.settlementrun",
    "reconciliation.complaint",
)

# role → model → allowed actions. The admin's ReadOnlyAdmin still refuses writes to ledger rows and
# payments for everyone, platform admins included: those change only through the services.
PERMISSIONS: dict[str, dict[str, frozenset[str]]] = {
    roles.PLATFORM_ADMIN: dict.fromkeys(ADMIN_MODELS, FULL),
    roles.BILLER_OPERATOR: {
        "billing.billimportjob": VIEW,
        "billing.feeschedule": VIEW,
        "billing.biller": VIEW,
        "billing.customeraccount": EDIT,
        "billing.bill": EDIT,
        "billing.payment": VIEW,
        # Online payments to the biller's accounts, including late ones kept as credit or refunded.
        "payers.orderline": VIEW,
    },
    roles.BRANCH_SUPERVISOR: {
        "branches.branch": VIEW,
        "billing.payment": VIEW,
        "branches.branchstatuschange": VIEW,
        "branches.plannedclosure": VIEW,
        "branches.till": VIEW,
        "branches.counterpayment": VIEW,
    },
    roles.BRANCH_CLERK: {
        "branches.branch": VIEW,
        "billing.payment": VIEW,
        "branches.till": VIEW,
        "branches.counterpayment": VIEW,
    },
    roles.RECONCILIATION_OFFICER: {
        "billing.payment": VIEW,
        "billing.ledgeraccount": VIEW,
        "billing.journalentry": VIEW,
        "billing.auditevent": VIEW,
        "payers.gatewayorder": VIEW,
        "payers.orderline": VIEW,
        # Reconciliation: the workbench's actions (assign, resolve, approve) are services that check the
        # role themselves; the admin rows stay read-only for every role.
        "reconciliation.statementfile": VIEW,
        "reconciliation.reconciliationrun": VIEW,
        "reconciliation.discrepancy": VIEW,
        "reconciliation.settlementbatch": VIEW,
        "reconciliation.settlementrun": VIEW,
        "reconciliation.complaint": VIEW,
    },
    roles.AUDITOR: dict.fromkeys(ADMIN_MODELS, VIEW),
}

BILLER_SCOPE = "biller"
BRANCH_SCOPE = "branch"

# role → which rows: None for all, else the kind of staff link that limits them.
ROLE_SCOPE: dict[str, str | None] = {
    roles.PLATFORM_ADMIN: None,
    roles.BILLER_OPERATOR: BILLER_SCOPE,
    roles.BRANCH_SUPERVISOR: BRANCH_SCOPE,
    roles.BRANCH_CLERK: BRANCH_SCOPE,
    roles.RECONCILIATION_OFFICER: None,
    roles.AUDITOR: None,
}

# model → scope kind → the lookup from the model to the biller or branch whose staff may see the row.
SCOPE_PATHS: dict[str, dict[str, str]] = {
    "billing.biller": {BILLER_SCOPE: "pk"},
    "billing.customeraccount": {BILLER_SCOPE: "biller"},
    "billing.bill": {BILLER_SCOPE: "biller"},
    "billing.payment": {BILLER_SCOPE: "biller", BRANCH_SCOPE: "branch"},
    "branches.branch": {BRANCH_SCOPE: "pk"},
    "billing.billimportjob": {BILLER_SCOPE: "biller"},
    "billing.feeschedule": {BILLER_SCOPE: "biller"},
    "payers.orderline": {BILLER_SCOPE: "biller"},
    "branches.branchstatuschange": {BRANCH_SCOPE: "branch"},
    "branches.plannedclosure": {BRANCH_SCOPE: "branch"},
    "branches.till": {BRANCH_SCOPE: "branch"},
    "branches.counterpayment": {BRANCH_SCOPE: "branch"},
}

# Highest first: the role `role_of` reports for a user in several groups.
ROLE_PRECEDENCE = roles.STAFF_ROLES

_CACHE_ATTR = "_billpay_roles"


def model_label(model: type[Model] | Model) -> str:
    return model._meta.label_lower


def roles_of(user) -> frozenset[str]:
    """The user's staff roles; cached on the user object for the request, as Django caches permissions."""
    if user is None or not user.is_active or not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        names = set(
            Group.objects.filter(user=user, name__in=roles.STAFF_ROLES).values_list("name", flat=True)
        )
        if user.is_superuser:
            names.add(roles.PLATFORM_ADMIN)
        cached = frozenset(names)
        setattr(user, _CACHE_ATTR, cached)
    return cached


def role_of(user) -> str | None:
    """The user's most powerful role, or None for a user with no staff role."""
    held = roles_of(user)
    return next((role for role in ROLE_PRECEDENCE if role in held), None)


def is_platform_admin(user) -> bool:
    return roles.PLATFORM_ADMIN in roles_of(user)


def allowed_actions(user, model: type[Model] | Model) -> frozenset[str]:
    """Platform admins may do everything, on models added after this table too; anyone else what
    their roles' rows in `PERMISSIONS` say, and nothing on a model they do not name."""
    if is_platform_admin(user):
        return FULL
    label = model_label(model)
    actions: set[str] = set()
    for role in roles_of(user):
        actions |= PERMISSIONS.get(role, {}).get(label, frozenset())
    return frozenset(actions)


def can(user, action: str, model: type[Model] | Model) -> bool:
    """May the user do `action` ("view", "add", "change", "delete") on the model's rows at all?
    Which rows is `scoped_queryset`'s answer."""
    return action in allowed_actions(user, model)


def can_view(user, model: type[Model] | Model) -> bool:
    return can(user, "view", model)


def can_change(user, model: type[Model] | Model) -> bool:
    return can(user, "change", model)


def _linked_ids(user, kind: str) -> QuerySet:
    if kind == BILLER_SCOPE:
        return BillerStaff.objects.filter(user=user).values("biller_id")
    if kind == BRANCH_SCOPE:
        return BranchStaff.objects.filter(user=user).values("branch_id")
    raise ValueError(f"unknown scope {kind!r}")


def scope_filter(user, model: type[Model]) -> Q | None:
    """The filter that limits the model's rows to what the user may see; None means every row.
    A user who may not view the model at all gets a filter that matches nothing."""
    label = model_label(model)
    nothing = Q(pk__in=[])
    if is_platform_admin(user):
        return None
    condition = None
    for role in sorted(roles_of(user)):
        if "view" not in PERMISSIONS.get(role, {}).get(label, frozenset()):
            continue
        kind = ROLE_SCOPE.get(role)
        if kind is None:
            return None
        path = SCOPE_PATHS.get(label, {}).get(kind)
        if path is None:  # a scoped role on a model nobody said how to scope: fail closed
            continue
        part = Q(**{f"{path}__in": _linked_ids(user, kind)})
        condition = part if condition is None else condition | part
    return nothing if condition is None else condition


def scoped_queryset(user, model: type[Model], queryset: QuerySet | None = None) -> QuerySet:
    """The model's rows (or `queryset`'s) that the user may see."""
    if queryset is None:
        queryset = model._default_manager.all()
    condition = scope_filter(user, model)
    return queryset if condition is None else queryset.filter(condition)


def visible_billers(user) -> QuerySet:
    return scoped_queryset(user, Biller)


def visible_accounts(user) -> QuerySet:
    return scoped_queryset(user, CustomerAccount)


def visible_bills(user) -> QuerySet:
    return scoped_queryset(user, Bill)


def visible_payments(user) -> QuerySet:
    return scoped_queryset(user, Payment)


def visible_branches(user) -> QuerySet:
    return scoped_queryset(user, Branch)
