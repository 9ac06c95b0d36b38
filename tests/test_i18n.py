"""Every Chinese catalogue is complete, the committed .mo (used on machines without gettext) matches it,
and it holds exactly the strings the source has (`make messages` was run)."""

import gettext
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config.management.commands.makemessages import IGNORED
from tests.catalogues import OVERRIDES, ROOT, entries, project_catalogues

CATALOGUES = [*project_catalogues(), OVERRIDES]


def _name(po: Path) -> str:
    return str(po.relative_to(ROOT).parents[2])


def _describe(key) -> str:
    context, msgid, _plural = key
    return f"{context}|{msgid}" if context else msgid


@pytest.mark.parametrize("po", CATALOGUES, ids=_name)
def test_every_message_has_a_chinese_translation(po):
    """A fuzzy entry (msgmerge's guess from a similar string) is not compiled: it counts as missing."""
    untranslated = [e.msgid for e in entries(po) if e.fuzzy or not all(e.translations)]
    assert untranslated == [], f"{_name(po)}: translate these (and drop any '#, fuzzy'), then `make messages`"


@pytest.mark.parametrize("po", CATALOGUES, ids=_name)
def test_compiled_catalogue_matches_the_source(po):
    with open(po.with_suffix(".mo"), "rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for e in entries(po):
        if e.plural:
            got = tuple(
                compiled.npgettext(e.context, e.msgid, e.plural, n)
                if e.context
                else compiled.ngettext(e.msgid, e.plural, n)
                for n in range(len(e.translations))
            )
        else:
            got = (compiled.pgettext(e.context, e.msgid) if e.context else compiled.gettext(e.msgid),)
        assert got == e.translations, f"{e.msgid!r}: run `make messages` to recompile {_name(po)}"


def test_the_overrides_translate_only_strings_the_project_does_not_write():
    """locale_overrides/ is for Django's and other packages' strings (its README.md): a string the
    project's source has belongs in the catalogue `make messages` builds, where it already is."""
    overrides = {e.key for e in entries(OVERRIDES)}
    for po in project_catalogues():
        assert overrides & {e.key for e in entries(po)} == set(), f"remove these from {_name(OVERRIDES)}"


@pytest.mark.skipif(not shutil.which("xgettext"), reason="makemessages needs GNU gettext")
def test_the_catalogues_hold_the_strings_of_the_source(tmp_path):
    """What `make messages` would do, in a copy: a string added to (or dropped from) the source without
    running it is named here, before a page shows it in English."""
    copy = tmp_path / "src"
    shutil.copytree(
        ROOT,
        copy,
        # What makemessages skips (its IGNORED) is not copied either, with what it never reads.
        ignore=shutil.ignore_patterns(*IGNORED, ".git", "node_modules", "__pycache__", "*.mo", "*.egg-info"),
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "-v", "0"],
        cwd=copy,
        env=env,
        check=True,
        timeout=120,
    )
    for po in project_catalogues():
        committed = {e.key for e in entries(po)}
        regenerated = {e.key for e in entries(copy / po.relative_to(ROOT))}
        missing = sorted(_describe(key) for key in regenerated - committed)
        unused = sorted(_describe(key) for key in committed - regenerated)
        assert (missing, unused) == ([], []), (
            f"{_name(po)} is out of date: run `make messages` and translate the new strings "
            f"(missing: {missing}; no longer in the source: {unused})"
        )


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

    for po in CATALOGUES:
        text = po.read_text(encoding="utf-8")
        assert "回执号" not in text and "回单号" not in text, po
    with translation.override("zh-hans"):
        names = {translation.gettext(msgid) for msgid in ("Receipt number", "receipt number", "Receipt no.")}
    assert names == {"凭证号"}
