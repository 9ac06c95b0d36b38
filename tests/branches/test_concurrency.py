"""Two clerks at two branches pay the same bill at the same moment: one succeeds, the other is refused
with a clear reason, and the bill is paid once."""

import threading

import pytest
from django.db import connection

from billing.exceptions import BillingError
from billing.models import Payment
from branches import services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_two_clerks_at_two_branches_racing_for_one_bill_pay_it_once(dave, erin, branch_x, branch_y, bill):
    tills = {
        dave.pk: services.open_till(clerk=dave, branch=branch_x, opening_float="100"),
        erin.pk: services.open_till(clerk=erin, branch=branch_y, opening_float="100"),
    }
    barrier = threading.Barrier(2)
    outcomes = {}

    def pay(clerk):
        try:
            barrier.wait(timeout=10)
            taken = services.take_cash(
                clerk=clerk,
                till_id=tills[clerk.pk].pk,
                biller_code=bill.biller.code,
                account_no=bill.account.account_no,
                periods=[bill.period],
                amount="86.50",
                tendered="100.00",
                form_key=f"race-{clerk.username}",
            )
            outcomes[clerk.username] = taken.counter_payment.payment.receipt_no
        except BillingError as refused:
            outcomes[clerk.username] = refused
        finally:
            connection.close()

    threads = [threading.Thread(target=pay, args=(clerk,)) for clerk in (dave, erin)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    refusals = [outcome for outcome in outcomes.values() if isinstance(outcome, BillingError)]
    receipts = [outcome for outcome in outcomes.values() if isinstance(outcome, str)]
    assert len(receipts) == 1 and len(refusals) == 1
    assert refusals[0].code == "bill_already_paid"
    assert "2026-10" in refusals[0].message
    assert Payment.objects.count() == 1
    bill.refresh_from_db()
    assert bill.status == "paid"
