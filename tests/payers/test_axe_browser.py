"""Issue 14, accessibility in CI: axe-core (from the npm registry, pinned in scripts/install_axe.sh) run by
Playwright in Debian's chromium over every citizen page and every counter page, in both modes, both
languages, at phone and desktop width. Any serious or critical violation of WCAG 2.0/2.1 A and AA fails."""

import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.payers.page_walk import DESKTOP, LANGUAGES, MODES, PHONE, build_walk, contexts_by_who, open_page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sandbox_bank"),
]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "var" / "node" / "node_modules" / "axe-core" / "axe.min.js"

RUN_AXE = """
async (disabled) => {
  const rules = Object.fromEntries(disabled.map(rule => [rule, {enabled: false}]));
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    rules,
    resultTypes: ["violations"],
  });
  return result.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v =>
    `${v.impact} ${v.id}: ${v.help} — ` + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | "));
}
"""

# The pending order and the receipts bundle still reload themselves with <meta http-equiv="refresh">: branch
# i14b replaces it with htmx polling. Until that is merged, only that rule is set aside, only on those pages.
META_REFRESH_UNTIL_I14B = {"order-pending": ["meta-refresh"], "order-receipts": ["meta-refresh"]}


@pytest.fixture(scope="module")
def axe_source():
    """axe-core's script, installed from the npm registry if it is missing; the test fails if it cannot be."""
    if not AXE.exists():
        done = subprocess.run([str(ROOT / "scripts" / "install_axe.sh")], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"axe-core could not be installed: {done.stderr or done.stdout}", pytrace=False)
    return AXE.read_text()


@pytest.fixture
def walk(live_server, sandbox_bank):
    return build_walk()


def _axe_on(tab, reopen, axe_source, rules_off):
    """axe's serious and critical findings on the open page. A page that reloads itself (the meta refresh
    above) may do so during the run: it is opened and checked again, once."""
    for attempt in (1, 2):
        try:
            if not tab.evaluate("typeof axe !== 'undefined'"):
                tab.add_script_tag(content=axe_source)
            return tab.evaluate(RUN_AXE, rules_off)
        except PlaywrightError as error:
            if attempt == 2 or "context was destroyed" not in str(error):
                raise
            reopen()
    return []


def _violations(browser, base_url, walk, pages, axe_source, *, large, language):
    """{page @ width: [violation]} over the pages in one mode and language, at phone then desktop width."""
    contexts = contexts_by_who(
        browser, base_url, walk, viewport=PHONE, large=large, language=language, bypass_csp=True
    )
    tabs, found = {}, {}
    try:
        for page in pages:
            tab = open_page(contexts, tabs, base_url, page)
            for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
                tab.set_viewport_size(viewport)
                violations = _axe_on(
                    tab,
                    lambda page=page: open_page(contexts, tabs, base_url, page),
                    axe_source,
                    META_REFRESH_UNTIL_I14B.get(page.name, []),
                )
                if violations:
                    found[f"{page.name} @ {label}"] = violations
            tab.set_viewport_size(PHONE)
    finally:
        for context in contexts.values():
            context.close()
    return found


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("mode", list(MODES))
def test_no_citizen_or_counter_page_has_a_serious_accessibility_violation(
    browser, live_server, walk, axe_source, mode, language
):
    pages = walk.citizen_pages + walk.counter_pages
    large = MODES[mode]
    found = _violations(browser, live_server.url, walk, pages, axe_source, large=large, language=language)
    assert not found, "\n".join(f"{where}: {item}" for where, items in found.items() for item in items)
