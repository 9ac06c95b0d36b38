"""The agent's pages: the float on every page, a lookup refused outside the agent's billers, a payment
taken until the float runs out and then refused with a clear message, in Chinese by default."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.choices import Channel
from billing.models import Payment
from tests.branches.conftest import fund_float
from tests.factories import BillFactory, CustomerAccountFactory
from tests.support import log_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def bills(water):
    due = timezone.localdate() + datetime.timedelta(days=10)
    return [
        BillFactory(
            account=CustomerAccountFactory(biller=water, account_no=f"3301000{n}", holder_name="王大妈"),
            period="2026-10",
            amount_due=Decimal("80.00"),
            due_date=due,
            description="水费",
        )
        for n in range(3)
    ]


def take(client, bill, key):
    return client.post(
        reverse("agent:pay"),
        {
            "form_key": key,
            "biller": bill.biller.code,
            "account_no": bill.account.account_no,
            "period": [bill.period],
            "amount": str(bill.amount_due),
        },
    )


def test_someone_not_taking_payments_for_an_agent_is_refused(client, django_user_model):
    user = django_user_model.objects.create_user("mallory", "m@example.com", "x", is_staff=True)
    log_in(client, user)
    assert client.get(reverse("agent:home")).status_code == 403


def test_the_home_page_shows_the_float_and_the_agents_billers(client, ada, village_agent, water):
    fund_float(village_agent, "300.00")
    page = log_in(client, ada).get(reverse("agent:home")).content.decode()
    assert "¥300.00" in page and "云栖村代办点" in page and water.display_name in page
    assert "备付金余额" in page  # Chinese by default


def test_an_agent_takes_cash_until_the_float_runs_out(client, ada, village_agent, bills):
    fund_float(village_agent, "200.00")
    log_in(client, ada)
    lookup = client.get(reverse("agent:lookup"), {"biller": "WATER", "q": bills[0].account.account_no})
    assert lookup.status_code == 200
    assert 'name="period" value="2026-10"' in lookup.content.decode()
    first = take(client, bills[0], "k0")
    assert first.status_code == 302
    receipt = client.get(first["Location"]).content.decode()
    assert "¥120.00" in receipt and "T1" in receipt
    assert take(client, bills[1], "k1").status_code == 302
    refused = take(client, bills[2], "k2")
    assert refused.status_code == 409
    text = refused.content.decode()
    assert "¥40.00" in text and "AG0001" in text
    assert Payment.objects.filter(channel=Channel.AGENT).count() == 2
    history = client.get(reverse("agent:history")).content.decode()
    assert bills[0].account.account_no in history and "¥200.00" in history


def test_a_refusal_is_in_english_on_request(client, ada, village_agent, bills):
    fund_float(village_agent, "10.00")
    log_in(client, ada)
    client.cookies["django_language"] = "en"
    text = take(client, bills[0], "k0").content.decode()
    assert "has ¥10.00 left, not enough for this payment of ¥80.00" in text


def test_a_lookup_outside_the_area_is_refused_on_the_page(client, ada, village_agent, bills):
    village_agent.account_prefixes = "4401"
    village_agent.save()
    page = log_in(client, ada).get(reverse("agent:lookup"), {"biller": "WATER", "q": "33010000"})
    assert 'role="alert"' in page.content.decode()


def test_another_agents_receipt_is_not_found(client, ada, village_agent, bills, django_user_model):
    from branches.models import Agent, AgentStaff

    fund_float(village_agent, "200.00")
    log_in(client, ada)
    location = take(client, bills[0], "k0")["Location"]
    other = Agent.objects.create(
        code="AG0002",
        name="另一个代办点",
        kind="shop",
        operator=village_agent.operator,
        region_code="330106",
        address="x",
    )
    eve = django_user_model.objects.create_user("eve", "e@example.com", "x", is_staff=True)
    AgentStaff.objects.create(user=eve, agent=other, terminal_id="T9")
    log_in(client, eve)
    assert client.get(location).status_code == 404
