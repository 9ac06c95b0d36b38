"""End-to-end in Debian's chromium: the sandbox bank's notification is a real HTTP POST to the live server."""

from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress

from billing.models import Payment
from payers.models import BoundAccount
from tests.factories import BillFactory, CustomerAccountFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sandbox_bank"),
]


def test_a_guest_pays_a_water_bill_through_the_sandbox_bank_and_downloads_the_receipt(
    live_server, page, screenshot, water
):
    page.goto(live_server.url + "/")
    screenshot("portal-home")
    page.get_by_role("link", name="滨江水务").first.click()
    page.get_by_label("户号").fill("31005678")
    page.get_by_role("button", name="查询账单").click()
    assert page.locator(".holder").inner_text() == "张*明"
    screenshot("portal-lookup")
    page.get_by_role("button", name="缴纳所选账单").click()
    assert "sandbox-bank" in page.url
    screenshot("sandbox-bank-cashier")
    page.get_by_role("button", name="立即支付").click()
    page.wait_for_selector("text=已收到付款")
    screenshot("portal-order-paid")
    assert Payment.objects.count() == 1
    page.locator("a.receipt-link").first.click()
    screenshot("portal-receipt")
    with page.expect_download() as download_info:
        page.locator("#download-pdf").click()
    path = download_info.value.path()
    with open(path, "rb") as pdf:
        assert pdf.read(4) == b"%PDF"


def test_a_signed_in_citizen_binds_two_accounts_and_pays_both_in_one_checkout(
    live_server, page, screenshot, water, django_user_model
):
    other = CustomerAccountFactory(biller=water["biller"], account_no="31009999", holder_name="张老太")
    BillFactory(account=other, period="2026-10")
    user = django_user_model.objects.create_user("xm", "xm@example.com", "Portal-pass-2026")
    EmailAddress.objects.create(user=user, email="xm@example.com", verified=True, primary=True)

    page.goto(live_server.url + "/accounts/login/")
    page.locator("#id_login").fill("xm@example.com")
    page.locator("#id_password").fill("Portal-pass-2026")
    screenshot("portal-login")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url("**/me/accounts/")
    for number, label in (("31005678", "家里水费"), ("31009999", "妈妈家水费")):
        page.get_by_label("缴费单位").select_option("WATER01")
        page.get_by_label("户号").fill(number)
        page.get_by_label("备注名").fill(label)
        page.get_by_role("button", name="添加此户号").click()
    assert BoundAccount.objects.filter(user=user).count() == 2
    screenshot("portal-my-accounts")
    page.get_by_role("button", name="合并支付所选账单").click()
    page.get_by_role("button", name="立即支付").click()
    page.wait_for_selector("text=已收到付款")
    screenshot("portal-two-accounts-paid")
    payments = Payment.objects.filter(payer__user=user)
    assert payments.count() == 2
    assert len({payment.channel_ref for payment in payments}) == 2


def test_the_elderly_mode_pays_with_one_big_button(live_server, page, screenshot, water):
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="大字模式").click()
    assert page.locator("body.elderly").count() == 1
    screenshot("portal-elderly-home")
    page.get_by_role("link", name="滨江水务").first.click()
    page.get_by_label("户号").fill("31005678")
    page.get_by_role("button", name="查询账单").click()
    screenshot("portal-elderly-lookup")
    page.get_by_role("button", name="缴纳全部 2 笔账单，共 ¥180.00").click()
    page.get_by_role("button", name="立即支付").click()
    page.wait_for_selector("text=已收到付款")
    screenshot("portal-elderly-paid")
    assert Payment.objects.get().amount == sum(bill.amount_due for bill in water["bills"])


def test_large_text_mode_at_phone_width_shows_the_total_of_four_bills_before_the_bank_page(
    live_server, page, screenshot, water
):
    account = water["account"]
    BillFactory(account=account, period="2026-11", amount_due=Decimal("300.42"))
    BillFactory(account=account, period="2026-12", amount_due=Decimal("242.42"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/billers/WATER01/")
    page.get_by_role("button", name="大字模式").click()
    page.get_by_label("户号").fill("31005678")
    page.get_by_role("button", name="查询账单").click()
    total = page.locator("#bills-total")
    button = page.get_by_role("button", name="缴纳全部 4 笔账单，共 ¥722.84")
    assert "¥722.84" in total.inner_text() and "2026-09" in total.inner_text()
    for element in (total, button):
        element.scroll_into_view_if_needed()
        assert element.is_visible()
        box = element.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    screenshot("portal-elderly-total-phone")
    assert "sandbox-bank" not in page.url and Payment.objects.count() == 0
    button.click()
    assert "sandbox-bank" in page.url
    assert "722.84" in page.content()
