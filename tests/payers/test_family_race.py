"""Two checkouts of a family member at the same moment, each within the limit per payment but together
above the month's: the link's row lock lets one through and refuses the other, nothing more is opened."""

import threading

import pytest
from django.db import connection

from billing.exceptions import BillingError
from payers import family
from payers.models import BoundAccount, GatewayOrder

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_two_checkouts_at_once_cannot_both_pass_the_months_limit(water, sandbox_bank, django_user_model):
    citizen = django_user_model.objects.create_user("xm", "xm@example.com", "pw-xm-12345")
    son = django_user_model.objects.create_user("son", "son@example.com", "pw-son-12345")
    BoundAccount.objects.create(user=citizen, account=water["account"], label="家里水费")
    invited = family.invite(owner=citizen, label="儿子", per_payment_limit="100.00", monthly_limit="150.00")
    link = family.accept(member=son, token=invited.invite_token)
    september, october = water["bills"]  # ¥100.00 and ¥80.00: each fits a payment, not both a month
    barrier = threading.Barrier(2)
    outcomes = {}

    def checkout(bill):
        try:
            barrier.wait(timeout=10)
            outcomes[bill.period] = family.start_checkout(
                member=son, link=link, bill_ids=[bill.pk], gateway_code="SANDBOX", subject="x"
            )
        except BillingError as refused:
            outcomes[bill.period] = refused
        finally:
            connection.close()

    threads = [threading.Thread(target=checkout, args=(bill,)) for bill in (september, october)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    refusals = [outcome for outcome in outcomes.values() if isinstance(outcome, BillingError)]
    assert len(outcomes) == 2 and len(refusals) == 1
    assert refusals[0].code == "family_month_limit"
    assert GatewayOrder.objects.filter(family_link=link).count() == 1
