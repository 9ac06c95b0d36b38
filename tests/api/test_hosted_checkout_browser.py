"""The whole hosted checkout in Debian's chromium: a partner's signed link, the pay page, the sandbox bank,
the signed return to the partner's registered URL and the signed server notification (real HTTP)."""

import json
import time

import pytest

from api.models import HostedCheckout, PartnerReturnUrl
from billing.choices import Channel
from billing.models import Payment
from payers.choices import OrderStatus
from payers.models import GatewayOrder
from tests.api.hosted import example, link
from tests.csp_watch import watch_csp

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sandbox_bank"),
]


def test_a_partners_user_pays_on_the_hosted_page_and_comes_back_with_a_signed_result(
    live_server, page, screenshot, issued, partner, bill, receiver
):
    return_url = f"{live_server.url}/billers/"  # a page that answers, standing in for the partner's
    PartnerReturnUrl.objects.create(partner=partner, url=return_url)
    partner.checkout_notify_url = f"http://127.0.0.1:{receiver.server_port}/billpay/notify"
    partner.save()
    violations = watch_csp(page)

    page.goto(link(issued, base_url=live_server.url, return_url=return_url))
    assert "/hosted/" in page.url
    for shown in ("滨江水务", "31005678", "张*明", "¥128.40", "Acme Pay"):
        assert shown in page.content(), shown
    screenshot("hosted-checkout-page")
    page.get_by_role("button", name="支付 ¥128.40").click()
    assert "sandbox-bank" in page.url
    page.get_by_role("button", name="立即支付").click()
    page.wait_for_url(return_url + "?*", timeout=15_000)
    screenshot("hosted-checkout-returned")

    params = example.verify_return(page.url, secret=issued.secret)
    payment = Payment.objects.get()
    assert params["status"] == "paid" and params["order_id"] == "GOV-2026-0001"
    assert params["payment_ref"] == payment.receipt_no and payment.channel == Channel.ONLINE
    assert HostedCheckout.objects.get().order.lines.get().payment_id == payment.pk

    deadline = time.monotonic() + 15
    while not receiver.RequestHandlerClass.received and time.monotonic() < deadline:
        time.sleep(0.2)
    (headers, body), *_more = receiver.RequestHandlerClass.received
    assert example.verify_notification(
        secret=issued.secret,
        timestamp=headers["X-BillPay-Timestamp"],
        signature_hex=headers["X-BillPay-Signature"],
        body=body,
    )
    sent = json.loads(body)
    assert sent["event"] == "checkout.paid" and sent["checkout"]["payment_ref"] == payment.receipt_no
    assert violations == []


def test_the_pending_page_polls_and_follows_the_result_back_to_the_partner(
    live_server, page, client, issued, partner, bill
):
    return_url = f"{live_server.url}/billers/"
    PartnerReturnUrl.objects.create(partner=partner, url=return_url)
    hosted_page = client.get(link(issued, return_url=return_url)).url
    client.post(hosted_page + "pay/", {"gateway": "SANDBOX"})  # off to the bank, and the tab closed
    violations = watch_csp(page)
    page.goto(live_server.url + hosted_page)
    page.wait_for_selector("#hosted-status[hx-get]")
    GatewayOrder.objects.update(status=OrderStatus.CLOSED)  # the bank's notice: not paid
    page.wait_for_url(return_url + "?*", timeout=15_000)  # htmx follows HX-Redirect
    assert example.verify_return(page.url, secret=issued.secret)["status"] == "closed"
    assert violations == []


def test_a_forged_link_shows_the_refusal_in_chinese(live_server, page, issued, partner, bill):
    PartnerReturnUrl.objects.create(partner=partner, url=f"{live_server.url}/billers/")
    page.goto(
        link(issued, base_url=live_server.url, secret="sk_forged", return_url=f"{live_server.url}/billers/")
    )
    assert page.locator("h1").inner_text() == "此支付链接无法使用"
    assert page.locator("code.error-code").inner_text() == "link_signature_invalid"
    assert HostedCheckout.objects.count() == 0
