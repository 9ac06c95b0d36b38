"""Cash at the counter for a shared fine (issue 17, item 4): the branch's cash is debited and each
co-beneficiary's payable credited with its part in the payment's one entry."""

import pytest

from tests.billing.test_collection_shares import assert_split, late_fine, shared_police
from tests.support import take_cash

pytestmark = pytest.mark.django_db


def test_cash_for_a_shared_fine_is_split_among_its_co_beneficiaries(till, dave, branch_x):
    fine = late_fine(shared_police())
    taken = take_cash(dave, till, fine, amount="2003.00", tendered="2100.00")
    assert_split(taken.counter_payment.payment, f"CASH:{branch_x.code}")
