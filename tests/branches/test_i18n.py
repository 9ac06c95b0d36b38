"""The branches app's Chinese catalogue is complete and compiled; the counter speaks Chinese by default."""

import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings

from branches.exceptions import CounterError
from tests.support import log_in

LOCALE = Path(settings.BASE_DIR) / "branches" / "locale" / "zh_Hans" / "LC_MESSAGES"
ENTRY = re.compile(r'(?:msgctxt "(?P<ctx>.*)"\n)?msgid "(?P<id>.*)"\nmsgstr "(?P<str>.*)"\n')


def _unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def _entries():
    source = (LOCALE / "django.po").read_text(encoding="utf-8")
    return [m for m in ENTRY.finditer(source) if m["id"]]


def test_every_message_of_the_branches_app_has_a_chinese_translation():
    assert [m["id"] for m in _entries() if not m["str"]] == []


def test_the_compiled_catalogue_matches_the_source():
    with open(LOCALE / "django.mo", "rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for m in _entries():
        msgid, expected = _unescape(m["id"]), _unescape(m["str"])
        got = compiled.pgettext(m["ctx"], msgid) if m["ctx"] else compiled.gettext(msgid)
        assert got == expected, f"{msgid!r}: recompile the branches catalogue"


def test_a_refusal_reads_in_chinese_by_default_and_in_english_on_request():
    from django.utils import translation

    error = CounterError("till_not_open")
    with translation.override("zh-hans"):
        assert error.message == "收取现金前请先开启钱箱。"
    with translation.override("en"):
        assert error.message == "Open your till before taking cash."


@pytest.mark.django_db
def test_the_receipt_says_change_in_the_cash_sense(client, dave, branch_x, bill):
    from branches import services

    till = services.open_till(clerk=dave, branch=branch_x, opening_float="0")
    taken = services.take_cash(
        clerk=dave,
        till_id=till.pk,
        biller_code="WATER",
        account_no="12345678",
        periods=["2026-10"],
        amount="86.50",
        tendered="100.00",
        form_key="i18n",
    )
    log_in(client, dave)
    page = client.get(f"/counter/receipt/{taken.counter_payment.payment.receipt_no}/")
    assert "找零" in page.text and "修改" not in page.text
