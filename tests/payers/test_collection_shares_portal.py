"""A shared fine paid on the portal (issue 17, item 4): when the bank confirms the order, the payment's
entry credits each co-beneficiary's payable with its part."""

import pytest

from billing.models import Payment
from tests.billing.test_collection_shares import assert_split, late_fine, shared_police

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("sandbox_bank")
def test_a_shared_fine_paid_online_is_split_among_its_co_beneficiaries(bank):
    fine = late_fine(shared_police())
    order = bank.checkout({"biller": "POLICE01", "account_no": "44001234", "bill": [fine.pk]})
    bank.pay(order)
    assert bank.notify(order).content == b"success"
    assert_split(Payment.objects.get(), "CLEARING:ONLINE")
