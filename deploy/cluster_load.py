"""The cluster run's load (locust, headless; started by deploy/cluster.py in its own venv under var/).

Four kinds of request, through the load balancer over HTTPS:
  lookup   a guest looks up a water account's bills (GET /billers/<code>/?account_no=)
  guest    a guest pays a bill through the sandbox bank (lookup, checkout, the bank's cashier, pay)
  counter  a branch clerk takes cash at the counter (signed in with password and TOTP once)
  partner  a signed partner API payment, retried on a network error or a 5xx with the same Idempotency-Key

Every payment answer is appended to CLUSTER_ANSWERS as one JSON line (kind, status, key, receipt or
trade, start and end time, error code): the run's own record, judged afterwards against the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import os
import random
import re
import struct
import threading
import time
import uuid
from html import unescape
from pathlib import Path

from locust import HttpUser, between, events, task

REPO = Path(__file__).resolve().parent.parent
DATA = json.loads(Path(os.environ["CLUSTER_DATA"]).read_text())
ANSWERS = Path(os.environ["CLUSTER_ANSWERS"])
CERT = os.environ["CLUSTER_CERT"]
ACCOUNTS = sorted(DATA["accounts"])
BILLER = DATA["biller"]
_lock = threading.Lock()
_clerks = iter(DATA["clerks"])
_spec = importlib.util.spec_from_file_location("partner_client", REPO / "docs/examples/partner_client.py")
partner_client = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(partner_client)


def record(kind: str, started: float, status: int, **fields) -> None:
    line = {"kind": kind, "status": status, "t0": round(started, 3), "t1": round(time.time(), 3), **fields}
    with _lock, ANSWERS.open("a") as out:
        out.write(json.dumps(line) + "\n")


def error_code(response) -> str:
    """The error's stable code (API) or the page's marker (HTML): what makes a refusal a clear one."""
    try:
        return response.json()["error"]["code"]
    except Exception:
        found = re.search(r'data-error-code="([^"]+)"', response.text or "")
        return found.group(1) if found else ""


def totp(secret: str) -> str:
    """The clerk's authenticator: RFC 6238, 30 s, six digits (what allauth checks)."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def csrf(text: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text)
    return found.group(1) if found else ""


def field(text: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}"[^>]*?value="([^"]*)"', text)
    return unescape(found.group(1)) if found else ""


class Base(HttpUser):
    abstract = True
    wait_time = between(0.3, 1.2)

    def on_start(self):
        self.client.verify = CERT
        self.client.headers["Accept-Language"] = "zh-hans"

    def form(self, url: str, referer: str, fields: list, name: str):
        return self.client.post(
            url,
            data=fields,
            headers={"Referer": referer, "Origin": self.host},
            name=name,
            allow_redirects=True,
        )


class Lookup(Base):
    weight = 3

    @task
    def lookup(self):
        self.client.get(f"/billers/{BILLER}/", params={"account_no": random.choice(ACCOUNTS)}, name="lookup")


class Guest(Base):
    weight = 2

    @task
    def pay(self):
        account = random.choice(ACCOUNTS)
        page = self.client.get(f"/billers/{BILLER}/", params={"account_no": account}, name="guest:lookup")
        bills = re.findall(r'name="bill" value="(\d+)"', page.text) if page.ok else []
        if not bills:
            return
        cashier = self.form(
            "/checkout/",
            page.url,
            [
                ("csrfmiddlewaretoken", csrf(page.text)),
                ("biller", BILLER),
                ("account_no", account),
                ("back", f"/billers/{BILLER}/"),
                ("bill", bills[0]),
                ("gateway", "SANDBOX"),
            ],
            "guest:checkout",
        )
        action = (
            re.search(r'<form method="post" action="([^"]+/finish/)"', cashier.text) if cashier.ok else None
        )
        trade = re.search(r"/sandbox-bank/pay/([^/]+)/", cashier.url or "")
        if not action or not trade:
            return
        started = time.time()
        paid = self.form(
            unescape(action.group(1)),
            cashier.url,
            [("csrfmiddlewaretoken", csrf(cashier.text)), ("action", "pay")],
            "guest:pay",
        )
        # The bank took the money once its cashier answered; the platform hears of it by notification.
        ok = paid.ok and "/orders/" in (paid.url or "")
        record("guest", started, paid.status_code, trade_no=trade.group(1), ok=ok, code=error_code(paid))


class Counter(Base):
    weight = 1
    fixed_count = int(os.environ.get("CLUSTER_COUNTER_USERS", "2"))

    def on_start(self):
        super().on_start()
        self.clerk = next(_clerks, None)
        self.signed_in = False

    def sign_in(self) -> bool:
        clerk = self.clerk
        page = self.client.get("/admin/login/", params={"next": "/counter/"}, name="counter:sign-in")
        page = self.form(
            page.url,
            page.url,
            [
                ("csrfmiddlewaretoken", csrf(page.text)),
                ("username", clerk["username"]),
                ("password", clerk["password"]),
                ("next", "/counter/"),
            ],
            "counter:password",
        )
        if 'name="code"' in page.text:
            page = self.form(
                page.url,
                page.url,
                [("csrfmiddlewaretoken", csrf(page.text)), ("code", totp(clerk["totp_secret"]))],
                "counter:totp",
            )
        page = self.client.get("/counter/", name="counter:till")
        if 'name="opening_float"' in page.text:
            branch = re.search(r'<select name="branch"[^>]*>\s*<option value="(\d+)"', page.text)
            if branch:
                page = self.form(
                    "/counter/",
                    page.url,
                    [
                        ("csrfmiddlewaretoken", csrf(page.text)),
                        ("branch", branch.group(1)),
                        ("opening_float", "500.00"),
                    ],
                    "counter:open-till",
                )
        return page.ok and page.url.endswith("/counter/") and 'name="opening_float"' not in page.text

    @task
    def pay(self):
        if self.clerk is None:
            return
        if not self.signed_in:
            self.signed_in = self.sign_in()
            if not self.signed_in:
                time.sleep(2)
                return
        account = random.choice(ACCOUNTS)
        page = self.client.get(
            "/counter/lookup/", params={"q": account, "biller": BILLER}, name="counter:lookup"
        )
        if not page.ok or 'id="pay-form"' not in page.text:
            if "/admin/login/" in (page.url or ""):
                self.signed_in = False
            return
        amount = field(page.text, "amount")
        if not amount:
            return
        started = time.time()
        paid = self.form(
            "/counter/pay/",
            page.url,
            [
                ("csrfmiddlewaretoken", csrf(page.text)),
                ("form_key", field(page.text, "form_key")),
                ("biller", BILLER),
                ("account_no", account),
                ("from_slip", "0"),
                ("period", field(page.text, "period")),
                ("amount", amount),
                ("tendered", str(int(float(amount)) + 20)),
            ],
            "counter:pay",
        )
        receipt = re.search(r"/counter/receipt/([^/]+)/$", paid.url or "")
        record(
            "counter",
            started,
            paid.status_code,
            key=field(page.text, "form_key"),
            receipt_no=receipt.group(1) if (paid.ok and receipt) else "",
            ok=bool(paid.ok and receipt),
            code=error_code(paid),
        )


class Partner(Base):
    weight = 2

    def on_start(self):
        super().on_start()
        partner = DATA["partner"]
        self.signer = partner_client.PartnerClient(self.host, partner["key_id"], partner["secret"])

    def signed(self, method: str, path: str, *, name: str, body=None, key=None, params=None):
        query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = self.signer._headers(method, path, query, data)
        if body is not None:
            headers["Content-Type"] = "application/json"
        if key:
            headers["Idempotency-Key"] = key
        url = path + (f"?{query}" if query else "")
        with self.client.request(
            method, url, data=data or None, headers=headers, name=name, catch_response=True
        ) as response:
            if response.status_code in (404, 409, 422):
                response.success()  # a refusal the partner expects (paid meanwhile, unknown account)
            return response

    @task
    def pay(self):
        account = random.choice(ACCOUNTS)
        enquiry = self.signed(
            "GET", f"/api/v1/partner/billers/{BILLER}/accounts/{account}", name="partner:enquiry"
        )
        if not enquiry.ok:
            return
        due = enquiry.json().get("total_outstanding", "0.00")
        if float(due) <= 0:
            return
        key = str(uuid.uuid4())
        body = {
            "biller_code": BILLER,
            "account_no": account,
            "amount": due,
            "periods": [],
            "partner_ref": key[:20],
        }
        for attempt in range(4):  # the partner client's retries: a network error or a 5xx, the same key
            started = time.time()
            response = self.signed("POST", "/api/v1/partner/payments", name="partner:pay", body=body, key=key)
            status = response.status_code
            if status and status < 500:
                break
            record("partner", started, status, key=key, ok=False, code=error_code(response), attempt=attempt)
            time.sleep(2**attempt)
        ok = 200 <= status < 300
        receipt = response.json().get("receipt_no", "") if ok else ""
        record("partner", started, status, key=key, receipt_no=receipt, ok=ok, code=error_code(response))


@events.request.add_listener
def _refusals(request_type, name, response_time, response_length, response=None, exception=None, **kwargs):
    """Every answer of 500 or more (or none at all), of any kind: while Redis is away each must be a clear
    refusal (503 with an error code), which deploy/cluster.py checks."""
    status = getattr(response, "status_code", 0) or 0
    if exception is None and status < 500:
        return
    ended = time.time()
    code = error_code(response) if response is not None and status else str(exception)[:100]
    record(f"refused:{name}", ended - response_time / 1000, status, ok=False, code=code)


@events.init_command_line_parser.add_listener
def _options(parser):
    parser.add_argument("--cluster-note", default="", help="free text, printed with the stats")
