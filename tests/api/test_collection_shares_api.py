"""A partner pays a shared fine over the API (issue 17, item 4): the payment's entry credits each
co-beneficiary's payable with its part; the response and the webhook still speak of the payment whole."""

import pytest

from billing.models import Payment
from tests.billing.test_collection_shares import assert_split, late_fine, shared_police

pytestmark = pytest.mark.django_db


def test_a_partners_payment_of_a_shared_fine_is_split_among_its_co_beneficiaries(api, partner):
    late_fine(shared_police())
    body = {"biller_code": "POLICE01", "account_no": "44001234", "amount": "2003.00", "partner_ref": "p-1"}
    response = api.post("/api/v1/partner/payments", body, idempotency_key="k-1")
    assert response.status_code == 201, response.json()
    assert response.json()["amount"] == "2003.00"
    assert_split(Payment.objects.get(), "CLEARING:PARTNER")
