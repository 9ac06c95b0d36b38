"""The pending order page no longer reloads itself (axe: meta-refresh): its status region polls a fragment
(htmx, vendored) and swaps only itself when the bank's notification arrives, announced politely, and stops
polling once the order is final — under the strict Content-Security-Policy, in Debian's chromium."""

import pytest

from payers.choices import OrderStatus
from tests.csp_watch import watch_csp

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sandbox_bank"),
]


def test_the_pending_order_updates_in_place_when_the_bank_notifies_and_then_stops_polling(
    live_server, page, water, bank
):
    order = bank.checkout({"biller": "WATER01", "account_no": "31005678", "bill": [water["bills"][0].pk]})
    violations = watch_csp(page)
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if "/status/" in request.url else None)
    page.goto(f"{live_server.url}/orders/{order.access_token}/")
    assert page.locator('meta[http-equiv="refresh"]').count() == 0
    assert page.locator("section[aria-live=polite] #order-status h1").inner_text() == "等待银行确认"
    page.evaluate("window.sameDocument = 'still here'")
    page.wait_for_function("document.querySelector('#order-status').getAttribute('hx-get') !== null")
    page.wait_for_timeout(3500)
    assert polls, "the status region polls its fragment while the order is pending"

    bank.pay(order)  # the payer paid in another tab; the bank's notification arrives as its own request
    assert bank.notify(order).content == b"success"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID

    page.wait_for_selector("#order-status h1:has-text('已收到付款')", timeout=10_000)
    assert page.evaluate("window.sameDocument") == "still here"  # swapped in place, not reloaded
    assert page.locator("#order-status a.receipt-link").count() == 1
    assert page.locator("#order-status[hx-get]").count() == 0
    polled = len(polls)
    page.wait_for_timeout(4000)  # more than one polling interval
    assert len(polls) == polled, "a final order is not polled any more"
    assert violations == []
