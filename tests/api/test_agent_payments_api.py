"""The partner API for agent apps (issue 18, item 4): a partner that runs the agents' app of an operator
takes payments for that operator's agents out of their floats, naming agent and terminal; refused, with
nothing posted, for another operator's agent, an unknown terminal, or when the float is exhausted."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.choices import Channel
from billing.models import Payment
from branches import agents, selectors
from branches.choices import AgentKind
from branches.models import Agent, AgentPayment, AgentStaff
from tests.api.conftest import error_code
from tests.factories import BillFactory, CustomerAccountFactory, OperatorFactory

pytestmark = pytest.mark.django_db
BASE = "/api/v1/partner"


@pytest.fixture
def agent(partner, water, django_user_model):
    operator = OperatorFactory(code="VILLAGES", name="乡村便民服务")
    partner.agent_operator = operator
    partner.save()
    agent = agents.save_agent(
        agent=Agent(
            code="AG0101",
            name="桃源村代办点",
            kind=AgentKind.VILLAGE_OFFICER,
            operator=operator,
            region_code="330183",
            address="桃源村",
        ),
        actor=None,
        created=True,
    )
    agent.billers.add(water)
    user = django_user_model.objects.create_user("taoyuan", "t@example.com", "x")
    AgentStaff.objects.create(user=user, agent=agent, terminal_id="POS-7")
    agents.credit_float(
        agent=agent, amount=Decimal("150.00"), bank_ref="TX-API", business_date=timezone.localdate()
    )
    return agent


def water_bill(water, account_no, amount="100.00"):
    return BillFactory(
        account=CustomerAccountFactory(biller=water, account_no=account_no),
        period="2026-10",
        amount_due=Decimal(amount),
        due_date=timezone.localdate() + datetime.timedelta(days=10),
    )


def body(bill, **extra):
    return {
        "agent_code": "AG0101",
        "terminal_id": "POS-7",
        "biller_code": bill.biller.code,
        "account_no": bill.account.account_no,
        "periods": [bill.period],
        "amount": str(bill.amount_due),
        **extra,
    }


def test_an_agent_app_takes_a_payment_out_of_the_float(api, agent, water):
    bill = water_bill(water, "31000001")
    response = api.post(f"{BASE}/agent-payments", body(bill), idempotency_key="a1")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["agent_code"] == "AG0101" and data["terminal_id"] == "POS-7"
    assert data["float_after"] == "50.00" and data["region_code"] == "330183"
    payment = Payment.objects.get(receipt_no=data["receipt_no"])
    assert payment.channel == Channel.AGENT and payment.agent_payment.source == "api"
    again = api.post(f"{BASE}/agent-payments", body(bill), idempotency_key="a1")
    assert again.json()["receipt_no"] == data["receipt_no"]
    assert selectors.float_balance(agent) == Decimal("50.00")


def test_the_float_exhausted_is_refused_with_409_and_nothing_posted(api, agent, water):
    bill = water_bill(water, "31000001", amount="200.00")
    response = api.post(f"{BASE}/agent-payments", body(bill), idempotency_key="a1")
    assert response.status_code == 409 and error_code(response) == "float_exhausted"
    assert "¥150.00" in response.json()["error"]["message"]
    assert not AgentPayment.objects.exists() and not Payment.objects.exists()


def test_another_operators_agent_is_unknown(api, agent, water):
    other = agents.save_agent(
        agent=Agent(
            code="AG0202",
            name="别家",
            kind=AgentKind.SHOP,
            operator=OperatorFactory(),
            region_code="330100",
            address="x",
        ),
        actor=None,
        created=True,
    )
    bill = water_bill(water, "31000001", amount="10.00")
    response = api.post(f"{BASE}/agent-payments", body(bill, agent_code=other.code), idempotency_key="a1")
    assert response.status_code == 404 and error_code(response) == "agent_unknown"


def test_an_unknown_terminal_is_refused(api, agent, water):
    bill = water_bill(water, "31000001", amount="10.00")
    response = api.post(f"{BASE}/agent-payments", body(bill, terminal_id="POS-8"), idempotency_key="a1")
    assert response.status_code == 404 and error_code(response) == "agent_terminal_unknown"


def test_a_partner_without_an_agents_app_is_refused(api, water):
    bill = water_bill(water, "31000001", amount="10.00")
    response = api.post(f"{BASE}/agent-payments", body(bill), idempotency_key="a1")
    assert response.status_code == 403 and error_code(response) == "not_an_agent_app"


def test_the_refusal_is_in_chinese_when_asked(client, issued, agent, water):
    from tests.api.conftest import SignedClient

    zh = SignedClient(client, issued.credential.key_id, issued.secret, language="zh-hans")
    bill = water_bill(water, "31000001", amount="200.00")
    response = zh.post(f"{BASE}/agent-payments", body(bill), idempotency_key="a1")
    assert "备付金仅剩 ¥150.00" in response.json()["error"]["message"]
