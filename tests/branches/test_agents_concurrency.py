"""Two terminals of one agent take payments at the same moment for more than the float holds: the agent
row is locked while the float is checked, so one is posted and the other refused, and the float is never
overdrawn."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from billing.choices import Channel
from billing.exceptions import BillingError
from billing.models import Payment
from branches import agents, selectors
from branches.models import AgentStaff
from tests.branches.conftest import PASSWORD, fund_float
from tests.factories import BillFactory, CustomerAccountFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_two_payments_racing_for_the_last_yuan_of_a_float_one_passes_one_is_refused(
    django_user_model, ada, village_agent, water
):
    bob = django_user_model.objects.create_user("bob", "bob@example.com", PASSWORD)
    AgentStaff.objects.create(user=bob, agent=village_agent, terminal_id="T2")
    fund_float(village_agent, "100.00")
    due = timezone.localdate() + datetime.timedelta(days=10)
    bills = {
        name: BillFactory(
            account=CustomerAccountFactory(biller=water, account_no=number),
            period="2026-10",
            amount_due=Decimal("60.00"),
            due_date=due,
        )
        for name, number in (("ada", "33010001"), ("bob", "33010002"))
    }
    barrier = threading.Barrier(2)
    outcomes = {}

    def take(user):
        try:
            staff = AgentStaff.objects.select_related("agent", "user").get(user=user)
            bill = bills[user.username]
            barrier.wait(timeout=10)
            taken = agents.take_agent_payment(
                staff=staff,
                biller_code=water.code,
                account_no=bill.account.account_no,
                periods=[bill.period],
                amount="60.00",
                key=f"race-{user.username}",
            )
            outcomes[user.username] = taken.agent_payment.payment.receipt_no
        except BillingError as refused:
            outcomes[user.username] = refused
        finally:
            connection.close()

    threads = [threading.Thread(target=take, args=(user,)) for user in (ada, bob)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    refusals = [o for o in outcomes.values() if isinstance(o, BillingError)]
    receipts = [o for o in outcomes.values() if isinstance(o, str)]
    assert len(receipts) == 1 and len(refusals) == 1
    assert refusals[0].code == "float_exhausted"
    assert Payment.objects.filter(channel=Channel.AGENT).count() == 1
    assert selectors.float_balance(village_agent) == Decimal("40.00")
