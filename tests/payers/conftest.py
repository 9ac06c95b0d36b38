import base64
import datetime
import importlib
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import rsa
from alipay.aop.api.util.SignatureUtils import get_sign_content
from Crypto.PublicKey import RSA
from django.test import override_settings
from django.urls import clear_url_caches

from billing.choices import AmountRule, PaymentMode
from payers.gateways.alipay import AlipayGateway
from payers.models import GatewayOrder, SandboxBankTrade
from payers.sandbox_bank.services import notification_params
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

# The key the sandbox bank is given in these tests: not the published demo key, which a forger would use.
SANDBOX_TEST_KEY = "sandbox-test-key-0f3a9c"


def _load_urlconf(*, sandbox_bank: bool) -> None:
    """Load the URLconf again, as the server does at start, when the sandbox bank's mount must change."""
    from config import urls

    mounted = any(str(pattern.pattern) == "sandbox-bank/" for pattern in urls.urlpatterns)
    if mounted != sandbox_bank:
        with override_settings(SANDBOX_BANK_ENABLED=sandbox_bank):
            importlib.reload(urls)
        clear_url_caches()


@pytest.fixture(scope="package", autouse=True)
def _urlconf_as_configured():
    """After these tests the URLconf is again what the settings say."""
    yield
    from django.conf import settings

    _load_urlconf(sandbox_bank=settings.SANDBOX_BANK_ENABLED)


@pytest.fixture
def sandbox_bank(settings):
    """The sandbox bank switched on (its gateway, its pages under /sandbox-bank/), with a key of its own.
    Through pytest-django's `settings`, so that every change of a test is undone in the right order."""
    settings.SANDBOX_BANK_ENABLED = True
    settings.SANDBOX_BANK_KEY = SANDBOX_TEST_KEY
    _load_urlconf(sandbox_bank=True)


@pytest.fixture(autouse=True)
def _sandbox_bank_off_unless_asked(request):
    """As in production, the sandbox bank is off: a test that needs it asks for `sandbox_bank`."""
    if "sandbox_bank" not in request.fixturenames:
        request.getfixturevalue("settings").SANDBOX_BANK_ENABLED = False
        _load_urlconf(sandbox_bank=False)


@pytest.fixture(scope="session")
def alipay_keys():
    merchant_public, merchant_private = rsa.newkeys(1024)
    alipay_public, alipay_private = rsa.newkeys(1024)
    return {
        "merchant_public": merchant_public,
        "merchant_private_pem": merchant_private.save_pkcs1().decode(),
        # Alipay publishes its key as an X.509 SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY")
        "alipay_public_pem": RSA.construct((alipay_public.n, alipay_public.e)).export_key("PEM").decode(),
        "alipay_private": alipay_private,
    }


@pytest.fixture
def alipay(settings, alipay_keys):
    """Alipay switched on with locally made keys (no call leaves the machine)."""
    settings.ALIPAY_ENABLED = True
    settings.ALIPAY_APP_ID = "2021000000000001"
    settings.ALIPAY_APP_PRIVATE_KEY = alipay_keys["merchant_private_pem"]
    settings.ALIPAY_PUBLIC_KEY = alipay_keys["alipay_public_pem"]
    return AlipayGateway()


@pytest.fixture
def alipay_signed(alipay_keys):
    """Sign a notification as Alipay does: RSA2 over the canonical string, with Alipay's private key."""

    def sign(params: dict[str, str]) -> dict[str, str]:
        content = get_sign_content(params).encode()
        signature = rsa.sign(content, alipay_keys["alipay_private"], "SHA-256")
        return {**params, "sign_type": "RSA2", "sign": base64.b64encode(signature).decode()}

    return sign


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
def bank(client, sandbox_bank):
    return Bank(client)
