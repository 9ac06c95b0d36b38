"""A card top-up at the counter in Debian's chromium: the clerk types the citizen's chosen amount (the page
computes the change), takes the cash, writes the card and records that the write failed: the receipt then
says the cash went back."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from billing.choices import PaymentMode
from billing.topup_models import CardWriteRule, TopUpHold, TopUpStatus
from tests.branches.conftest import PASSWORD
from tests.factories import BillerFactory, CustomerAccountFactory
from tests.staff_login import sign_in_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_clerk_tops_up_a_gas_card_and_gives_the_cash_back_when_the_write_fails(
    live_server, page, screenshot, dave
):
    gas = BillerFactory(code="GASCARD", payment_mode=PaymentMode.PREPAID, min_amount="10.00")
    CardWriteRule.objects.create(biller=gas, timeout_minutes=10)
    CustomerAccountFactory(biller=gas, account_no="62000001")
    sign_in_in_browser(page, live_server.url, dave, PASSWORD, "/counter/")
    page.fill("#id_opening_float", "500.00")
    page.keyboard.press("Enter")
    page.wait_for_selector("#id_q")
    page.goto(live_server.url + "/counter/lookup/?biller=GASCARD&q=62000001")
    page.wait_for_selector("#pay-form[data-topup]")
    page.fill("#id_amount", "60")
    page.fill("#id_tendered", "100")
    expect(page.locator("#change-due")).to_have_text("¥40.00")  # waits for the script
    screenshot("counter-card-topup")
    page.click("#take-cash")
    page.wait_for_selector("#card-write-failed")
    assert TopUpHold.objects.get().status == TopUpStatus.HELD
    page.fill("#id_reason", "卡片无法读取")
    page.click("#card-write-failed")
    page.wait_for_selector("#card-write-status")
    expect(page.locator("#card-write-status")).to_contain_text("60.00")
    screenshot("counter-card-topup-refunded")
    hold = TopUpHold.objects.get()
    assert hold.status == TopUpStatus.VOIDED and hold.payment.amount == Decimal("60.00")
    assert page.locator("#card-written").count() == 0
