"""Issue 14, MIIT 适老化: every citizen page, in both modes and both languages, at phone width (390 px) and on a
desktop, measured in Debian's chromium. Large-text mode: every visible text ≥ 18 px with line height ≥ 1.3,
every control ≥ 44×44 px, values never broken mid-word; every mode: nothing wider than the screen.

A screenshot of each page, mode and language at phone width is kept in test-results/screenshots/sizes/."""

import pytest

from tests.conftest import SCREENSHOTS
from tests.payers.page_walk import DESKTOP, LANGUAGES, MODES, PHONE, build_walk, contexts_by_who, open_page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sandbox_bank"),
]

# What a page breaks, measured in the page: one line per problem, at most a few per kind.
MEASURE = """
(large) => {
  const problems = [];
  const note = (kind, text) => { if (problems.filter(p => p.startsWith(kind)).length < 4) problems.push(kind + ": " + text); };
  const seen = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const style = getComputedStyle(e);
      if (style.display === "none" || style.visibility === "hidden" || e.getAttribute("aria-hidden") === "true") return false;
    }
    const box = el.getBoundingClientRect();
    return box.width > 1 && box.height > 1;
  };
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "");
  const width = document.documentElement.scrollWidth;
  if (width > window.innerWidth) {
    const wide = [...document.body.querySelectorAll("*")].filter(e => seen(e) && e.getBoundingClientRect().right > window.innerWidth + 1);
    note("overflow", `page is ${width}px wide on a ${window.innerWidth}px screen: ` + wide.slice(-3).map(describe).join(", "));
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    const el = node.parentElement;
    if (!text || !el || el.closest("select, script, style, noscript, svg") || !seen(el)) continue;
    const style = getComputedStyle(el);
    const size = parseFloat(style.fontSize);
    if (large && size < 18) note("text", `${size}px "${text.slice(0, 30)}" in ${describe(el)}`);
    if (!large && size < 12) note("text", `${size}px "${text.slice(0, 30)}" in ${describe(el)}`);
    const height = style.lineHeight === "normal" ? 1.2 : parseFloat(style.lineHeight) / size;
    if (large && height < 1.3) note("line-height", `${height.toFixed(2)} for "${text.slice(0, 30)}" in ${describe(el)}`);
  }
  const controls = "a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex='-1'])";
  for (const el of document.querySelectorAll(controls)) {
    if (!seen(el) || el.classList.contains("skip-link")) continue;
    const box = el.getBoundingClientRect();
    const least = large ? 44 : el.matches("input, select, button, textarea") ? 24 : 0;
    if (box.width < least - 0.5 || box.height < least - 0.5)
      note("target", `${describe(el)} "${(el.innerText || el.value || "").trim().slice(0, 20)}" is ${box.width.toFixed(0)}×${box.height.toFixed(0)}px`);
  }
  // A value (receipt number, amount, account) must not be split between two lines in the middle of a word.
  for (const dd of document.querySelectorAll(".facts dd, dl dd")) {
    if (!seen(dd)) continue;
    const text = dd.textContent;
    for (const match of text.matchAll(/[A-Za-z0-9¥.,:\\-]{2,}/g)) {
      const textNode = [...dd.childNodes].find(n => n.nodeType === 3 && n.textContent.includes(match[0]));
      if (!textNode) continue;
      const range = document.createRange();
      const start = textNode.textContent.indexOf(match[0]);
      range.setStart(textNode, start);
      range.setEnd(textNode, start + match[0].length);
      const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
      if (tops.size > 1) note("broken", `"${match[0]}" is split over ${tops.size} lines in ${describe(dd)}`);
    }
  }
  return problems;
}
"""


OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture
def walk(live_server, sandbox_bank):
    return build_walk()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("mode", list(MODES))
def test_every_citizen_page_fits_a_phone_and_a_desktop_and_large_text_is_large(
    browser, live_server, walk, mode, language
):
    """Each page at 390 px (sizes, targets, overflow, a screenshot), then the same tab widened to a desktop."""
    large, shots = MODES[mode], SCREENSHOTS / "sizes" / f"{language}-{mode}"
    shots.mkdir(parents=True, exist_ok=True)
    contexts = contexts_by_who(browser, live_server.url, walk, viewport=PHONE, large=large, language=language)
    tabs, found = {}, {}
    try:
        for page in walk.citizen_pages:
            tab = open_page(contexts, tabs, live_server.url, page)
            tab.set_viewport_size(PHONE)
            problems = tab.evaluate(MEASURE, large)
            tab.screenshot(path=str(shots / f"{page.name}.png"), full_page=True)
            tab.set_viewport_size(DESKTOP)
            if (wider := tab.evaluate(OVERFLOW)) > 0:
                problems.append(f"overflow: {wider}px wider than a {DESKTOP['width']}px desktop")
            if problems:
                found[page.name] = problems
    finally:
        for context in contexts.values():
            context.close()
    assert not found, "\n".join(f"{name}: {problem}" for name, problems in found.items() for problem in problems)
