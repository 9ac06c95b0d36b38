"""Orders of a gateway that is switched off after they were made, and browser returns that are not the
order's gateway's: incoming messages are not believed, our own trade query to the bank still settles the
order (and refunds still go out: test_gateway_flow)."""

import datetime

import pytest

from billing.models import Payment
from payers import services
from payers.choices import NotificationResult, OrderKind, OrderStatus
from payers.gateways import signing
from payers.models import GatewayOrder

pytestmark = pytest.mark.django_db


def guest_checkout(bank, water) -> GatewayOrder:
    return bank.checkout({"biller": "WATER01", "account_no": "31005678", "all": "1"})


def test_a_return_signed_by_the_sandbox_for_an_alipay_order_opens_nothing(
    client, sandbox_bank, alipay, water, settings
):
    order = services.start_checkout(
        lines=services.lines_for_bills([water["bills"][0].pk]),
        kind=OrderKind.BILLS,
        user=None,
        gateway_code="ALIPAY",
        subject="滨江水务",
    )
    params = signing.signed(
        {"merchant_id": settings.SANDBOX_BANK_MERCHANT_ID, "out_trade_no": order.order_no, "trade_no": "X"},
        settings.SANDBOX_BANK_KEY,
    )
    response = client.get("/payments/return/SANDBOX/", params)
    assert response.status_code == 404
    assert order.access_token not in response.content.decode()


def test_a_return_from_the_sandbox_while_it_is_off_finds_no_address(client, bank, water, settings):
    order = guest_checkout(bank, water)
    return_url = bank.pay(order)
    settings.SANDBOX_BANK_ENABLED = False
    response = bank.follow_return(return_url)
    assert response.status_code == 404


def test_a_paid_order_of_a_gateway_switched_off_since_is_settled_by_asking_the_bank(bank, water, settings):
    order = guest_checkout(bank, water)
    bank.pay(order)  # the notification is lost; then the operator switches the sandbox bank off
    settings.SANDBOX_BANK_ENABLED = False
    assert bank.notify(order).status_code == 404  # its notifications are refused from now on
    GatewayOrder.objects.filter(pk=order.pk).update(
        created_at=order.created_at - datetime.timedelta(minutes=10)
    )
    assert services.query_pending_orders(older_than_minutes=5) == {NotificationResult.APPLIED: 1}
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert Payment.objects.count() == 1
