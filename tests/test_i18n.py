"""The Chinese catalogue is complete, and the committed .mo (used on machines without gettext) matches it."""

import gettext
import re
from pathlib import Path

from django.conf import settings

LOCALE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"
ENTRY = re.compile(r'(?:msgctxt "(?P<ctx>.*)"\n)?msgid "(?P<id>.*)"\nmsgstr "(?P<str>.*)"\n')


def _unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def _entries():
    source = (LOCALE / "django.po").read_text(encoding="utf-8")
    return [m for m in ENTRY.finditer(source) if m["id"]]


def test_every_message_has_a_chinese_translation():
    untranslated = [m["id"] for m in _entries() if not m["str"]]
    assert untranslated == []


def test_compiled_catalogue_matches_the_source():
    with open(LOCALE / "django.mo", "rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for m in _entries():
        msgid, expected = _unescape(m["id"]), _unescape(m["str"])
        got = compiled.pgettext(m["ctx"], msgid) if m["ctx"] else compiled.gettext(msgid)
        assert got == expected, f"{msgid!r}: run `make messages` to recompile"


def test_a_too_short_password_is_refused_in_chinese_on_the_signup_page(client, db):
    """Django 5.2 words this message with %d; its Chinese catalogue still has %(min_length)d, so the
    signup page said it in English (issue 14) until the project's catalogue carried the new wording."""
    page = client.post(
        "/accounts/signup/", {"email": "lihua@example.com", "password1": "ab1", "password2": "ab1"}
    ).content.decode()
    assert "密码太短，至少需要 8 个字符。" in page
    assert "This password is too short" not in page


def test_the_receipt_number_has_one_chinese_name_in_every_catalogue():
    """回执号, 回单号 and 凭证号 named one thing (issue 14): every catalogue now says 凭证号."""
    from django.utils import translation

    root = Path(settings.BASE_DIR)
    catalogues = [root / "locale", *(root / app / "locale" for app in ("billing", "payers", "branches"))]
    catalogues.append(root / "reconciliation" / "locale")
    for path in catalogues:
        po = path / "zh_Hans" / "LC_MESSAGES" / "django.po"
        if po.exists():
            text = po.read_text(encoding="utf-8")
            assert "回执号" not in text and "回单号" not in text, po
    with translation.override("zh-hans"):
        names = {translation.gettext(msgid) for msgid in ("Receipt number", "receipt number", "Receipt no.")}
    assert names == {"凭证号"}
