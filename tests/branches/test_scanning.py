import pytest
from django.urls import reverse

from billing.paylinks import pay_path
from branches import services
from tests.support import log_in

pytestmark = pytest.mark.django_db


def test_a_scanned_qr_pay_link_finds_the_bill(client, dave, branch_x, bill):
    services.open_till(clerk=dave, branch=branch_x, opening_float="0")
    log_in(client, dave)
    page = client.get(reverse("counter:lookup"), {"q": "https://pay.example.com" + pay_path(bill)})
    assert page.status_code == 200
    assert page.context["lookup"].selected_periods == {"2026-10"}


def test_a_forged_qr_link_is_refused(client, dave, branch_x, bill):
    services.open_till(clerk=dave, branch=branch_x, opening_float="0")
    log_in(client, dave)
    page = client.get(reverse("counter:lookup"), {"q": "https://pay.example.com/pay/forged/"})
    assert page.context["error"]
    assert "lookup" not in page.context
