"""The back-office is scoped by staff role: each named user sees and changes only what billing.access allows.

alice is a platform admin, bob operates biller A and carol biller B, dave clerks at branch X and erin
supervises branch Y, frank reconciles and grace audits."""

from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing import access, roles
from billing.admin_scoping import ScopedAdminMixin, ScopedInlineMixin
from billing.choices import Channel
from billing.models import AuditEvent, Bill, BillerStaff, JournalEntry, LedgerAccount, Payment
from billing.services import post_payment
from branches.choices import BranchRole
from branches.models import BranchStaff
from payers.models import GatewayOrder, OrderLine
from tests.factories import BillerFactory, BillFactory, BranchFactory, CustomerAccountFactory, PayerFactory

pytestmark = pytest.mark.django_db

USER_ROLES = {
    "alice": roles.PLATFORM_ADMIN,
    "bob": roles.BILLER_OPERATOR,
    "carol": roles.BILLER_OPERATOR,
    "dave": roles.BRANCH_CLERK,
    "erin": roles.BRANCH_SUPERVISOR,
    "frank": roles.RECONCILIATION_OFFICER,
    "grace": roles.AUDITOR,
}
USERS = list(USER_ROLES)


@dataclass
class World:
    users: dict
    objects: dict = field(default_factory=dict)

    def __getitem__(self, key):
        return self.objects[key]


def pay(account, key, *, channel=Channel.ONLINE, branch=None, payer=None):
    return post_payment(
        channel=channel,
        idempotency_key=key,
        biller_code=account.biller.code,
        account_no=account.account_no,
        amount="100.00",
        branch=branch,
        payer=payer,
    ).payment


def make_staff(django_user_model, username, role):
    user = django_user_model.objects.create_user(username, f"{username}@example.com", None, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def world(django_user_model):
    users = {name: make_staff(django_user_model, name, role) for name, role in USER_ROLES.items()}
    biller_a = BillerFactory(code="WATER-A", name="甲水务", name_en="Water A")
    biller_b = BillerFactory(code="WATER-B", name="乙水务", name_en="Water B")
    branch_x = BranchFactory(code="BR-X", name="X支局")
    branch_y = BranchFactory(code="BR-Y", name="Y支局")
    account_a = CustomerAccountFactory(biller=biller_a, account_no="11110001")
    account_b = CustomerAccountFactory(biller=biller_b, account_no="22220002")
    bill_a = BillFactory(account=account_a, period="2026-08", reference="REF-A-08", due_date="2026-09-20")
    bill_a2 = BillFactory(account=account_a, period="2026-09", reference="REF-A-09")
    bill_b = BillFactory(account=account_b, period="2026-09", reference="REF-B-09")
    payer = PayerFactory(display_name="王小明", mobile="13800000000")
    payment_a_online = pay(account_a, "a-online", payer=payer)
    payment_a_x = pay(account_a, "a-counter-x", channel=Channel.COUNTER, branch=branch_x)
    payment_b_y = pay(account_b, "b-counter-y", channel=Channel.COUNTER, branch=branch_y)
    BillerStaff.objects.create(user=users["bob"], biller=biller_a)
    BillerStaff.objects.create(user=users["carol"], biller=biller_b)
    BranchStaff.objects.create(user=users["dave"], branch=branch_x, role=BranchRole.CLERK)
    BranchStaff.objects.create(user=users["erin"], branch=branch_y, role=BranchRole.SUPERVISOR)
    return World(
        users=users,
        objects={
            "biller_a": biller_a,
            "biller_b": biller_b,
            "account_a": account_a,
            "account_b": account_b,
            "bill_a": bill_a,
            "bill_a2": bill_a2,
            "bill_b": bill_b,
            "payment_a_online": payment_a_online,
            "payment_a_x": payment_a_x,
            "payment_b_y": payment_b_y,
            "branch_x": branch_x,
            "branch_y": branch_y,
            "payer": payer,
            "ledger_payable_a": LedgerAccount.objects.get(code="PAYABLE:WATER-A"),
            "entry_b_y": JournalEntry.objects.get(payment=payment_b_y),
            "audit_event": AuditEvent.objects.create(
                action="bill.cancelled", target_type="billing.bill", target_id=str(bill_b.pk), target_repr="B"
            ),
        },
    )


def admin_url(obj, view="change"):
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[obj.pk])


def changelist_url(model_or_label):
    label = model_or_label if isinstance(model_or_label, str) else model_or_label._meta.label_lower
    app_label, model_name = label.split(".")
    return reverse(f"admin:{app_label}_{model_name}_changelist")


def login(client, world, name):
    client.force_login(world.users[name])
    return client


# Which of the world's rows each user may see. Written out by hand, apart from billing.access, so a
# mistake in its table shows up here.
EVERYTHING = {
    "biller_a",
    "biller_b",
    "account_a",
    "account_b",
    "bill_a",
    "bill_a2",
    "bill_b",
    "payment_a_online",
    "payment_a_x",
    "payment_b_y",
    "branch_x",
    "branch_y",
    "payer",
    "ledger_payable_a",
    "entry_b_y",
    "audit_event",
}
VISIBLE = {
    "alice": EVERYTHING,
    "bob": {"biller_a", "account_a", "bill_a", "bill_a2", "payment_a_online", "payment_a_x"},
    "carol": {"biller_b", "account_b", "bill_b", "payment_b_y"},
    "dave": {"payment_a_x", "branch_x"},
    "erin": {"payment_b_y", "branch_y"},
    "frank": {
        "payment_a_online",
        "payment_a_x",
        "payment_b_y",
        "ledger_payable_a",
        "entry_b_y",
        "audit_event",
    },
    "grace": EVERYTHING,
}
VISIBILITY_CASES = [(user, key, key in VISIBLE[user]) for user in USERS for key in sorted(EVERYTHING)]


class TestTheRoleTable:
    def test_every_registered_model_admin_uses_the_scoping_mixin(self):
        unscoped = [
            type(model_admin).__name__
            for model_admin in admin.site._registry.values()
            if not isinstance(model_admin, ScopedAdminMixin)
        ]
        assert unscoped == []

    def test_every_inline_uses_the_scoping_inline_mixin(self):
        unscoped = [
            inline.__name__
            for model_admin in admin.site._registry.values()
            for inline in model_admin.inlines
            if not issubclass(inline, ScopedInlineMixin)
        ]
        assert unscoped == []

    def test_every_registered_model_is_named_in_the_role_table(self):
        registered = {model._meta.label_lower for model in admin.site._registry}
        assert registered <= set(access.ADMIN_MODELS)

    def test_every_staff_role_has_a_row_and_a_scope(self):
        assert set(access.PERMISSIONS) == set(roles.STAFF_ROLES) == set(access.ROLE_SCOPE)

    def test_scoped_roles_name_only_models_they_can_be_scoped_on(self):
        for role, models in access.PERMISSIONS.items():
            kind = access.ROLE_SCOPE[role]
            if kind is None:
                continue
            for label in models:
                assert kind in access.SCOPE_PATHS.get(label, {}), (role, label)

    def test_only_platform_admins_may_write_outside_biller_customer_data(self):
        for role, models in access.PERMISSIONS.items():
            if role == roles.PLATFORM_ADMIN:
                continue
            for label, actions in models.items():
                if actions - access.VIEW:
                    assert (role, label) in {
                        (roles.BILLER_OPERATOR, "billing.customeraccount"),
                        (roles.BILLER_OPERATOR, "billing.bill"),
                    }

    def test_a_superuser_without_the_group_is_a_platform_admin(self, django_user_model):
        root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
        assert access.role_of(root) == roles.PLATFORM_ADMIN
        assert access.can(root, "delete", Bill)

    def test_a_staff_user_with_no_role_may_see_nothing(self, django_user_model, world):
        nobody = django_user_model.objects.create_user("nobody", is_staff=True)
        assert access.role_of(nobody) is None
        assert not access.visible_payments(nobody).exists()
        assert not access.visible_billers(nobody).exists()

    def test_an_operator_without_a_biller_link_sees_no_biller_data(self, django_user_model, world):
        loose = make_staff(django_user_model, "loose", roles.BILLER_OPERATOR)
        assert not access.visible_bills(loose).exists()
        assert not access.visible_payments(loose).exists()

    def test_a_clerk_and_operator_sees_both_scopes(self, world):
        bob = world.users["bob"]
        BranchStaff.objects.create(user=bob, branch=world["branch_y"], role=BranchRole.CLERK)
        bob.groups.add(Group.objects.get(name=roles.BRANCH_CLERK))
        assert set(access.visible_payments(bob)) == {
            world["payment_a_online"],
            world["payment_a_x"],
            world["payment_b_y"],
        }
        assert set(access.visible_bills(bob)) == {world["bill_a"], world["bill_a2"]}


class TestChangelists:
    @pytest.mark.parametrize("label", access.ADMIN_MODELS)
    @pytest.mark.parametrize("name", USERS)
    def test_changelist_answers_only_the_roles_allowed_to_view_it(self, client, world, name, label):
        response = login(client, world, name).get(changelist_url(label))
        allowed = "view" in access.PERMISSIONS[USER_ROLES[name]].get(label, ())
        assert response.status_code == (200 if allowed else 403)

    @pytest.mark.parametrize(("name", "key", "visible"), VISIBILITY_CASES)
    def test_changelist_lists_a_row_only_to_those_who_may_see_it(self, client, world, name, key, visible):
        obj = world[key]
        response = login(client, world, name).get(changelist_url(type(obj)))
        if response.status_code == 403:
            assert not visible
            return
        assert response.status_code == 200
        assert (admin_url(obj) in response.text) == visible

    @pytest.mark.parametrize(("name", "key", "visible"), VISIBILITY_CASES)
    def test_change_view_opens_only_for_those_who_may_see_the_row(self, client, world, name, key, visible):
        response = login(client, world, name).get(admin_url(world[key]))
        if visible:
            assert response.status_code == 200
        else:
            assert response.status_code in {403, 404}

    @pytest.mark.parametrize(("name", "key", "visible"), VISIBILITY_CASES)
    def test_history_view_opens_only_for_those_who_may_see_the_row(self, client, world, name, key, visible):
        response = login(client, world, name).get(admin_url(world[key], "history"))
        if visible:
            assert response.status_code == 200
        else:
            assert response.status_code in {403, 404}

    def test_admin_index_shows_a_clerk_only_payments_and_branches(self, client, world):
        response = login(client, world, "dave").get(reverse("admin:index"))
        shown = {model["object_name"] for app in response.context["app_list"] for model in app["models"]}
        assert shown == {"Payment", "Branch", "Till", "CounterPayment"}

    def test_admin_index_shows_an_operator_only_its_biller_data(self, client, world):
        response = login(client, world, "bob").get(reverse("admin:index"))
        shown = {model["object_name"] for app in response.context["app_list"] for model in app["models"]}
        assert shown == {
            "Biller",
            "CustomerAccount",
            "Bill",
            "Payment",
            "BillImportJob",
            "FeeSchedule",
            "OrderLine",
        }

    def test_clerk_sees_only_the_counter_payments_of_the_branch(self, client, world):
        response = login(client, world, "dave").get(changelist_url(Payment))
        listed = set(response.context["cl"].result_list)
        assert listed == {world["payment_a_x"]}

    def test_supervisor_sees_only_the_counter_payments_of_the_branch(self, client, world):
        response = login(client, world, "erin").get(changelist_url(Payment))
        assert set(response.context["cl"].result_list) == {world["payment_b_y"]}


class TestNoLeaksThroughSearchOrFilters:
    @pytest.mark.parametrize("model", ["billing.bill", "billing.customeraccount", "billing.payment"])
    def test_operator_searching_for_another_billers_account_finds_nothing(self, client, world, model):
        response = login(client, world, "bob").get(changelist_url(model), {"q": "22220002"})
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == []
        assert "WATER-B" not in response.text

    @pytest.mark.parametrize("model", ["billing.bill", "billing.customeraccount", "billing.payment"])
    def test_operator_filtering_by_another_billers_id_gets_none_of_its_rows(self, client, world, model):
        response = login(client, world, "bob").get(
            changelist_url(model), {"biller__id__exact": world["biller_b"].pk}
        )
        assert response.status_code in {200, 302}
        if response.status_code == 200:
            rows = response.context["cl"].result_list
            assert {row.biller_id for row in rows} <= {world["biller_a"].pk}
            assert "WATER-B" not in response.text

    @pytest.mark.parametrize("model", ["billing.bill", "billing.customeraccount", "billing.payment"])
    def test_operator_biller_filter_offers_only_its_own_biller(self, client, world, model):
        response = login(client, world, "bob").get(changelist_url(model))
        assert "乙水务" not in response.text and "Water B" not in response.text

    def test_platform_admin_biller_filter_offers_every_biller(self, client, world):
        response = login(client, world, "alice").get(changelist_url(Bill))
        assert "甲水务" in response.text and "乙水务" in response.text

    def test_operator_bill_search_by_reference_finds_its_own_bill(self, client, world):
        response = login(client, world, "bob").get(changelist_url(Bill), {"q": "REF-A-08"})
        assert list(response.context["cl"].result_list) == [world["bill_a"]]

    def test_clerk_branch_filter_offers_only_the_clerks_branch(self, client, world):
        response = login(client, world, "dave").get(changelist_url(Payment))
        assert "X支局" in response.text
        assert "Y支局" not in response.text

    def test_clerk_filtering_by_the_other_branch_gets_no_payments(self, client, world):
        response = login(client, world, "dave").get(
            changelist_url(Payment), {"branch__id__exact": world["branch_y"].pk}
        )
        assert list(response.context["cl"].result_list) == []

    def test_clerk_searching_for_another_branchs_receipt_finds_nothing(self, client, world):
        response = login(client, world, "dave").get(
            changelist_url(Payment), {"q": world["payment_b_y"].receipt_no}
        )
        assert list(response.context["cl"].result_list) == []

    def test_raw_id_popup_of_billers_lists_only_the_operators_biller(self, client, world):
        response = login(client, world, "bob").get(
            changelist_url("billing.biller"), {"_to_field": "id", "_popup": "1"}
        )
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [world["biller_a"]]

    def test_raw_id_popup_of_accounts_lists_only_the_operators_accounts(self, client, world):
        response = login(client, world, "bob").get(
            changelist_url("billing.customeraccount"), {"_to_field": "id", "_popup": "1"}
        )
        assert list(response.context["cl"].result_list) == [world["account_a"]]

    def test_payment_change_view_of_another_biller_does_not_show_its_receipt(self, client, world):
        receipt = world["payment_b_y"].receipt_no
        response = login(client, world, "bob").get(admin_url(world["payment_b_y"]))
        assert response.status_code == 404
        assert receipt not in response.text


class TestWrites:
    def bill_form(self, account, biller, period="2026-10", amount_due="100.00"):
        return {
            "account": account.pk,
            "biller": biller.pk,
            "period": period,
            "amount_due": amount_due,
            "late_fee": "0.00",
            "due_date": "2026-11-20",
            "reference": "",
            "description": "",
        }

    def test_operator_adds_a_bill_for_its_own_biller(self, client, world):
        response = login(client, world, "bob").post(
            reverse("admin:billing_bill_add"), self.bill_form(world["account_a"], world["biller_a"])
        )
        assert response.status_code == 302
        assert Bill.objects.filter(account=world["account_a"], period="2026-10").exists()

    def test_operator_cannot_add_a_bill_for_another_biller(self, client, world):
        response = login(client, world, "bob").post(
            reverse("admin:billing_bill_add"), self.bill_form(world["account_b"], world["biller_b"])
        )
        assert response.status_code == 200
        assert response.context["adminform"].form.errors.keys() == {"account", "biller"}
        assert not Bill.objects.filter(account=world["account_b"], period="2026-10").exists()

    def test_operator_changes_its_own_bill(self, client, world):
        bill = world["bill_a2"]
        form = self.bill_form(world["account_a"], world["biller_a"], period=bill.period)
        form["description"] = "水费 2026年9月"
        response = login(client, world, "bob").post(admin_url(bill), form)
        assert response.status_code == 302
        bill.refresh_from_db()
        assert bill.description == "水费 2026年9月"

    def test_operator_cannot_change_another_billers_bill(self, client, world):
        bill = world["bill_b"]
        form = self.bill_form(world["account_b"], world["biller_b"], period=bill.period)
        form["amount_due"] = "1.00"
        response = login(client, world, "bob").post(admin_url(bill), form)
        assert response.status_code == 404
        bill.refresh_from_db()
        assert bill.amount_due == Decimal("100.00")

    def test_operator_views_its_biller_read_only(self, client, world):
        client = login(client, world, "bob")
        response = client.get(admin_url(world["biller_a"]))
        assert response.status_code == 200
        assert response.context["has_change_permission"] is False
        assert client.post(admin_url(world["biller_a"]), {"name": "改名"}).status_code == 403

    def test_operator_cannot_delete_its_own_bill(self, client, world):
        response = login(client, world, "bob").post(admin_url(world["bill_a"], "delete"), {"post": "yes"})
        assert response.status_code == 403
        assert Bill.objects.filter(pk=world["bill_a"].pk).exists()

    @pytest.mark.parametrize("name", ["frank", "grace"])
    def test_read_only_roles_cannot_change_a_bill(self, client, world, name):
        bill = world["bill_a"]
        response = login(client, world, name).post(
            admin_url(bill), self.bill_form(world["account_a"], world["biller_a"], period=bill.period)
        )
        assert response.status_code in {403, 404}

    @pytest.mark.parametrize("name", USERS)
    def test_nobody_edits_a_payment_by_hand(self, client, world, name):
        response = login(client, world, name).get(admin_url(world["payment_a_x"]))
        if response.status_code == 200:
            assert response.context["has_change_permission"] is False
            assert response.context["has_delete_permission"] is False

    def test_payment_allocations_show_to_a_clerk_on_the_branch_payment(self, client, world):
        response = login(client, world, "dave").get(admin_url(world["payment_a_x"]))
        assert len(response.context["inline_admin_formsets"]) == 1

    def test_platform_admin_adds_a_branch_staff_member(self, client, world):
        response = login(client, world, "alice").post(
            reverse("admin:branches_branchstaff_add"),
            {"user": world.users["frank"].pk, "branch": world["branch_x"].pk, "role": BranchRole.CLERK},
        )
        assert response.status_code == 302
        assert BranchStaff.objects.filter(user=world.users["frank"]).exists()


class TestQueryCounts:
    @pytest.mark.parametrize("label", access.ADMIN_MODELS)
    def test_changelist_queries_do_not_grow_with_its_rows(self, client, world, label):
        client = login(client, world, "alice")
        url = changelist_url(label)
        with CaptureQueriesContext(connection) as before:
            assert client.get(url).status_code == 200
        more_billers = [BillerFactory() for _ in range(3)]
        for n, biller in enumerate(more_billers):
            account = CustomerAccountFactory(biller=biller)
            BillFactory(account=account)
            branch = BranchFactory()
            pay(account, f"more-{n}", channel=Channel.COUNTER, branch=branch)
            BillerStaff.objects.create(user=world.users["grace"], biller=biller)
            BranchStaff.objects.create(user=world.users["grace"], branch=branch, role=BranchRole.CLERK)
        with CaptureQueriesContext(connection) as after:
            assert client.get(url).status_code == 200
        assert len(after) == len(before)


class TestOnlineOrderLines:
    def test_operator_sees_only_its_billers_lines_of_a_shared_order(self, client, world):
        order = GatewayOrder.objects.create(
            gateway="SANDBOX", kind="bills", amount="30.00", subject="甲水务、乙水务"
        )
        line_a = OrderLine.objects.create(
            order=order, line_no=1, biller=world["biller_a"], account=world["account_a"], amount="10.00"
        )
        OrderLine.objects.create(
            order=order, line_no=2, biller=world["biller_b"], account=world["account_b"], amount="20.00"
        )
        response = login(client, world, "bob").get(changelist_url(OrderLine), {"q": order.order_no})
        assert list(response.context["cl"].result_list) == [line_a]
        assert "22220002" not in response.text
        assert login(client, world, "bob").get(admin_url(line_a)).status_code == 200
        other = OrderLine.objects.get(line_no=2)
        assert login(client, world, "bob").get(admin_url(other)).status_code in {302, 403, 404}
        assert login(client, world, "bob").get(changelist_url(GatewayOrder)).status_code == 403
