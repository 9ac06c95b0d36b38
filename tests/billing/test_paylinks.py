import datetime

import pytest
from django.core import signing

from billing.paylinks import bill_id_from_token, pay_path, pay_token
from tests.factories import BillFactory

pytestmark = pytest.mark.django_db


def test_a_pay_token_names_its_bill():
    bill = BillFactory()
    assert bill_id_from_token(pay_token(bill)) == bill.pk
    assert pay_path(bill).startswith("/pay/")


def test_a_tampered_token_names_no_bill():
    token = pay_token(BillFactory())
    assert bill_id_from_token(token[:-2] + ("AA" if not token.endswith("AA") else "BB")) is None


def test_a_token_signed_for_something_else_names_no_bill():
    bill = BillFactory()
    assert bill_id_from_token(signing.dumps({"b": bill.pk})) is None


def test_an_expired_token_names_no_bill(settings, monkeypatch):
    bill = BillFactory()
    token = pay_token(bill)
    settings.PAY_LINK_MAX_AGE_DAYS = 1
    later = datetime.datetime.now(tz=datetime.UTC).timestamp() + 2 * 86400
    monkeypatch.setattr(signing.time, "time", lambda: later)
    assert bill_id_from_token(token) is None
