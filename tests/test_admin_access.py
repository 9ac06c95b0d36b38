"""The back-office is scoped by staff role: each named user sees and changes only what their role allows.

What each role may do is written out below by hand (`MATRIX`, `VISIBLE`) and checked against the real
admin over HTTP; nothing here reads the permission declarations, so a wrong permission fails a test.

alice is a platform admin, bob operates biller A and carol biller B, dave clerks at branch X and erin
supervises branch Y, frank reconciles and grace audits. The rows they look at are built once for the
module (`world`); each test's own changes are rolled back."""

from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from api import services as api_services
from api.models import Partner
from billing import roles
from billing.admin_scoping import ScopedAdminMixin, ScopedInlineMixin
from billing.choices import Channel
from billing.models import AuditEvent, Bill, BillerStaff, JournalEntry, LedgerAccount, Payment
from branches import services as counter
from branches.choices import BranchRole
from branches.models import BranchStaff
from payers.models import GatewayOrder, OrderLine
from tests.factories import (
    BillerFactory,
    BillFactory,
    BranchFactory,
    CustomerAccountFactory,
    FeeScheduleFactory,
    PayerFactory,
)
from tests.support import log_in, make_staff, pay, take_cash

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
# One user per role for the role-wide checks; bob, dave and erin are the scoped ones.
ROLE_USER = {
    roles.PLATFORM_ADMIN: "alice",
    roles.BILLER_OPERATOR: "bob",
    roles.BRANCH_SUPERVISOR: "erin",
    roles.BRANCH_CLERK: "dave",
    roles.RECONCILIATION_OFFICER: "frank",
    roles.AUDITOR: "grace",
}


@dataclass
class World:
    users: dict
    objects: dict = field(default_factory=dict)

    def __getitem__(self, key):
        return self.objects[key]


def build_world() -> World:
    user_model = get_user_model()
    users = {name: make_staff(user_model, name, role) for name, role in USER_ROLES.items()}
    biller_a = BillerFactory(code="WATER-A", name="甲水务", name_en="Water A")
    biller_b = BillerFactory(code="WATER-B", name="乙水务", name_en="Water B")
    branch_x = BranchFactory(code="BR-X", name="X支局", takes_all_billers=True)
    branch_y = BranchFactory(code="BR-Y", name="Y支局", takes_all_billers=True)
    account_a = CustomerAccountFactory(biller=biller_a, account_no="11110001")
    account_b = CustomerAccountFactory(biller=biller_b, account_no="22220002")
    account_a_cash = CustomerAccountFactory(biller=biller_a, account_no="11110003")
    account_b_cash = CustomerAccountFactory(biller=biller_b, account_no="22220004")
    bill_a = BillFactory(account=account_a, period="2026-08", reference="REF-A-08", due_date="2026-09-20")
    bill_a2 = BillFactory(account=account_a, period="2026-09", reference="REF-A-09")
    bill_b = BillFactory(account=account_b, period="2026-09", reference="REF-B-09")
    cash_bill_a = BillFactory(account=account_a_cash, period="2026-09", amount_due=Decimal("50.00"))
    cash_bill_b = BillFactory(account=account_b_cash, period="2026-09", amount_due=Decimal("60.00"))
    payer = PayerFactory(display_name="王小明", mobile="13800000000")
    payment_a_online = pay(account_a, key="a-online", payer=payer).payment
    payment_a_x = pay(account_a, key="a-counter-x", channel=Channel.COUNTER, branch=branch_x).payment
    payment_b_y = pay(account_b, key="b-counter-y", channel=Channel.COUNTER, branch=branch_y).payment
    BillerStaff.objects.create(user=users["bob"], biller=biller_a)
    BillerStaff.objects.create(user=users["carol"], biller=biller_b)
    staff_x = BranchStaff.objects.create(user=users["dave"], branch=branch_x, role=BranchRole.CLERK)
    BranchStaff.objects.create(user=users["erin"], branch=branch_y, role=BranchRole.SUPERVISOR)
    till_x = counter.open_till(clerk=users["dave"], branch=branch_x, opening_float="0")
    till_y = counter.open_till(clerk=users["erin"], branch=branch_y, opening_float="0")

    cash_x = take_cash(users["dave"], till_x, cash_bill_a, "cash-x", tendered="50.00").counter_payment
    cash_y = take_cash(users["erin"], till_y, cash_bill_b, "cash-y", tendered="60.00").counter_payment
    order = GatewayOrder.objects.create(
        gateway="SANDBOX", kind="bills", amount="30.00", subject="甲水务、乙水务"
    )
    line_a = OrderLine.objects.create(
        order=order, line_no=1, biller=biller_a, account=account_a, amount="10.00"
    )
    line_b = OrderLine.objects.create(
        order=order, line_no=2, biller=biller_b, account=account_b, amount="20.00"
    )
    partner = Partner.objects.create(code="ACME", name="Acme")
    credential = api_services.issue_credential(owner=partner, actor=users["alice"]).credential
    biller_api_a = api_services.ensure_biller_api_access(biller=biller_a, actor=users["alice"])
    email = EmailAddress.objects.create(user=users["carol"], email="carol@example.com", verified=True)
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
            "fee_a": FeeScheduleFactory(biller=biller_a),
            "fee_b": FeeScheduleFactory(biller=biller_b),
            "till_x": till_x,
            "till_y": till_y,
            "cash_x": cash_x,
            "cash_y": cash_y,
            "order": order,
            "line_a": line_a,
            "line_b": line_b,
            "partner": partner,
            "credential": credential,
            "biller_api_a": biller_api_a,
            "staff_x": staff_x,
            "bob_link": BillerStaff.objects.get(user=users["bob"]),
            "carol_user": users["carol"],
            "clerks": users["dave"].groups.get(),
            "carol_email": email,
        },
    )


@pytest.fixture(scope="module")
def world(module_db):
    with module_db.unblock():
        return build_world()


def admin_url(obj, view="change"):
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[obj.pk])


def changelist_url(model_or_label):
    label = model_or_label if isinstance(model_or_label, str) else model_or_label._meta.label_lower
    app_label, model_name = label.split(".")
    return reverse(f"admin:{app_label}_{model_name}_changelist")


def login(client, world, name):
    return log_in(client, world.users[name])


# What each role may do with each model in the admin, written out by hand: v = view, a = add, c = change,
# d = delete, "-" = refused. A scoped role (biller operator: its billers; branch staff: their branches)
# does it only to its own rows, which `VISIBLE` below spells out. Append-only money records (payments,
# journal entries, ledger accounts, tills, counter payments, reconciliation rows, fee schedules) are
# never changed by hand, not even by a platform admin: they change only through the services.
ROLES = (
    roles.PLATFORM_ADMIN,
    roles.BILLER_OPERATOR,
    roles.BRANCH_SUPERVISOR,
    roles.BRANCH_CLERK,
    roles.RECONCILIATION_OFFICER,
    roles.AUDITOR,
)
NONE = "----"
# fmt: off
MATRIX: dict[str, tuple[str, str, str, str, str, str]] = {
    #                                platform  biller    branch    branch    reconcil- auditor
    #                                admin     operator  superv.   clerk     iation
    # Money: written only by post_payment / reverse_payment and the ledger.
    "billing.payment":               ("v---",  "v---",  "v---",  "v---",  "v---",  "v---"),
    "billing.journalentry":          ("v---",  NONE,    NONE,    NONE,    "v---",  "v---"),
    "billing.journalline":           ("v---",  "v---",  NONE,    NONE,    "v---",  "v---"),
    "billing.ledgeraccount":         ("v---",  NONE,    NONE,    NONE,    "v---",  "v---"),
    "billing.feeschedule":           ("va--",  "v---",  NONE,    NONE,    NONE,    "v---"),
    "branches.till":                 ("v---",  NONE,    "v---",  "v---",  NONE,    "v---"),
    "branches.counterpayment":       ("v---",  NONE,    "v---",  "v---",  NONE,    "v---"),
    "payers.gatewayorder":           ("v---",  NONE,    NONE,    NONE,    "v---",  "v---"),
    "payers.orderline":              ("v---",  "v---",  NONE,    NONE,    "v---",  "v---"),
    "reconciliation.statementfile":  ("v---",  NONE,    NONE,    NONE,    "v---",  "v---"),
    "reconciliation.reconciliationrun": ("v---", NONE,  NONE,    NONE,    "v---",  "v---"),
    "reconciliation.discrepancy":    ("v---",  NONE,    NONE,    NONE,    "v---",  "v---"),
    "reconciliation.settlementbatch": ("v---", NONE,    NONE,    NONE,    "v---",  "v---"),
    "reconciliation.settlementrun":  ("v---",  NONE,    NONE,    NONE,    "v---",  "v---"),
    # The working calendar (public holidays, swapped working days) overridden by the operator.
    "reconciliation.workingdayoverride": ("vacd", NONE,  NONE,    NONE,    "v---",  "v---"),
    "billing.auditevent":            ("v---",  NONE,    NONE,    NONE,    "v---",  "v---"),
    # Operations: the outbox's money events (append-only) and tasks that exhausted their retries.
    "billing.outboxevent":           ("v---",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "billing.failedtask":            ("v-cd",  NONE,    NONE,    NONE,    NONE,    "v---"),
    # Live billers (issue 17): links to their systems hold secrets (platform admins); what the systems said
    # about each payment is read-only, by the biller's operators too.
    "billing.billerlink":            ("vacd",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "billing.billercheck":           ("v---",  "v---",  NONE,    NONE,    "v---",  "v---"),
    "billing.cardwriterule":         ("vacd",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "billing.topuphold":             ("v---",  "v---",  NONE,    NONE,    "v---",  "v---"),
    # Fiscal e-receipts (issue 17): the issuer setting holds a secret (platform admins); the receipts are
    # read-only, by the biller's operators too.
    "billing.fiscalsetup":           ("vacd",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "billing.fiscalreceipt":         ("v---",  "v---",  NONE,    NONE,    "v---",  "v---"),
    # Who may do what: staff, roles, biller and branch links, API partners and their keys.
    "auth.user":                     ("vacd",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "auth.group":                    ("vacd",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "billing.billerstaff":           ("vacd",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "branches.branchstaff":          ("vacd",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "api.partner":                   ("vacd",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "api.apicredential":             ("v-cd",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "api.billerapiaccess":           ("vacd",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "api.webhookdelivery":           ("v-cd",  NONE,    NONE,    NONE,    NONE,    "v---"),
    # Partners' hosted checkouts: written only by api.checkout, read-only in the admin.
    "api.hostedcheckout":            ("v---",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "mfa.authenticator":             ("vacd",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "account.emailaddress":          ("vacd",  NONE,    NONE,    NONE,    NONE,    "v---"),
    # Failed and locked-out logins (django-axes): usernames and addresses, read-only.
    "axes.accessattempt":            ("v---",  NONE,    NONE,    NONE,    NONE,    "v---"),
    # Personal data: payers, and the holders on billers' customer accounts.
    # Payers are editable by hand by platform admins (no read-only guard in PayerAdmin), recorded as is.
    "payers.payer":                  ("vacd",  NONE,    NONE,    NONE,    NONE,    "v---"),
    # Citizens' auto-pay mandates: read-only for those who may see payers (changed only in the portal).
    "payers.mandate":                ("v---",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "payers.familylink":             ("v---",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "billing.customeraccount":       ("vacd",  "vac-",  NONE,    NONE,    NONE,    "v---"),
    # Billers' and branches' own data.
    "billing.bill":                  ("vacd",  "vac-",  NONE,    NONE,    NONE,    "v---"),
    "billing.biller":                ("vacd",  "v---",  NONE,    NONE,    NONE,    "v---"),
    "billing.billimportjob":         ("v---",  "v---",  NONE,    NONE,    NONE,    "v---"),
    "billing.billercategory":        ("vacd",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "branches.branch":               ("vacd",  NONE,    "v---",  "v---",  NONE,    "v---"),
    "branches.operator":             ("vacd",  NONE,    "v---",  NONE,    NONE,    "v---"),
    # Agents with a float (issue 18, item 4): the operator's supervisors register its agents; who works
    # for one names a user (platform admins); payments, top-ups and alerts are records.
    "branches.agent":                ("vac-",  NONE,    "vac-",  NONE,    NONE,    "v---"),
    "branches.agentstaff":           ("vacd",  NONE,    "v---",  NONE,    NONE,    "v---"),
    "branches.agentpayment":         ("v---",  NONE,    "v---",  NONE,    "v---",  "v---"),
    "branches.floattopup":           ("v---",  NONE,    "v---",  NONE,    "v---",  "v---"),
    "branches.lowfloatalert":        ("v---",  NONE,    "v---",  NONE,    NONE,    "v---"),
    "branches.branchstatuschange":   ("v---",  NONE,    "v---",  NONE,    NONE,    "v---"),
    "branches.outletnotice":         ("v---",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "branches.plannedclosure":       ("vacd",  NONE,    "v---",  NONE,    NONE,    "v---"),
    "branches.coveragethreshold":    ("vacd",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "branches.coveragealert":        ("v---",  NONE,    NONE,    NONE,    NONE,    "v---"),
    "reconciliation.complaint":      ("v---",  NONE,    NONE,    NONE,    "v---",  "v---"),
    "disputes.dispute":              ("v---",  NONE,    NONE,    NONE,    "v---",  "v---"),
}
# fmt: on


def expected_row(role) -> dict[str, str]:
    column = ROLES.index(role)
    return {label: actions[column] for label, actions in MATRIX.items()}


def offered_by_the_admin_index(client) -> dict[str, str]:
    """What the admin's index offers the logged-in user, per model, as "vacd" letters."""
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    offered = {label: NONE for label in MATRIX}
    for app in response.context["app_list"]:
        for model in app["models"]:
            perms = model["perms"]
            label = model["model"]._meta.label_lower
            offered[label] = "".join(
                letter if perms.get(action) else "-"
                for letter, action in zip("vacd", ("view", "add", "change", "delete"), strict=True)
            )
    return offered


class TestTheMatrix:
    def test_every_registered_admin_model_has_a_row_in_the_matrix(self):
        """A model added to the admin needs a decision here about who may see and change it."""
        registered = {model._meta.label_lower for model in admin.site._registry}
        assert registered == set(MATRIX)

    @pytest.mark.parametrize("role", ROLES)
    def test_the_admin_index_offers_each_role_exactly_its_row(self, client, world, role):
        client = login(client, world, ROLE_USER[role])
        assert offered_by_the_admin_index(client) == expected_row(role)

    def test_a_second_biller_operator_gets_the_same_row(self, client, world):
        client = login(client, world, "carol")
        assert offered_by_the_admin_index(client) == expected_row(roles.BILLER_OPERATOR)


# The rows the sensitive models are probed on, one each user may reach: in the scope of bob (biller A),
# carol (biller B), dave (branch X) or erin (branch Y).
PROBES = {
    "billing.payment": {"*": "payment_a_x", "carol": "payment_b_y", "erin": "payment_b_y"},
    "billing.journalentry": {"*": "entry_b_y"},
    "billing.ledgeraccount": {"*": "ledger_payable_a"},
    "billing.feeschedule": {"*": "fee_a", "carol": "fee_b"},
    "branches.till": {"*": "till_x", "erin": "till_y"},
    "branches.counterpayment": {"*": "cash_x", "erin": "cash_y"},
    "payers.gatewayorder": {"*": "order"},
    "payers.orderline": {"*": "line_a", "carol": "line_b"},
    "auth.user": {"*": "carol_user"},
    "auth.group": {"*": "clerks"},
    "billing.billerstaff": {"*": "bob_link"},
    "branches.branchstaff": {"*": "staff_x"},
    "api.partner": {"*": "partner"},
    "api.apicredential": {"*": "credential"},
    "api.billerapiaccess": {"*": "biller_api_a"},
    "account.emailaddress": {"*": "carol_email"},
    "payers.payer": {"*": "payer"},
    "billing.customeraccount": {"*": "account_a", "carol": "account_b"},
    "billing.bill": {"*": "bill_a", "carol": "bill_b"},
    "billing.biller": {"*": "biller_a", "carol": "biller_b"},
    "branches.branch": {"*": "branch_x", "erin": "branch_y"},
}

REFUSED = {403, 404}


def probe(client, label, obj) -> str:
    """What the admin's own views let the logged-in user do, as "vacd" letters: the list answers, the add
    form opens, a change is accepted (a refused one answers 403/404 and writes nothing), the delete
    confirmation opens (a refused delete answers 403/404 and the row stays)."""
    model = type(obj)
    before = model._default_manager.filter(pk=obj.pk).values().get()
    letters = ""
    letters += "v" if client.get(changelist_url(label)).status_code == 200 else "-"
    letters += "a" if client.get(add_url(label)).status_code == 200 else "-"
    change = client.post(admin_url(obj), {})
    letters += "-" if change.status_code in REFUSED else "c"
    if change.status_code in REFUSED:
        assert model._default_manager.filter(pk=obj.pk).values().get() == before, (label, "changed")
    delete = client.get(admin_url(obj, "delete"))
    letters += "d" if delete.status_code == 200 else "-"
    if delete.status_code != 200:
        assert delete.status_code in REFUSED, (label, delete.status_code)
        assert client.post(admin_url(obj, "delete"), {"post": "yes"}).status_code in REFUSED
        assert model._default_manager.filter(pk=obj.pk).exists(), (label, "deleted")
    return letters


def add_url(label):
    app_label, model_name = label.split(".")
    return reverse(f"admin:{app_label}_{model_name}_add")


class TestTheSensitiveModelsThroughTheirPages:
    @pytest.mark.parametrize("name", USERS)
    def test_each_user_can_do_to_a_row_of_its_own_exactly_what_the_matrix_says(self, client, world, name):
        client = login(client, world, name)
        expected = {label: expected_row(USER_ROLES[name])[label] for label in PROBES}
        observed = {
            label: probe(client, label, world[keys.get(name, keys["*"])]) for label, keys in PROBES.items()
        }
        assert observed == expected

    def test_journal_lines_show_on_their_entry_and_no_one_adds_changes_or_deletes_them(self, client, world):
        for name in ("alice", "frank", "grace"):
            response = login(client, world, name).get(admin_url(world["entry_b_y"]))
            assert response.status_code == 200
            (lines,) = response.context["inline_admin_formsets"]
            assert lines.formset.model._meta.label_lower == "billing.journalline"
            assert lines.formset.total_form_count() == 2
            assert not (
                lines.has_add_permission or lines.has_change_permission or lines.has_delete_permission
            )

    @pytest.mark.parametrize("name", USERS)
    def test_nobody_edits_a_payment_by_hand(self, client, world, name):
        payment = world["payment_b_y"] if name == "erin" else world["payment_a_x"]
        amount = payment.amount
        response = login(client, world, name).post(
            admin_url(payment), {"amount": "1.00", "status": "reversed"}
        )
        assert response.status_code in REFUSED
        payment.refresh_from_db()
        assert payment.amount == amount and payment.status == "posted"


# Which of the world's rows each user may see. Written out by hand.
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
    "fee_a",
    "fee_b",
    "till_x",
    "till_y",
    "cash_x",
    "cash_y",
    "line_a",
    "line_b",
    "credential",
}
VISIBLE = {
    "alice": EVERYTHING,
    "bob": {
        "biller_a",
        "account_a",
        "bill_a",
        "bill_a2",
        "payment_a_online",
        "payment_a_x",
        "fee_a",
        "line_a",
    },
    "carol": {"biller_b", "account_b", "bill_b", "payment_b_y", "fee_b", "line_b"},
    "dave": {"payment_a_x", "branch_x", "till_x", "cash_x"},
    "erin": {"payment_b_y", "branch_y", "till_y", "cash_y"},
    "frank": {
        "payment_a_online",
        "payment_a_x",
        "payment_b_y",
        "ledger_payable_a",
        "entry_b_y",
        "audit_event",
        "line_a",
        "line_b",
    },
    "grace": EVERYTHING,
}


class TestScope:
    @pytest.mark.parametrize("name", USERS)
    def test_a_row_is_listed_opened_and_its_history_shown_only_to_those_who_may_see_it(
        self, client, world, name
    ):
        client = login(client, world, name)
        listed, opened, history, listings = set(), set(), set(), {}
        for key in sorted(EVERYTHING):
            obj = world[key]
            url = changelist_url(type(obj))
            if url not in listings:
                listings[url] = client.get(url)
            listing = listings[url]
            assert listing.status_code in {200, 403}, key
            if listing.status_code == 200 and admin_url(obj) in listing.text:
                listed.add(key)
            change = client.get(admin_url(obj))
            assert change.status_code in {200, 403, 404}, key
            if change.status_code == 200:
                opened.add(key)
            history_page = client.get(admin_url(obj, "history"))
            assert history_page.status_code in {200, 403, 404}, key
            if history_page.status_code == 200:
                history.add(key)
        assert listed == opened == history == VISIBLE[name]

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
            "JournalLine",  # the lines on its own payable account (issue 16)
            "BillerCheck",  # what its own live system answered about each payment (issue 17)
            "TopUpHold",  # its card top-ups: held, written or refunded (issue 17, item 8)
            "FiscalReceipt",  # the fiscal e-receipts of its payments (issue 17)
        }

    def test_clerk_sees_only_the_counter_payments_of_the_branch(self, client, world):
        response = login(client, world, "dave").get(changelist_url(Payment))
        listed = set(response.context["cl"].result_list)
        assert listed == {world["payment_a_x"], world["cash_x"].payment}

    def test_supervisor_sees_only_the_counter_payments_of_the_branch(self, client, world):
        response = login(client, world, "erin").get(changelist_url(Payment))
        assert set(response.context["cl"].result_list) == {world["payment_b_y"], world["cash_y"].payment}

    def test_a_superuser_outside_every_role_group_is_a_platform_admin(self, client, django_user_model, world):
        root = django_user_model.objects.create_superuser("root", "root@example.com", None)
        client = log_in(client, root)
        assert offered_by_the_admin_index(client) == expected_row(roles.PLATFORM_ADMIN)
        assert client.get(admin_url(world["bill_b"], "delete")).status_code == 200

    def test_a_staff_user_with_no_role_may_see_nothing(self, client, django_user_model, world):
        nobody = django_user_model.objects.create_user("nobody", is_staff=True)
        client = log_in(client, nobody)
        assert offered_by_the_admin_index(client) == dict.fromkeys(MATRIX, NONE)
        assert client.get(changelist_url(Payment)).status_code == 403
        assert client.get(admin_url(world["payment_a_x"])).status_code in REFUSED

    def test_an_operator_without_a_biller_link_sees_no_biller_data(self, client, django_user_model, world):
        loose = make_staff(django_user_model, "loose", roles.BILLER_OPERATOR)
        client = log_in(client, loose)
        for model in (Bill, Payment, "billing.customeraccount", "billing.biller"):
            response = client.get(changelist_url(model))
            assert response.status_code == 200
            assert list(response.context["cl"].result_list) == []

    def test_a_clerk_who_also_operates_a_biller_sees_both_scopes(self, client, world):
        bob = world.users["bob"]
        BranchStaff.objects.create(user=bob, branch=world["branch_y"], role=BranchRole.CLERK)
        bob.groups.add(world["clerks"])
        client = login(client, world, "bob")
        payments = set(client.get(changelist_url(Payment)).context["cl"].result_list)
        assert payments == {
            world["payment_a_online"],
            world["payment_a_x"],
            world["cash_x"].payment,
            world["payment_b_y"],
            world["cash_y"].payment,
        }
        bills = set(client.get(changelist_url(Bill)).context["cl"].result_list)
        assert bills == {world["bill_a"], world["bill_a2"], world["cash_x"].payment.allocations.get().bill}


class TestEveryPage:
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

    @pytest.mark.parametrize("name", USERS)
    def test_every_list_and_add_page_answers_200_or_403_and_the_list_as_the_index_says(
        self, client, world, name
    ):
        """No admin page fails with a 500 for any role, and a list answers 200 exactly to those the index
        offers it to."""
        client = login(client, world, name)
        offered = offered_by_the_admin_index(client)
        answers = {}
        for model in admin.site._registry:
            label = model._meta.label_lower
            answers[label] = (
                client.get(changelist_url(label)).status_code,
                client.get(add_url(label)).status_code,
            )
        assert {label: listing for label, (listing, _) in answers.items()} == {
            label: 200 if offered[label][0] == "v" else 403 for label in answers
        }
        assert {label: add for label, (_, add) in answers.items()} == {
            label: 200 if offered[label][1] == "a" else 403 for label in answers
        }


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
        assert set(response.context["cl"].result_list) == {
            world["account_a"],
            world["cash_x"].payment.account,
        }

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
        assert response.status_code in REFUSED

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
    def test_no_changelist_makes_more_queries_when_it_has_more_rows(self, client, world):
        client = login(client, world, "alice")
        urls = {model._meta.label_lower: changelist_url(model) for model in admin.site._registry}

        def count_queries():
            counts = {}
            for label, url in urls.items():
                with CaptureQueriesContext(connection) as queries:
                    assert client.get(url).status_code == 200, label
                counts[label] = len(queries)
            return counts

        before = count_queries()
        for n in range(3):
            biller = BillerFactory()
            account = CustomerAccountFactory(biller=biller)
            BillFactory(account=account)
            branch = BranchFactory()
            pay(account, key=f"more-{n}", channel=Channel.COUNTER, branch=branch)
            BillerStaff.objects.create(user=world.users["grace"], biller=biller)
            BranchStaff.objects.create(user=world.users["grace"], branch=branch, role=BranchRole.CLERK)
        assert count_queries() == before


class TestOnlineOrderLines:
    def test_operator_sees_only_its_billers_lines_of_a_shared_order(self, client, world):
        client = login(client, world, "bob")
        response = client.get(changelist_url(OrderLine), {"q": world["order"].order_no})
        assert list(response.context["cl"].result_list) == [world["line_a"]]
        assert "22220002" not in response.text
        assert client.get(admin_url(world["line_a"])).status_code == 200
        assert client.get(admin_url(world["line_b"])).status_code in {302, 403, 404}
        assert client.get(changelist_url(GatewayOrder)).status_code == 403
