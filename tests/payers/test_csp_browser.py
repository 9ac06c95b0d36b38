"""The portal under its Content-Security-Policy in Debian's chromium: a guest pays through the sandbox bank
(home, lookup, checkout, cashier, order page, receipt) and opens a bill's QR slip, with no CSP violation and
every script still working."""

import pytest

from billing.models import Payment
from billing.paylinks import pay_path
from tests.csp_watch import watch_csp

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sandbox_bank"),  # the guest pays through it; off unless switched on
]


def test_a_guest_pays_through_the_portal_without_a_csp_violation(live_server, page, water, sandbox_bank):
    violations = watch_csp(page)
    page.goto(live_server.url + "/")
    assert "default-src 'self'" in page.request.get(live_server.url + "/").headers["content-security-policy"]
    page.get_by_role("link", name="滨江水务").first.click()
    page.get_by_label("户号").fill("31005678")
    page.get_by_role("button", name="查询账单").click()
    assert page.locator(".holder").inner_text() == "张*明"
    page.get_by_role("button", name="缴纳所选账单").click()
    assert "sandbox-bank" in page.url
    page.get_by_role("button", name="立即支付").click()
    page.wait_for_selector("text=已收到付款")
    assert Payment.objects.count() == 1
    page.locator("a.receipt-link").first.click()
    page.wait_for_load_state()
    assert violations == []


def test_the_qr_slip_prints_and_shows_its_code_without_a_csp_violation(live_server, page, water):
    violations = watch_csp(page)
    page.goto(live_server.url + pay_path(water["bills"][0]) + "qr/")
    page.evaluate("window.print = function () { window.printed = true; }")
    page.get_by_role("button", name="打印").click()
    assert page.evaluate("window.printed") is True  # the print button's handler is a static script
    # The QR code's background stays white: its SVG uses attributes, which the policy allows.
    fills = page.evaluate(
        "Array.from(document.querySelectorAll('figure.qr svg g rect'), r => getComputedStyle(r).fill)"
    )
    assert fills[0] == "none" and set(fills[1:]) == {"rgb(0, 0, 0)"}
    assert violations == []
