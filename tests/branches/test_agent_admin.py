"""Operator staff (the supervisors of an operator's branches) register its agents in the back-office and
see only their operator's agents, floats and alerts; clerks see none; platform admins see all."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing import roles
from billing.dashboard import panels_for
from billing.models import AuditEvent, LedgerAccount
from branches import agents
from branches.choices import AgentKind, BranchRole
from branches.models import Agent
from tests.branches.conftest import fund_float, make_user
from tests.factories import BranchFactory, OperatorFactory
from tests.support import log_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop_chain(db):
    return OperatorFactory(code="SHOPS", name="便民连锁", kind="convenience_store")


@pytest.fixture
def shop_agent(shop_chain):
    agent = Agent(
        code="AG0002",
        name="小卖部",
        kind=AgentKind.SHOP,
        operator=shop_chain,
        region_code="330108",
        address="x",
    )
    return agents.save_agent(agent=agent, actor=None, created=True)


@pytest.fixture
def zoe(django_user_model, shop_chain):
    branch = BranchFactory(code="BR-Z", operator=shop_chain)
    return make_user(django_user_model, "zoe", roles.BRANCH_SUPERVISOR, branch, BranchRole.SUPERVISOR)


def agent_form(operator, code="AG0003", **extra):
    return {
        "code": code,
        "name": "新村代办点",
        "kind": AgentKind.VILLAGE_OFFICER,
        "operator": operator.pk,
        "status": "active",
        "region_code": "330106",
        "address": "新村村委会",
        "latitude": "",
        "longitude": "",
        "billers": [],
        "account_prefixes": "",
        "low_float_threshold": "300.00",
        "commission_fixed": "0.50",
        "commission_percentage": "0",
        "commission_max": "",
        **extra,
    }


def listed_codes(client):
    response = client.get(reverse("admin:branches_agent_changelist"))
    assert response.status_code == 200
    return {agent.code for agent in response.context["cl"].result_list}


def test_a_supervisor_sees_only_the_agents_of_its_own_operator(client, sam, village_agent, shop_agent):
    log_in(client, sam)
    assert listed_codes(client) == {"AG0001"}
    assert client.get(reverse("admin:branches_agent_change", args=[shop_agent.pk])).status_code == 404


def test_the_other_operators_supervisor_sees_only_its_own(client, zoe, village_agent, shop_agent):
    log_in(client, zoe)
    assert listed_codes(client) == {"AG0002"}


def test_a_platform_admin_sees_every_agent(client, django_user_model, village_agent, shop_agent):
    alice = django_user_model.objects.create_superuser("alice", "alice@example.com", "x")
    log_in(client, alice)
    assert listed_codes(client) == {"AG0001", "AG0002"}


def test_a_clerk_may_not_see_agents(client, dave, village_agent):
    log_in(client, dave)
    assert client.get(reverse("admin:branches_agent_changelist")).status_code == 403


def test_a_supervisor_registers_an_agent_of_its_operator_through_the_service(client, sam, branch_x, water):
    log_in(client, sam)
    response = client.post(
        reverse("admin:branches_agent_add"), agent_form(branch_x.operator, billers=[water.pk])
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    agent = Agent.objects.get(code="AG0003")
    assert list(agent.billers.all()) == [water]
    assert LedgerAccount.objects.filter(code="AGENT_FLOAT:AG0003").exists()
    assert AuditEvent.objects.filter(action="agent.registered", target_id=str(agent.pk)).exists()


def test_a_supervisor_may_not_register_an_agent_for_another_operator(client, sam, shop_chain):
    log_in(client, sam)
    response = client.post(reverse("admin:branches_agent_add"), agent_form(shop_chain))
    assert response.status_code == 200
    assert "operator" in response.context["adminform"].form.errors
    assert not Agent.objects.filter(code="AG0003").exists()


def test_a_bad_agent_code_is_refused(client, sam, branch_x):
    log_in(client, sam)
    response = client.post(reverse("admin:branches_agent_add"), agent_form(branch_x.operator, code="ag-1"))
    assert response.status_code == 200
    assert "code" in response.context["adminform"].form.errors


def test_the_low_float_panel_shows_an_operators_agent_to_its_supervisor_only(
    sam, zoe, ada, village_agent, water
):
    from tests.branches.test_agents import pay, water_bill

    fund_float(village_agent, "60.00")
    pay(ada.agent_roles.get(), water_bill(water, "33010001", "20.00"), "k1")
    sams = {panel.key: panel.chart for panel in panels_for(sam)}
    assert [tuple(row) for row in sams["low_float"].rows] == [
        ("云栖村代办点 (AG0001)", Decimal("40.00"), Decimal("50.00"))
    ]
    zoes = {panel.key: panel.chart for panel in panels_for(zoe)}
    assert zoes["low_float"].rows == []


def test_the_reports_page_shows_commission_per_agent_of_the_supervisors_operator(
    client, sam, zoe, ada, village_agent, shop_agent, water
):
    from tests.branches.test_agents import pay, water_bill

    fund_float(village_agent, "300.00")
    pay(ada.agent_roles.get(), water_bill(water, "33010001", "100.00"), "k1")
    page = log_in(client, sam).get(reverse("counter:reports")).content.decode()
    assert "云栖村代办点 (AG0001)" in page and "¥0.60" in page
    assert "AG0002" not in page
    assert "AG0001" not in log_in(client, zoe).get(reverse("counter:reports")).content.decode()
