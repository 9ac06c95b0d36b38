"""Issue 14, MIIT 适老化 in large-text mode at phone width: on every step that leads to a payment the total
and what it pays for stand above the one button that pays, and the bank's page says by when to pay (the only
time limit a citizen meets: sessions last far longer than 20 hours)."""

import re

import pytest
from django.conf import settings

from tests.payers.page_walk import PHONE, build_walk, new_context

# Buttons a citizen can press in the main content (a closed <details> hides its own).
VISIBLE_BUTTONS = """() => [...document.querySelectorAll("main button, main input[type=submit]")]
  .filter(b => b.offsetParent !== null && !b.closest("details:not([open])")).map(b => b.innerText.trim())"""


def _above_and_on_screen(tab, first: str, then: str) -> None:
    one, two = tab.locator(first).first, tab.locator(then).first
    for element in (one, two):
        assert element.is_visible(), first if element is one else then
        box = element.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (first, then, box)
    assert one.bounding_box()["y"] < two.bounding_box()["y"], f"{first} is not above {then}"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_each_pay_step_in_large_text_shows_the_total_above_one_pay_button(browser, live_server, sandbox_bank):
    walk = build_walk()
    session = walk.sessions["citizen"]
    context = new_context(
        browser, live_server.url, viewport=PHONE, large=True, language="zh-hans", session=session
    )
    tab = context.new_page()
    try:
        tab.goto(live_server.url + walk.path("lookup"))
        assert re.search(r"2 笔账单（2026-09、2026-10），共 ¥180\.00", tab.inner_text("#bills-total"))
        _above_and_on_screen(tab, "#bills-total", "button.btn-huge")
        assert tab.evaluate(VISIBLE_BUTTONS)[-1] == "缴纳全部 2 笔账单，共 ¥180.00"

        tab.goto(live_server.url + walk.path("pay-link"))
        assert tab.inner_text(".facts .amount") == "¥80.00" and "2026-10" in tab.inner_text(".facts")
        _above_and_on_screen(tab, ".facts .amount", "button.btn-huge")

        tab.goto(live_server.url + "/me/accounts/")
        assert tab.locator("#pay-mine input[type=checkbox]").count() == 0  # nothing to tick: one decision
        # The walk's flat also has next month's power bill (¥58.20), scheduled for auto-pay: the citizen may
        # still pay it here (auto-pay then finds it paid and takes nothing).
        assert "¥238.20" in tab.inner_text("#bills-total")
        _above_and_on_screen(tab, "#bills-total", "#pay-mine button.btn-huge")
        buttons = tab.evaluate(VISIBLE_BUTTONS)
        assert buttons[-1] == "缴纳全部 3 笔账单，共 ¥238.20", buttons
        assert len(buttons) == 1, buttons  # adding and removing accounts is folded away

        tab.goto(live_server.url + walk.path("bank-cashier"))
        assert tab.inner_text("main .amount") == "¥80.00"
        assert re.search(r"请在 \d\d:\d\d 前完成支付", tab.inner_text("#pay-deadline"))
        _above_and_on_screen(tab, "main .amount", "#pay-deadline")
        _above_and_on_screen(tab, "#pay-deadline", "button[value=pay]")
    finally:
        context.close()


def test_no_session_times_out_within_twenty_hours():
    """WCAG 2.2.1's limit: a time-out shorter than 20 hours needs a warning and a way to extend it."""
    assert settings.SESSION_COOKIE_AGE >= 20 * 3600
    assert not settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
