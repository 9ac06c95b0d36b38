import datetime
from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from billing.choices import AmountRule, PaymentMode
from payers.models import GatewayOrder, SandboxBankTrade
from payers.sandbox_bank.services import notification_params
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory


@pytest.fixture
def water(db):
    biller = BillerFactory(
        code="WATER01", name="滨江水务", name_en="Binjiang Water", account_pattern=r"^\d{8}$"
    )
    account = CustomerAccountFactory(biller=biller, account_no="31005678", holder_name="张小明")
    sept = BillFactory(account=account, period="2026-09", amount_due=Decimal("100.00"))
    octo = BillFactory(
        account=account, period="2026-10", amount_due=Decimal("80.00"), due_date=datetime.date(2026, 11, 20)
    )
    return {"biller": biller, "account": account, "bills": [sept, octo]}


@pytest.fixture
def power(db):
    biller = BillerFactory(
        code="POWER01", name="滨江电力", name_en="Binjiang Power", amount_rule=AmountRule.EXACT_UP
    )
    account = CustomerAccountFactory(biller=biller, account_no="52001234", holder_name="李大山")
    bill = BillFactory(account=account, period="2026-10", amount_due=Decimal("66.60"))
    return {"biller": biller, "account": account, "bills": [bill]}


@pytest.fixture
def prepaid(db):
    biller = BillerFactory(
        code="GASCARD",
        name="燃气卡充值",
        payment_mode=PaymentMode.PREPAID,
        min_amount=Decimal("10.00"),
        max_amount=Decimal("2000.00"),
    )
    account = CustomerAccountFactory(biller=biller, account_no="77001234", holder_name="王芳")
    return {"biller": biller, "account": account}


class Bank:
    """Drives the sandbox bank the way a browser does, and delivers its notifications by hand (the
    notification task's real HTTP POST is tested with a live server)."""

    def __init__(self, client):
        self.client = client

    def checkout(self, data: dict) -> GatewayOrder:
        response = self.client.post("/checkout/", data)
        assert response.status_code == 302, response.content[:500]
        assert response.url.startswith("/sandbox-bank/gateway/"), response.url
        cashier = self.client.get(response.url)
        assert cashier.status_code == 302
        self.cashier_url = cashier.url
        return GatewayOrder.objects.latest("created_at")

    def trade(self, order) -> SandboxBankTrade:
        return SandboxBankTrade.objects.get(merchant_order_no=order.order_no)

    def pay(self, order, action: str = "pay"):
        """The payer presses the button; returns the browser's return URL (the bank's redirect)."""
        trade = self.trade(order)
        response = self.client.post(f"/sandbox-bank/pay/{trade.trade_no}/finish/", {"action": action})
        assert response.status_code == 302
        return response.url

    def notify(self, order, **changes):
        params = notification_params(self.trade(order))
        params.update(changes)
        return self.client.post("/payments/notify/SANDBOX/", params)

    def follow_return(self, url: str):
        parts = urlsplit(url)
        return self.client.get(f"{parts.path}?{parts.query}")


@pytest.fixture
def bank(client):
    return Bank(client)
