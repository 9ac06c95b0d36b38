"""The counter, the outlet finder and the admin under the Content-Security-Policy in Debian's chromium: no
violation on any page, and the scripts moved out of the templates still do their work (change due, till
count, print and keyboard keys, nearest outlet, the admin's select-all)."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from billing.models import Payment
from tests.branches.conftest import PASSWORD
from tests.csp_watch import watch_csp
from tests.staff_login import sign_in_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STUB_PRINT = "window.print = function () { window.printed = (window.printed || 0) + 1; };"


def test_the_counter_works_without_a_csp_violation(live_server, page, dave, bill):
    violations = watch_csp(page)
    page.add_init_script(STUB_PRINT)
    sign_in_in_browser(page, live_server.url, dave, PASSWORD, "/counter/")
    page.fill("#id_opening_float", "500.00")
    page.keyboard.press("Enter")
    page.wait_for_selector("#id_q")
    page.keyboard.type("12345678")
    page.keyboard.press("Enter")
    page.wait_for_selector("#pay-form")
    page.keyboard.type("100")
    expect(page.locator("#change-due")).to_have_text("¥13.50")  # branches/counter-lookup.js
    page.click("#take-cash")
    page.wait_for_selector("#receipt")
    page.wait_for_load_state("load")  # the receipt's deferred keyboard script has run
    assert Payment.objects.count() == 1
    page.keyboard.press("p")  # branches/receipt.js
    page.click("#print")  # js/site.js
    assert page.evaluate("window.printed") == 2
    page.keyboard.press("Enter")  # next customer
    page.wait_for_url("**/counter/")

    page.goto(live_server.url + "/counter/till/close/")
    page.fill("#id_n10000", "5")
    page.fill("#id_n5000", "2")
    expect(page.locator("#variance")).to_have_text("¥13.50")  # branches/counter-close.js
    page.fill("#id_note", "多一元三角五分")
    page.click("button.primary")
    page.wait_for_selector(".till-report")
    page.get_by_role("button", name="打印").click()
    assert page.evaluate("window.printed") == 1
    assert violations == []


def test_the_finder_and_the_admin_work_without_a_csp_violation(
    live_server, page, admin_user, branch_x, water
):
    violations = watch_csp(page)
    page.context.grant_permissions(["geolocation"])
    page.context.set_geolocation({"latitude": 30.2, "longitude": 120.2})
    page.goto(live_server.url + "/outlets/")
    page.click("#near-me")  # branches/finder.js
    page.wait_for_url("**lat=30.2*")
    assert page.locator("#outlets li").count() >= 1

    sign_in_in_browser(
        page, live_server.url, admin_user, "pw-alice-1234", reverse("admin:billing_biller_changelist")
    )
    page.click("#action-toggle")  # Django admin's actions.js
    assert page.locator("input.action-select:checked").count() == 1
    page.goto(live_server.url + reverse("admin:billing_biller_change", args=[water.pk]))
    page.wait_for_selector("#biller_form")
    page.goto(live_server.url + "/counter/coverage/")
    assert page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth") == "none"
    assert violations == []
