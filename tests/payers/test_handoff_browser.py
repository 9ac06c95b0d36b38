"""Start here, finish there, in Debian's chromium: a PC shows the order's QR code, a phone (another browser,
no login) opens its link, continues and pays at the sandbox bank; the PC's page follows by itself."""

import pytest

from billing.models import Payment
from tests.conftest import SCREENSHOTS, save_screenshot
from tests.csp_watch import watch_csp

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sandbox_bank"),
]


def test_a_payment_started_on_the_pc_is_paid_on_the_phone(live_server, page, browser, screenshot, water):
    violations = watch_csp(page)
    page.goto(live_server.url + "/billers/WATER01/")
    page.get_by_label("户号").fill("31005678")
    page.get_by_role("button", name="查询账单").click()
    page.get_by_role("button", name="在手机上完成支付（二维码）").click()
    assert page.locator(".handoff-qr svg").count() == 1
    screenshot("handoff-pc-qr")
    link = page.locator(".handoff-url").inner_text()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    mobile = phone.new_page()
    mobile.goto(link)
    assert "¥180.00" in mobile.content()
    mobile.get_by_role("button", name="在这里继续").click()
    page.wait_for_selector("text=已在另一台设备上继续", timeout=10_000)  # the PC's page, polled
    screenshot("handoff-pc-continued")
    mobile.get_by_role("button", name="前往银行支付").click()
    assert "sandbox-bank" in mobile.url
    mobile.get_by_role("button", name="立即支付").click()
    mobile.wait_for_selector("text=已收到付款")
    save_screenshot(mobile, SCREENSHOTS / "handoff-phone-paid.png")
    page.wait_for_selector("#order-status h1:has-text('已收到付款')", timeout=10_000)
    assert Payment.objects.count() == 1

    again = phone.new_page()
    again.goto(link)  # the QR works once
    assert "已在另一台设备上使用过" in again.content() or "不再等待支付" in again.content()
    phone.close()
    assert violations == []
