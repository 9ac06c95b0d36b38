"""The agent's pages at phone width and on a desktop, in both modes and both languages, measured in
Debian's chromium like every citizen page (issue 14): large-text mode has every text ≥ 18 px and every
control ≥ 44×44 px; nothing is wider than the screen."""

import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from branches import agents
from tests.branches.conftest import fund_float
from tests.factories import BillFactory, CustomerAccountFactory
from tests.payers.page_walk import (
    DESKTOP,
    LANGUAGES,
    MODES,
    PHONE,
    Page,
    Walk,
    _session_of,
    check_page,
    contexts_by_who,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

_SCRIPT = (Path(__file__).parents[1] / "payers" / "measure_page.js").read_text().splitlines()
MEASURE = "\n".join(line for line in _SCRIPT if not line.startswith("//"))
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture
def agent_walk(live_server, ada, village_agent, water):
    fund_float(village_agent, "300.00")
    due = timezone.localdate() + datetime.timedelta(days=10)
    bills = [
        BillFactory(
            account=CustomerAccountFactory(biller=water, account_no=f"3301000{n}", holder_name="王秀英"),
            period="2026-10",
            amount_due=Decimal("86.50"),
            due_date=due,
            description="水费 2026年10月",
        )
        for n in range(2)
    ]
    taken = agents.take_agent_payment(
        staff=ada.agent_roles.get(),
        biller_code=water.code,
        account_no=bills[0].account.account_no,
        periods=["2026-10"],
        amount="86.50",
        key="walk",
    )
    walk = Walk(sessions={"agent": _session_of(ada)})
    walk.counter_pages = [
        Page("agent-home", "/agent/", "agent"),
        Page("agent-lookup", f"/agent/lookup/?biller={water.code}&q={bills[1].account.account_no}", "agent"),
        Page("agent-receipt", f"/agent/receipt/{taken.agent_payment.payment.receipt_no}/", "agent"),
        Page("agent-history", "/agent/history/", "agent"),
    ]
    return walk


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("mode", list(MODES))
def test_every_agent_page_fits_a_phone_and_a_desktop_and_large_text_is_large(
    browser, live_server, agent_walk, mode, language
):
    contexts = contexts_by_who(
        browser, live_server.url, agent_walk, viewport=PHONE, large=MODES[mode], language=language
    )
    tabs, found = {}, {}

    def measure(tab, page):
        assert "/agent/" in tab.url and "云栖村代办点" in tab.content(), page.name  # signed in, not the login
        tab.set_viewport_size(PHONE)
        problems = tab.evaluate(MEASURE, MODES[mode])
        tab.set_viewport_size(DESKTOP)
        if (wider := tab.evaluate(OVERFLOW)) > 0:
            problems.append(f"overflow: {wider}px wider than a desktop")
        return problems

    try:
        for page in agent_walk.counter_pages:
            if problems := check_page(contexts, tabs, live_server.url, page, measure):
                found[page.name] = problems
    finally:
        for context in contexts.values():
            context.close()
    assert not found, "\n".join(f"{name}: {item}" for name, problems in found.items() for item in problems)
