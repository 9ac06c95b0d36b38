"""The database holds a bill to its account's biller (one composite foreign key, billing migration 0009)."""

import datetime

import pytest
from django.db import IntegrityError, transaction

from billing.models import Bill
from tests.factories import BillerFactory, CustomerAccountFactory


@pytest.mark.django_db(transaction=True)
def test_a_bill_cannot_name_a_biller_other_than_its_accounts():
    account = CustomerAccountFactory()
    other = BillerFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Bill.objects.create(
            account=account,
            biller=other,
            period="2026-01",
            amount_due="1.00",
            due_date=datetime.date(2026, 2, 1),
        )
    assert not Bill.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_bill_of_its_accounts_biller_is_stored():
    account = CustomerAccountFactory()
    with transaction.atomic():
        Bill.objects.create(
            account=account,
            biller=account.biller,
            period="2026-01",
            amount_due="1.00",
            due_date=datetime.date(2026, 2, 1),
        )
    assert Bill.objects.get().biller == account.biller
