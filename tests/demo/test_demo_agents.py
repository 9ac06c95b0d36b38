"""The demo's agents (issue 18, item 4): their floats funded by a reconciled camt.053, an unmatched
transfer left on the workbench, and the shop's agent taking cash on its pages until the float runs out."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from billing.choices import PAYABLE_BILL_STATUSES, Channel
from billing.models import Bill, Payment
from branches import selectors
from branches.models import Agent, FloatTopUp, LowFloatAlert
from demo import agents as agents_demo
from reconciliation.models import Discrepancy
from tests.support import log_in


@pytest.mark.django_db
def test_the_demo_shop_takes_cash_until_its_float_runs_out(client):
    call_command("seed_demo", "--accounts", "120", stdout=io.StringIO(), stderr=io.StringIO())
    assert FloatTopUp.objects.count() == len(agents_demo.AGENTS)
    assert Discrepancy.objects.filter(channel_code=agents_demo.FLOAT_CHANNEL).count() == 1
    village = Agent.objects.get(code="AG339001")
    assert selectors.float_balance(village) < 2000
    shop = Agent.objects.get(code="AG339002")
    assert LowFloatAlert.objects.filter(agent=shop, resolved_at__isnull=True).exists()

    log_in(client, get_user_model().objects.get(username="agent_shop"))
    home = client.get(reverse("agent:home")).content.decode()
    assert "幸福里便民小卖部" in home
    bills = Bill.objects.filter(biller__code="BJ-WATER", status__in=PAYABLE_BILL_STATUSES).order_by(
        "account__account_no"
    )
    refused = None
    for number, bill in enumerate(bills[:40]):
        if bill.account.bills.filter(status__in=PAYABLE_BILL_STATUSES, period__lt=bill.period).exists():
            continue
        response = client.post(
            reverse("agent:pay"),
            {
                "form_key": f"walk-{number}",
                "biller": "BJ-WATER",
                "account_no": bill.account.account_no,
                "period": [bill.period],
                "amount": str(bill.outstanding),
            },
        )
        if response.status_code == 409:
            refused = response.content.decode()
            break
        assert response.status_code == 302
    assert refused is not None and "AG339002" in refused
    before = selectors.float_balance(shop)
    assert before >= 0
    assert Payment.objects.filter(channel=Channel.AGENT, agent_payment__agent=shop).count() >= 2
