"""Issue 14: a citizen pays with the keyboard alone (Tab, Shift+Tab, Space, Enter, and digits for the account
number) from the biller's page through the sandbox bank to the e-receipt, in Debian's chromium. The skip
link is the first stop on every page and jumps past the header; every focused control shows a ring of at
least 3:1 against what is around it; the presses are counted."""

from decimal import Decimal

import pytest

from billing.models import Payment

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sandbox_bank"),
]

# The focused element and its ring: outline width and style, and the contrast of the ring's colour with
# what it is drawn on (the white halo of a box-shadow when there is one, else the nearest opaque background).
FOCUS_RING = """
() => {
  const el = document.activeElement;
  const rgb = (text) => (text.match(/rgba?\\(([^)]+)\\)/) || [null, "0,0,0,0"])[1].split(",").map(Number);
  const luminance = ([r, g, b]) => {
    const c = [r, g, b].map(v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const style = getComputedStyle(el);
  let behind = style.boxShadow !== "none" ? rgb(style.boxShadow) : null;
  for (let e = el.parentElement; !behind && e; e = e.parentElement) {
    const colour = rgb(getComputedStyle(e).backgroundColor);
    if (colour.length < 4 || colour[3] > 0) behind = colour;
  }
  behind = behind || [255, 255, 255];
  const [a, b] = [luminance(rgb(style.outlineColor)), luminance(behind)];
  return {
    tag: el.tagName.toLowerCase(), id: el.id, cls: el.className,
    text: (el.innerText || el.value || "").trim().slice(0, 40),
    outline: style.outlineStyle, width: parseFloat(style.outlineWidth),
    contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
  };
}
"""


class Keyboard:
    """Presses keys in the page, counts them, and checks the focus ring after every move of the focus."""

    def __init__(self, page):
        self.page = page
        self.presses = 0

    def submit(self) -> None:
        """Enter on a link or a form's button: wait for the page it opens."""
        with self.page.expect_navigation():
            self.page.keyboard.press("Enter")
        self.presses += 1

    def press(self, key: str, times: int = 1) -> dict:
        for _ in range(times):
            self.page.keyboard.press(key)
            self.presses += 1
        focus = self.page.evaluate(FOCUS_RING)
        if key in ("Tab", "Shift+Tab") and focus["tag"] != "main":
            assert focus["outline"] != "none" and focus["width"] >= 2, f"no visible focus on {focus}"
            assert focus["contrast"] >= 3, f"focus ring contrast {focus['contrast']:.2f} < 3 on {focus}"
        return focus

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)
        self.presses += len(text)

    def skip_to_main(self) -> None:
        """The first Tab on a page reaches the skip link; Enter puts the focus on the main content. (A page
        opened by a form sent from a page at #main keeps the fragment: its first Tab is already in main.)"""
        focus = self.press("Tab")
        if self.page.url.endswith("#main"):
            assert self.page.evaluate("!!document.activeElement.closest('main')"), focus
            self.press("Shift+Tab")
            return
        assert focus["cls"] == "skip-link", focus
        assert self.page.locator(".skip-link").bounding_box()["y"] >= 0  # shown while it has the focus
        focus = self.press("Enter")
        assert focus["tag"] == "main", focus

    def tab_to(self, predicate, limit: int = 12) -> dict:
        for _ in range(limit):
            focus = self.press("Tab")
            if predicate(focus):
                return focus
        raise AssertionError(f"not reached in {limit} Tab presses; last focus {focus}")


def test_a_citizen_pays_one_of_two_bills_with_the_keyboard_alone(live_server, page, screenshot, water):
    keys = Keyboard(page)
    page.goto(live_server.url + "/billers/WATER01/")
    keys.skip_to_main()
    keys.tab_to(lambda focus: focus["id"] == "account_no")
    keys.type("31005678")
    keys.submit()
    page.wait_for_selector("#bills-total")

    september, october = water["bills"]
    keys.skip_to_main()
    keys.tab_to(lambda focus: focus["id"] == f"bill-{september.pk}")
    keys.tab_to(lambda focus: focus["id"] == f"bill-{october.pk}")
    keys.press("Space")  # October stays for later
    assert not page.locator(f"#bill-{october.pk}").is_checked()
    keys.press("Shift+Tab", 2)
    assert page.evaluate("document.activeElement.id") == f"bill-{september.pk}"
    assert page.locator(f"#bill-{september.pk}").is_checked()
    screenshot("keyboard-lookup")
    keys.tab_to(lambda focus: focus["tag"] == "button" and "btn-primary" in focus["cls"])
    keys.submit()
    page.wait_for_url("**/sandbox-bank/pay/**")

    assert "¥100.00" in page.locator(".amount").inner_text()  # the bank states the one bill's amount
    keys.skip_to_main()
    keys.tab_to(lambda focus: focus["tag"] == "button" and "btn-primary" in focus["cls"])
    screenshot("keyboard-bank")
    keys.submit()
    page.wait_for_selector("a.receipt-link", timeout=15000)

    keys.skip_to_main()
    keys.tab_to(lambda focus: "receipt-link" in focus["cls"])
    keys.submit()
    page.wait_for_selector("#download-pdf")
    screenshot("keyboard-receipt")

    payment = Payment.objects.get()
    assert payment.amount == Decimal("100.00")
    assert keys.presses <= 40, keys.presses  # 37 here, the 8 digits of the account included
