"""The deploy walk: a guest payment through the sandbox bank, a cash payment at a counter and a signed partner
API payment, all over HTTPS through nginx, then the ledger. Run by deploy/stack.py (`check`) against the
stack it brought up; any failed expectation stops the walk with a message and exit status 1.

    python deploy/walk.py --stack /tmp/billpay-deploy-0/run/stack.json
"""

from __future__ import annotations

import argparse
import http.cookiejar
import importlib.util
import json
import os
import re
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from html import unescape
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTIFY_WAIT_SECONDS = 120
YEAR = 365 * 24 * 3600


class WalkFailed(Exception):
    pass


def expect(condition, message: str) -> None:
    if not condition:
        raise WalkFailed(message)


def ok(message: str) -> None:
    print(f"  ok  {message}", flush=True)


class Browser:
    """A cookie-keeping HTTPS client that trusts only the stack's certificate and fills Django forms."""

    def __init__(self, base: str, context: ssl.SSLContext):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), urllib.request.HTTPCookieProcessor(self.jar)
        )
        self.url = base + "/"
        self.text = ""

    def _open(self, request: urllib.request.Request):
        request.add_header("Accept-Language", "zh-hans")
        try:
            with self.opener.open(request, timeout=30) as response:
                self.url, self.status, self.headers = response.geturl(), response.status, response.headers
                self.text = response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            self.url, self.status, self.headers = error.geturl(), error.code, error.headers
            self.text = error.read().decode("utf-8", "replace")
        return self

    def get(self, path: str, **params):
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return self._open(urllib.request.Request(urllib.parse.urljoin(self.base, path) + query))

    def post(self, path: str, fields: list[tuple[str, str]]):
        """POST a form from the current page, with its CSRF token and the Referer/Origin a browser sends."""
        fields = [("csrfmiddlewaretoken", self.csrf_token()), *fields]
        request = urllib.request.Request(
            urllib.parse.urljoin(self.url, path),
            data=urllib.parse.urlencode(fields).encode(),
            headers={"Referer": self.url, "Origin": self.base},
            method="POST",
        )
        return self._open(request)

    def csrf_token(self) -> str:
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', self.text)
        expect(found, f"no CSRF token on {self.url}")
        return found.group(1)

    def field(self, name: str) -> str:
        found = re.search(rf'name="{re.escape(name)}"[^>]*?value="([^"]*)"', self.text)
        expect(found, f"no field {name!r} on {self.url}")
        return unescape(found.group(1))

    def path(self) -> str:
        return urllib.parse.urlsplit(self.url).path


def load_partner_client():
    """docs/examples/partner_client.py, the client partners are told to copy, used as it is."""
    spec = importlib.util.spec_from_file_location("partner_client", REPO / "docs/examples/partner_client.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def static_files(browser: Browser, stack: dict, context: ssl.SSLContext) -> None:
    print("-- static files and HTTPS through nginx")
    browser.get("/")
    expect(browser.status == 200, f"home page answered {browser.status}")
    css = re.findall(r'href="(/static/[^"]+\.css)"', browser.text)
    expect(css, "the home page links no stylesheet")
    hashed = [url for url in css if re.search(r"\.[0-9a-f]{12}\.css$", url)]
    expect(hashed == css, f"stylesheets without a content hash (is collectstatic's manifest used?): {css}")
    request = urllib.request.Request(browser.base + hashed[0], headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        cache = response.headers.get("Cache-Control", "")
        max_age = int(re.search(r"max-age=(\d+)", cache).group(1)) if "max-age=" in cache else 0
        expect(response.status == 200, f"{hashed[0]} answered {response.status}")
        expect(max_age >= YEAR, f"{hashed[0]}: Cache-Control {cache!r}, expected a year or more")
        encoding = response.headers.get("Content-Encoding") or "identity"
        ok(f"{hashed[0]}: 200, {encoding}, Cache-Control {cache}")
    plain = urllib.request.Request(f"http://localhost:{stack['ports']['http']}/billers/")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        urllib.request.build_opener(NoRedirect).open(plain, timeout=10)
        raise WalkFailed("plain HTTP was served instead of redirected")
    except urllib.error.HTTPError as error:
        expect(error.code == 301, f"plain HTTP answered {error.code}")
        expect(error.headers["Location"].startswith("https://"), "plain HTTP not redirected to HTTPS")
        ok(f"plain HTTP → 301 {error.headers['Location']}")
    spoofed = urllib.request.Request(browser.base + "/", headers={"Host": "billpay.attacker.example"})
    try:
        urllib.request.urlopen(spoofed, context=context, timeout=10)
        raise WalkFailed("a request for another host name was served")
    except urllib.error.HTTPError as error:
        expect(error.code == 400, f"a request for another host name answered {error.code}")
        ok("a request naming another Host: 400 (ALLOWED_HOSTS, Host passed on by nginx)")
    headers = ", ".join(
        name
        for name in ("Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options")
        if name in browser.headers
    )
    print(f"      security headers from Django: {headers or 'none'}")
    from django.conf import settings

    if (
        settings.SECURE_HSTS_SECONDS
    ):  # sent only when Django sees HTTPS: nginx's X-Forwarded-Proto is believed
        expect(
            "Strict-Transport-Security" in browser.headers, "no HSTS header: is X-Forwarded-Proto believed?"
        )
        ok("Django sees HTTPS behind nginx (HSTS sent)")


def guest_payment(browser: Browser, data: dict) -> str:
    print("-- guest payment through the sandbox bank")
    account = data["accounts"]["online"]
    browser.get(f"/billers/{data['biller']}/", account_no=account["account_no"])
    expect(browser.status == 200, f"bill lookup answered {browser.status}")
    bills = re.findall(r'name="bill" value="(\d+)"', browser.text)
    expect(len(bills) == 1, f"expected the account's one open bill, found {bills}")
    expect(f"¥{account['amount']}" in browser.text, f"the lookup does not show ¥{account['amount']}")
    ok(f"lookup {data['biller']} {account['account_no']}: one open bill of ¥{account['amount']}")
    browser.post(
        "/checkout/",
        [
            ("biller", data["biller"]),
            ("account_no", account["account_no"]),
            ("back", browser.path()),
            ("bill", bills[0]),
            ("gateway", "SANDBOX"),
        ],
    )
    expect(browser.status == 200 and "/sandbox-bank/pay/" in browser.path(), f"checkout led to {browser.url}")
    expect(f"¥{account['amount']}" in browser.text, "the cashier shows another amount")
    action = re.search(r'<form method="post" action="([^"]+/finish/)"', browser.text)
    expect(action, "no pay form on the sandbox cashier")
    ok(f"checkout → sandbox cashier {browser.path()}")
    browser.post(unescape(action.group(1)), [("action", "pay")])
    expect(
        browser.status == 200 and browser.path().startswith("/orders/"), f"the bank returned to {browser.url}"
    )
    order_path = browser.path()
    ok(f"paid at the bank, back on {order_path}")
    deadline = time.monotonic() + NOTIFY_WAIT_SECONDS
    receipt_link = re.compile(r'href="/receipts/[^"]+/"')
    while "status-paid" not in browser.text or not receipt_link.search(browser.text):
        expect(
            time.monotonic() < deadline, f"the order page did not show paid within {NOTIFY_WAIT_SECONDS} s"
        )
        time.sleep(1)
        browser.get(order_path)
    ok("the worker's signed notification came through nginx: the order page shows paid, with its receipt")
    return order_path


def counter_payment(browser: Browser, data: dict) -> str:
    print("-- counter payment by a branch clerk")
    from walk_data import totp_code

    clerk = data["clerk"]
    browser.get("/admin/login/", next="/counter/")
    expect(browser.status == 200, f"/admin/login/ answered {browser.status}")
    browser.post(
        browser.path() + "?" + urllib.parse.urlencode({"next": "/counter/"}),
        [("username", clerk["username"]), ("password", clerk["password"]), ("next", "/counter/")],
    )
    if re.search(r'name="code"', browser.text):  # a second factor is asked for (STAFF_MFA_REQUIRED_ROLES)
        action = re.search(
            r'<form[^>]*\saction="([^"]+)"[^>]*>(?:(?!</form>).)*name="code"', browser.text, re.S
        )
        target = unescape(action.group(1)) if action else browser.url
        browser.post(target, [("code", totp_code(clerk["totp_secret"]))])
        expect('name="code"' not in browser.text, f"the TOTP code was not accepted ({browser.status})")
        ok("second step: the TOTP code of the clerk's authenticator accepted")
    browser.get("/counter/")
    expect(
        browser.status == 200 and browser.path() == "/counter/",
        f"after signing in the counter answered {browser.status} at {browser.url}",
    )
    ok(f"{clerk['username']} signed in through /admin/login/")
    if 'name="opening_float"' in browser.text:
        branch = re.search(r'<select name="branch"[^>]*>\s*<option value="(\d+)"', browser.text)
        expect(branch, "no branch to open a till at")
        browser.post("/counter/", [("branch", branch.group(1)), ("opening_float", "500.00")])
        expect(browser.status == 200 and 'name="opening_float"' not in browser.text, "the till did not open")
        ok("till opened with a ¥500.00 float")
    account = data["accounts"]["counter"]
    browser.get("/counter/lookup/", q=account["account_no"], biller=data["biller"])
    expect(
        browser.status == 200 and 'id="pay-form"' in browser.text, f"counter lookup answered {browser.status}"
    )
    period = browser.field("period")
    amount = browser.field("amount")
    expect(Decimal(amount) == Decimal(account["amount"]), f"the counter asks ¥{amount}")
    tendered = Decimal(amount).to_integral_value(rounding="ROUND_CEILING") + 20
    browser.post(
        "/counter/pay/",
        [
            ("form_key", browser.field("form_key")),
            ("biller", data["biller"]),
            ("account_no", account["account_no"]),
            ("from_slip", "0"),
            ("period", period),
            ("amount", amount),
            ("tendered", str(tendered)),
        ],
    )
    receipt = re.match(r"/counter/receipt/([^/]+)/$", browser.path())
    expect(browser.status == 200 and receipt, f"taking cash ended on {browser.url} ({browser.status})")
    ok(f"¥{amount} taken in cash (tendered ¥{tendered}), receipt {receipt.group(1)}")
    return receipt.group(1)


def partner_payment(base: str, context: ssl.SSLContext, data: dict) -> str:
    print("-- signed partner API payment (docs/examples/partner_client.py)")
    client_module = load_partner_client()
    urllib.request.install_opener(urllib.request.build_opener(urllib.request.HTTPSHandler(context=context)))
    partner = data["partner"]
    client = client_module.PartnerClient(base, partner["key_id"], partner["secret"])
    account = data["accounts"]["partner"]
    bills = client.enquiry(data["biller"], account["account_no"])
    expect(bills["total_outstanding"] == account["amount"], f"enquiry says {bills['total_outstanding']} due")
    payment = client.pay(
        biller_code=data["biller"],
        account_no=account["account_no"],
        amount=bills["total_outstanding"],
        partner_ref="WALK-" + os.urandom(6).hex().upper(),
    )
    expect(payment["status"] == "posted", f"the partner payment is {payment['status']}")
    expect(client.status(payment["receipt_no"])["status"] == "posted", "the payment's status is not posted")
    ok(f"¥{payment['amount']} paid by partner {partner['code']}, receipt {payment['receipt_no']}")
    try:
        client_module.PartnerClient(base, partner["key_id"], partner["secret"] + "x").enquiry(
            data["biller"], account["account_no"]
        )
        raise WalkFailed("a request signed with a wrong secret was answered")
    except client_module.ApiError as error:
        expect(error.status == 401, f"a wrong signature got {error.status} {error.code}")
        ok(f"a request signed with a wrong secret: {error.status} {error.code}")
    return payment["receipt_no"]


def check_ledger(data: dict, stack: dict) -> None:
    print("-- the ledger")
    from walk_data import ledger_report

    report = ledger_report(data["accounts"])
    expect(not report["unbalanced"], f"journal entries that do not balance: {report['unbalanced']}")
    expect(not report["single_line"], f"journal entries with fewer than two lines: {report['single_line']}")
    ok(f"all {report['entries']} journal entries balance")
    for channel, row in report["channels"].items():
        amount = data["accounts"][channel]["amount"]
        payments = row["payments"]
        expect(len(payments) == 1, f"{channel}: {len(payments)} payments for the account, expected 1")
        payment = payments[0]
        expect(payment["channel"] == channel, f"the {channel} payment was posted as {payment['channel']}")
        expect(payment["status"] == "posted", f"the {channel} payment is {payment['status']}")
        expect(
            Decimal(payment["amount"]) == Decimal(amount),
            f"{channel}: paid ¥{payment['amount']}, bill ¥{amount}",
        )
        expect(payment["entries"] >= 1, f"{channel}: the payment has no journal entry")
        expect(
            Decimal(payment["allocated"]) == Decimal(amount), f"{channel}: allocated ¥{payment['allocated']}"
        )
        bill = row["bill"]
        expect(
            Decimal(bill["amount_paid"]) == Decimal(amount),
            f"{channel}: the bill shows ¥{bill['amount_paid']} paid",
        )
        expect(bill["status"] == "paid", f"{channel}: the bill is {bill['status']}")
        paid = bill["amount_paid"]
        ok(f"{channel}: {payment['receipt_no']} ¥{payment['amount']} posted, bill paid (¥{paid})")
    trades = report["sandbox_trades"]
    expect(len(trades) == 1 and trades[0]["notified"], f"the sandbox bank's notification: {trades}")
    access_log = Path(stack["state"], "log", "nginx-billpay.access.log").read_text(
        encoding="utf-8", errors="replace"
    )
    notified = [line for line in access_log.splitlines() if "POST /payments/notify/SANDBOX/" in line]
    expect(any('" 200 ' in line for line in notified), "nginx logged no answered notification")
    ok(f"the bank's notification went through nginx ({len(notified)} POST, acknowledged)")
    check_outbox(data)


def check_outbox(data: dict, timeout: float = 60) -> None:
    """Each payment wrote its outbox event with its entry (the database is the walk's own), and the relay
    (on the default queue's worker, queued on commit) published it."""
    from billing.models import OutboxEvent

    deadline = time.monotonic() + timeout
    while True:
        events = list(OutboxEvent.objects.filter(type="payment.posted").values("published_at"))
        waiting = [e for e in events if e["published_at"] is None]
        if (len(events) >= 3 and not waiting) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    expect(len(events) >= 3, f"{len(events)} payment events in the outbox, expected one per payment (3)")
    expect(not waiting, f"{len(waiting)} outbox events still unpublished after {timeout:.0f} s")
    ok(f"every payment wrote its outbox event and the relay published it ({len(events)} events)")


def setup_django(env_file: Path) -> None:
    """This process reads the database as the services do: with their environment file."""
    sys.path[:0] = [str(REPO), str(REPO / "deploy")]
    from units import read_environment_file

    os.environ.update(read_environment_file(env_file))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="the stack.json written by deploy/stack.py up")
    args = parser.parse_args(argv)
    stack = json.loads(Path(args.stack).read_text())
    started = time.monotonic()
    setup_django(Path(stack["env_file"]))
    from walk_data import seed

    print("-- seeding the walk's data")
    data = seed()
    accounts = ", ".join(f"{channel} {row['account_no']}" for channel, row in data["accounts"].items())
    ok(f"accounts {accounts}")
    base = f"https://localhost:{stack['ports']['https']}"
    context = ssl.create_default_context(cafile=stack["cert"])
    try:
        static_files(Browser(base, context), stack, context)
        guest_payment(Browser(base, context), data)
        counter_payment(Browser(base, context), data)
        partner_payment(base, context, data)
        check_ledger(data, stack)
    except WalkFailed as failed:
        print(f"WALK FAILED: {failed}", flush=True)
        return 1
    print(f"-- the walk passed in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
