"""The access registry: billing holds the mechanism, each app declares its own models when it loads, and a
wrong declaration stops the platform at start-up instead of granting something."""

import copy

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured

from api import admin_access as api_access
from billing import access, roles
from billing import admin_access as billing_access
from billing.access import BILLER_SCOPE, BRANCH_SCOPE, EDIT, FULL, VIEW
from billing.choices import Channel
from billing.models import BillerStaff, Payment, PaymentAllocation
from billing.services import post_payment
from branches import admin_access as branches_access
from branches.choices import BranchRole
from branches.models import BranchStaff
from payers import admin_access as payers_access
from reconciliation import admin_access as reconciliation_access
from tests.factories import BillerFactory, BillFactory, BranchFactory, CustomerAccountFactory


@pytest.fixture
def empty_registry(monkeypatch):
    """A blank registry for the test; the one the apps filled comes back afterwards."""
    monkeypatch.setattr(access, "ADMIN_MODELS", [])
    monkeypatch.setattr(access, "PERMISSIONS", {role: {} for role in roles.STAFF_ROLES})
    monkeypatch.setattr(access, "SCOPE_PATHS", {})
    monkeypatch.setattr(access, "SCOPE_LINKS", {})


@pytest.fixture
def registry_copy(monkeypatch):
    """The registry the apps filled, copied, so a test may add to it without leaking."""
    monkeypatch.setattr(access, "ADMIN_MODELS", list(access.ADMIN_MODELS))
    monkeypatch.setattr(access, "PERMISSIONS", copy.deepcopy(access.PERMISSIONS))
    monkeypatch.setattr(access, "SCOPE_PATHS", copy.deepcopy(access.SCOPE_PATHS))
    monkeypatch.setattr(access, "SCOPE_LINKS", dict(access.SCOPE_LINKS))


@pytest.mark.parametrize(
    ("declarations", "labels"),
    [
        (billing_access, {"billing", "auth", "axes"}),  # axes: the staff lock-outs (billing/admin_logins.py)
        (payers_access, {"payers", "account", "mfa"}),
        (branches_access, {"branches"}),
        (reconciliation_access, {"reconciliation"}),
        (api_access, {"api"}),
    ],
    ids=["billing", "payers", "branches", "reconciliation", "api"],
)
def test_each_app_declares_the_access_of_its_own_models_only(empty_registry, declarations, labels):
    declarations.declare_access()
    assert access.ADMIN_MODELS
    assert {label.split(".")[0] for label in access.ADMIN_MODELS} == labels


def test_only_the_app_that_owns_a_staff_link_says_how_it_scopes():
    assert {
        BILLER_SCOPE: billing_access.linked_billers,
        BRANCH_SCOPE: branches_access.linked_branches,
    } == access.SCOPE_LINKS


def test_platform_admins_may_do_everything_and_auditors_view_every_declared_model(empty_registry):
    access.register(PaymentAllocation, {roles.RECONCILIATION_OFFICER: VIEW})
    assert access.ADMIN_MODELS == ["billing.paymentallocation"]
    assert access.PERMISSIONS[roles.PLATFORM_ADMIN] == {"billing.paymentallocation": FULL}
    assert access.PERMISSIONS[roles.AUDITOR] == {"billing.paymentallocation": VIEW}
    assert access.PERMISSIONS[roles.RECONCILIATION_OFFICER] == {"billing.paymentallocation": VIEW}
    assert access.PERMISSIONS[roles.BILLER_OPERATOR] == {}


def test_declaring_a_model_again_the_same_way_changes_nothing(registry_copy):
    before = (list(access.ADMIN_MODELS), copy.deepcopy(access.PERMISSIONS), copy.deepcopy(access.SCOPE_PATHS))
    billing_access.declare_access()  # as when the apps load a second time
    assert before == (access.ADMIN_MODELS, access.PERMISSIONS, access.SCOPE_PATHS)


@pytest.mark.parametrize(
    ("grants", "scope", "message"),
    [
        ({roles.BILLER_OPERATOR: FULL}, {BILLER_SCOPE: "biller"}, "declared twice, differently"),
        ({roles.BILLER_OPERATOR: EDIT}, {BILLER_SCOPE: "pk"}, "declared twice, differently"),
    ],
    ids=["more actions", "another scope path"],
)
def test_declaring_a_model_again_differently_is_refused_and_the_first_declaration_stands(
    registry_copy, grants, scope, message
):
    from billing.models import Bill

    with pytest.raises(ImproperlyConfigured, match=message):
        access.register(Bill, grants, scope=scope)
    assert access.PERMISSIONS[roles.BILLER_OPERATOR]["billing.bill"] == EDIT
    assert access.SCOPE_PATHS["billing.bill"] == {BILLER_SCOPE: "biller"}


@pytest.mark.parametrize(
    ("grants", "scope"),
    [
        ({roles.AUDITOR: EDIT}, None),  # auditors only ever view
        ({roles.PLATFORM_ADMIN: VIEW}, None),  # platform admins may always do everything
        ({"cashier": VIEW}, None),  # not a role of billing.roles
        ({roles.BRANCH_CLERK: frozenset({"view", "approve"})}, None),  # not an action
        ({roles.BRANCH_CLERK: VIEW}, {"district": "branch__district"}),  # not a scope kind
    ],
    ids=["auditor edits", "admin narrowed", "unknown role", "unknown action", "unknown scope"],
)
def test_a_declaration_outside_the_mechanism_is_refused_and_registers_nothing(empty_registry, grants, scope):
    with pytest.raises(ImproperlyConfigured):
        access.register(PaymentAllocation, grants, scope=scope)
    assert access.ADMIN_MODELS == []
    assert all(table == {} for table in access.PERMISSIONS.values())
    assert access.SCOPE_PATHS == {}


def test_an_unknown_scope_kind_cannot_be_given_links():
    with pytest.raises(ImproperlyConfigured):
        access.register_scope("district", billing_access.linked_billers)


@pytest.mark.django_db
def test_a_model_nobody_declared_is_refused_even_to_auditors_but_not_to_platform_admins(django_user_model):
    auditor = django_user_model.objects.create_user("grace", is_staff=True)
    auditor.groups.add(Group.objects.get(name=roles.AUDITOR))
    admin = django_user_model.objects.create_superuser("alice", "alice@example.com", None)
    assert "billing.paymentallocation" not in access.ADMIN_MODELS
    assert access.allowed_actions(auditor, PaymentAllocation) == frozenset()
    assert access.allowed_actions(admin, PaymentAllocation) == FULL


@pytest.mark.django_db
def test_a_scoped_role_whose_links_nobody_registered_sees_nothing(monkeypatch, django_user_model):
    account = CustomerAccountFactory(biller=BillerFactory(code="WATER-R"), account_no="11110009")
    BillFactory(account=account, period="2026-09", reference="REF-R-09")
    branch = BranchFactory(code="BR-R")
    post_payment(
        channel=Channel.COUNTER,
        idempotency_key="registry-1",
        biller_code="WATER-R",
        account_no=account.account_no,
        amount="100.00",
        branch=branch,
    )
    clerk = django_user_model.objects.create_user("clerk-r", is_staff=True)
    clerk.groups.add(Group.objects.get(name=roles.BRANCH_CLERK))
    BranchStaff.objects.create(user=clerk, branch=branch, role=BranchRole.CLERK)
    operator = django_user_model.objects.create_user("operator-r", is_staff=True)
    operator.groups.add(Group.objects.get(name=roles.BILLER_OPERATOR))
    BillerStaff.objects.create(user=operator, biller=account.biller)
    assert access.scoped_queryset(clerk, Payment).count() == 1
    assert access.scoped_queryset(operator, Payment).count() == 1

    monkeypatch.delitem(access.SCOPE_LINKS, BRANCH_SCOPE)

    assert access.scoped_queryset(clerk, Payment).count() == 0  # fails closed, not open
    assert access.scoped_queryset(operator, Payment).count() == 1
