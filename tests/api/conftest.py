import http.server
import json
import secrets
import threading
import time
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from api import services, signing
from api.models import Partner
from billing.models import BillerCategory
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory


class SignedClient:
    """Django's test client, signing every request the way docs/partner-api.md tells partners to."""

    def __init__(self, client, key_id: str, secret: str, *, language: str = "en"):
        self.client = client
        self.key_id = key_id
        self.secret = secret
        self.language = language

    def headers(self, method, path, query, body, *, timestamp=None, nonce=None, secret=None):
        timestamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or secrets.token_hex(12)
        signature = signing.sign(
            secret or self.secret,
            method=method,
            path=path,
            query=query,
            timestamp=timestamp,
            nonce=nonce,
            body=body,
        )
        return {
            "X-BillPay-Key": self.key_id,
            "X-BillPay-Timestamp": timestamp,
            "X-BillPay-Nonce": nonce,
            "X-BillPay-Signature": signature,
            "Accept-Language": self.language,
        }

    def get(self, path, params=None, *, extra_headers=None, **sign_kwargs):
        query = urlencode(params or {})
        headers = {**self.headers("GET", path, query, b"", **sign_kwargs), **(extra_headers or {})}
        return self.client.get(f"{path}?{query}" if query else path, headers=headers)

    def post(self, path, data, *, idempotency_key=None, extra_headers=None, **sign_kwargs):
        body = json.dumps(data).encode() if not isinstance(data, bytes) else data
        headers = self.headers("POST", path, "", body, **sign_kwargs)
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        headers.update(extra_headers or {})
        return self.client.generic("POST", path, body, content_type="application/json", headers=headers)


def pay(api, bill, key="k-1", **overrides):
    """A partner's payment of the bill's whole outstanding amount, with the Idempotency-Key `key`."""
    body = {
        "biller_code": bill.biller.code,
        "account_no": bill.account.account_no,
        "amount": str(bill.outstanding),
        "partner_ref": f"ACME-{key}",
        **overrides,
    }
    return api.post("/api/v1/partner/payments", body, idempotency_key=key)


@pytest.fixture
def water():
    return BillerFactory(code="WATER01", name="滨江水务", name_en="Binjiang Water")


@pytest.fixture
def account(water):
    return CustomerAccountFactory(biller=water, account_no="31005678", holder_name="张小明")


@pytest.fixture
def bill(account):
    return BillFactory(account=account, period="2026-09", amount_due=Decimal("128.40"))


@pytest.fixture
def partner(water):
    partner = Partner.objects.create(code="ACME", name="Acme Pay", rate_limit_per_minute=1000)
    partner.allowed_categories.add(BillerCategory.objects.get(code="water"))
    return partner


@pytest.fixture
def issued(partner, admin_user):
    return services.issue_credential(owner=partner, actor=admin_user)


@pytest.fixture
def api(client, issued):
    return SignedClient(client, issued.credential.key_id, issued.secret)


def error_code(response) -> str:
    return response.json()["error"]["code"]


@pytest.fixture
def access(water, admin_user):
    return services.ensure_biller_api_access(biller=water, actor=admin_user)


class Receiver(http.server.BaseHTTPRequestHandler):
    received: list = []
    answer = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((self.headers, body))
        self.send_response(Receiver.answer)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.received = []
    Receiver.answer = 200
    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def hooked(access, receiver):
    access.webhook_url = f"http://127.0.0.1:{receiver.server_port}/billpay/hook"
    access.save()
    return access


# --- Hosted checkout (api.checkout; helpers in tests/api/hosted.py) ---


@pytest.fixture
def sandbox_bank(settings):
    """The sandbox bank switched on with a key of its own; the URLconf is put back afterwards."""
    from tests.api.hosted import load_urlconf, sandbox_bank_on

    sandbox_bank_on(settings)
    yield
    load_urlconf(sandbox_bank=False)


@pytest.fixture
def registered(partner):
    """The partner's registered return URL of the hosted checkout tests."""
    from api.models import PartnerReturnUrl
    from tests.api.hosted import RETURN_URL

    return PartnerReturnUrl.objects.create(partner=partner, url=RETURN_URL)
