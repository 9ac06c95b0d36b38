"""The clerk's counter in Debian's chromium: open a till, find an account, take cash with a double click
on the submit button, print the receipt, and close the till short."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from billing.models import Payment
from branches.models import Till
from tests.branches.conftest import PASSWORD
from tests.staff_login import sign_in_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_clerk_takes_cash_at_the_counter_double_submits_and_closes_the_till_short(
    live_server, page, screenshot, dave, bill
):
    sign_in_in_browser(page, live_server.url, dave, PASSWORD, "/counter/")  # a clerk must pass TOTP too

    page.fill("#id_opening_float", "500.00")
    page.keyboard.press("Enter")
    page.wait_for_selector("#id_q")
    assert page.evaluate("document.activeElement.id") == "id_q"  # keyboard first: the scan field has focus

    page.keyboard.type("12345678")
    page.keyboard.press("Enter")
    page.wait_for_selector("#pay-form")
    assert page.input_value("#id_amount") == "86.50"
    page.keyboard.type("100")  # the tendered field has the focus
    expect(page.locator("#change-due")).to_have_text("¥13.50")  # waits for the script
    screenshot("counter-take-cash")

    page.dblclick("#take-cash")
    page.wait_for_selector("#receipt")
    page.wait_for_load_state("load")  # the receipt's deferred keyboard script has run
    assert "13.50" in page.inner_text("#receipt")
    screenshot("counter-receipt")
    page.wait_for_timeout(300)
    assert Payment.objects.count() == 1

    page.goto(live_server.url + "/counter/till/close/")
    page.fill("#id_n10000", "5")
    page.fill("#id_n5000", "1")
    page.fill("#id_n2000", "1")
    page.fill("#id_n1000", "1")
    page.fill("#id_n500", "1")
    page.fill("#id_n100", "1")  # 586.00: fifty fen short
    expect(page.locator("#variance")).to_have_text("-¥0.50")  # waits for the script
    page.fill("#id_note", "少五角")
    page.click("button.primary")
    page.wait_for_selector(".till-report")
    screenshot("counter-day-report")
    till = Till.objects.get()
    assert till.variance == Decimal("-0.50") and till.variance_entry_id is not None


def test_a_citizen_finds_the_nearest_outlet_and_sees_a_suspension(
    live_server, page, screenshot, branch_x, branch_y, water
):
    import datetime

    from django.utils import timezone

    from branches import services

    services.change_branch_status(
        branch=branch_x,
        to_status="suspended",
        actor=None,
        reason="内部装修",
        until=timezone.localdate() + datetime.timedelta(days=10),
    )
    page.goto(live_server.url + "/outlets/?biller=WATER&lat=30.2&lng=120.2")
    items = page.locator("#outlets li")
    assert items.count() == 2
    assert (
        "内部装修" in items.nth(0).inner_text()
    )  # the suspended one is nearest, and says why and until when
    screenshot("outlet-finder")
    items.nth(0).locator("a").first.click()
    page.wait_for_selector("#alternatives")
    assert "Y支局" in page.inner_text("#alternatives")
