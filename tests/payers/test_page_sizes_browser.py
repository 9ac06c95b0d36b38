"""Issue 14, MIIT 适老化: every citizen page, in both modes and both languages, at phone width (390 px)
and on a desktop, measured in Debian's chromium. Large-text mode: every visible text ≥ 18 px, line height
≥ 1.3, every control ≥ 44×44 px, values never broken mid-word; every mode: nothing wider than the screen.

A full-page screenshot of each page in both modes, in Chinese at phone width, is kept in
test-results/screenshots/sizes/ (English is measured, not photographed, to keep the module near a minute)."""

from pathlib import Path

import pytest

from tests.conftest import SCREENSHOTS, save_screenshot
from tests.payers.page_walk import DESKTOP, LANGUAGES, MODES, PHONE, build_walk, check_page, contexts_by_who

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sandbox_bank"),
]

# What a page breaks, measured in the page: one line per problem.
_SCRIPT = (Path(__file__).parent / "measure_page.js").read_text().splitlines()
MEASURE = "\n".join(line for line in _SCRIPT if not line.startswith("//"))  # a bare function for evaluate()
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture
def walk(live_server, sandbox_bank):
    return build_walk()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("mode", list(MODES))
def test_every_citizen_page_fits_a_phone_and_a_desktop_and_large_text_is_large(
    browser, live_server, walk, mode, language
):
    """Each page at 390 px (sizes, targets, overflow, a screenshot), then the same tab at desktop width."""
    large, shots = MODES[mode], SCREENSHOTS / "sizes" / f"{language}-{mode}"
    if language == "zh-hans":
        shots.mkdir(parents=True, exist_ok=True)
    contexts = contexts_by_who(browser, live_server.url, walk, viewport=PHONE, large=large, language=language)
    tabs, found = {}, {}

    def measure(tab, page):
        tab.set_viewport_size(PHONE)
        problems = tab.evaluate(MEASURE, large)
        if language == "zh-hans":
            save_screenshot(tab, shots / f"{page.name}.png")
        tab.set_viewport_size(DESKTOP)
        if (wider := tab.evaluate(OVERFLOW)) > 0:
            problems.append(f"overflow: {wider}px wider than a {DESKTOP['width']}px desktop")
        return problems

    try:
        for page in walk.citizen_pages:
            if problems := check_page(contexts, tabs, live_server.url, page, measure):
                found[page.name] = problems
    finally:
        for context in contexts.values():
            context.close()
    assert not found, "\n".join(f"{name}: {item}" for name, problems in found.items() for item in problems)
