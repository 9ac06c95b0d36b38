"""Who may see and change what in the back-office: the mechanism, and the registry each app fills.

A staff member's roles are the Django groups named in `billing.roles`; superusers are platform admins.
Each app declares the access to its own models when it loads (its `AppConfig.ready()` calls `register`,
see `<app>/admin_access.py`), so this core module names no channel app. What they declare lands in
`PERMISSIONS`, per role, which actions each model allows; `ROLE_SCOPE` says which rows: all of them, or
only those of the billers (`BillerStaff`) or branches (`BranchStaff`) the user is linked to, found through
the paths in `SCOPE_PATHS` and the links each kind's app registers with `register_scope`. Django's model
permissions play no part: a role's group may hold none. Anything not declared is refused, and a scoped
role on a model without a scope path, or on a kind whose links nobody registered, sees nothing.
"""

from collections.abc import Callable, Iterable, Mapping

from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, Q, QuerySet

from billing import roles
from billing.models import Biller, Payment

VIEW = frozenset({"view"})
EDIT = frozenset({"view", "add", "change"})
FULL = frozenset({"view", "add", "change", "delete"})
ACTIONS = ("view", "add", "change", "delete")

BILLER_SCOPE = "biller"
BRANCH_SCOPE = "branch"
SCOPES = frozenset({BILLER_SCOPE, BRANCH_SCOPE})

# role → which rows: None for all, else the kind of staff link that limits them.
ROLE_SCOPE: dict[str, str | None] = {
    roles.PLATFORM_ADMIN: None,
    roles.BILLER_OPERATOR: BILLER_SCOPE,
    roles.BRANCH_SUPERVISOR: BRANCH_SCOPE,
    roles.BRANCH_CLERK: BRANCH_SCOPE,
    roles.RECONCILIATION_OFFICER: None,
    roles.AUDITOR: None,
}

# Filled by `register`, app by app as they load (never edit them by hand):
# every model registered in the admin, by `app_label.model_name`;
ADMIN_MODELS: list[str] = []
# role → model → allowed actions. Platform admins get FULL and auditors VIEW on every registered model.
# The admin's ReadOnlyAdmin still refuses writes to ledger rows and payments for everyone, platform
# admins included: those change only through the services;
PERMISSIONS: dict[str, dict[str, frozenset[str]]] = {role: {} for role in roles.STAFF_ROLES}
# model → scope kind → the lookup from the model to the biller or branch whose staff may see the row;
SCOPE_PATHS: dict[str, dict[str, str]] = {}
# scope kind → the ids of the billers or branches a user is linked to (filled by `register_scope`).
SCOPE_LINKS: dict[str, Callable[..., Iterable[int]]] = {}


def register(
    model: type[Model],
    grants: Mapping[str, frozenset[str]] | None = None,
    *,
    scope: Mapping[str, str] | None = None,
) -> None:
    """Declare a model of the admin: platform admins may do everything on it and auditors view it;
    `grants` gives other roles their actions ({role: VIEW}); `scope` maps a scope kind to the lookup
    from the model to the biller or branch whose staff see the row ({BRANCH_SCOPE: "branch"}).

    Called from the `ready()` of the app that owns the model. Declaring a model twice the same way
    (apps loaded again) changes nothing; declaring it differently is a configuration error."""
    label = model_label(model)
    declared = {roles.PLATFORM_ADMIN: FULL, roles.AUDITOR: VIEW}
    for role, actions in (grants or {}).items():
        if role in declared or role not in roles.STAFF_ROLES or not set(actions) <= set(ACTIONS):
            raise ImproperlyConfigured(f"access.register({label}): may not grant {role!r} {sorted(actions)}")
        declared[role] = frozenset(actions)
    scope = dict(scope or {})
    if not set(scope) <= SCOPES:
        raise ImproperlyConfigured(f"access.register({label}): unknown scope in {sorted(scope)}")
    if label in ADMIN_MODELS:
        before = {role: table[label] for role, table in PERMISSIONS.items() if label in table}
        if before != declared or SCOPE_PATHS.get(label, {}) != scope:
            raise ImproperlyConfigured(f"access.register({label}): declared twice, differently")
        return
    ADMIN_MODELS.append(label)
    for role, actions in declared.items():
        PERMISSIONS[role][label] = actions
    if scope:
        SCOPE_PATHS[label] = scope


def register_scope(kind: str, links: Callable[..., Iterable[int]]) -> None:
    """Say how to find the billers or branches a user is linked to: `links(user)` answers their ids (a
    flat `values_list`, read once per check). Registered by the app that owns the staff link (billing
    for billers, branches for branches)."""
    if kind not in SCOPES:
        raise ImproperlyConfigured(f"access.register_scope: unknown scope {kind!r}")
    SCOPE_LINKS[kind] = links


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
    """Platform admins may do everything, on models nobody registered too; anyone else what their
    roles' rows in `PERMISSIONS` say, and nothing on a model they do not name."""
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
        links = SCOPE_LINKS.get(kind)
        if path is None or links is None:  # a scoped role nobody said how to scope: fail closed
            continue
        # The ids themselves, not a subquery: with the literal ids the planner knows how many rows one
        # biller has (the province's grid holds 40% of the bills) and walks its (biller, id) index.
        ids = list(links(user))
        # One biller or branch (nearly every staff member): a range of that one id, the same rows. Its
        # back-office lists are ordered by (biller, id) to follow that index (admin_paging); with `= id`
        # PostgreSQL would drop the constant from the ordering and walk the whole table's newest ids,
        # skipping millions of other billers' rows when theirs came last (issue 16).
        one = "pk__range" if path == "pk" else f"{path}__pk__range"
        part = Q(**{one: (ids[0], ids[0])}) if len(ids) == 1 else Q(**{f"{path}__in": ids})
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


def visible_payments(user) -> QuerySet:
    return scoped_queryset(user, Payment)
