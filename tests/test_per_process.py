"""config/templatetags/per_process.py and config/fixed_urls.py: what every page repeats, made once per
process."""

import pytest
from django.template import TemplateSyntaxError, engines
from django.urls import set_script_prefix

from config import fixed_urls
from config.templatetags import per_process

KEPT = engines["django"].from_string(
    '{% load per_process %}{% per_process "greeting" lang %}{{ lang }} {{ name }}{% endper_process %}'
)


def test_a_kept_fragment_is_rendered_once_for_the_same_values():
    assert KEPT.render({"lang": "en", "name": "Ada"}) == "en Ada"
    # `name` is not among the values the fragment varies on: the first rendering stands.
    assert KEPT.render({"lang": "en", "name": "Bo"}) == "en Ada"


def test_a_kept_fragment_is_rendered_again_for_other_values():
    assert KEPT.render({"lang": "en", "name": "Ada"}) == "en Ada"
    assert KEPT.render({"lang": "zh-hans", "name": "Bo"}) == "zh-hans Bo"


def test_clear_forgets_the_kept_fragments():
    KEPT.render({"lang": "en", "name": "Ada"})
    per_process.clear()
    assert KEPT.render({"lang": "en", "name": "Bo"}) == "en Bo"


def test_markup_made_in_python_is_made_once_per_key():
    made = []

    def make():
        made.append(1)
        return "<b>kept</b>"

    assert per_process.kept(("word", "en"), make) == "<b>kept</b>"
    assert per_process.kept(("word", "en"), make) == "<b>kept</b>"
    assert len(made) == 1
    per_process.kept(("word", "zh-hans"), make)
    assert len(made) == 2


def test_the_kept_fragments_stay_bounded(monkeypatch):
    monkeypatch.setattr(per_process, "MAX_FRAGMENTS", 3)
    for number in range(10):
        KEPT.render({"lang": str(number), "name": "x"})
    assert len(per_process._fragments) <= 3


def test_a_fixed_url_follows_the_script_prefix():
    try:
        assert fixed_urls.fixed_reverse("payers:checkout") == "/checkout/"
        set_script_prefix("/portal/")
        assert fixed_urls.fixed_reverse("payers:checkout") == "/portal/checkout/"
    finally:
        set_script_prefix("/")


def test_the_fixed_url_tag_writes_the_reversed_url():
    template = engines["django"].from_string("{% load per_process %}{% fixed_url 'payers:checkout' %}")
    assert template.render({}) == "/checkout/"


def test_the_fixed_url_tag_takes_one_quoted_url_name():
    for source in ("{% fixed_url payers:home %}", "{% fixed_url 'payers:home' 'x' %}", "{% fixed_url %}"):
        with pytest.raises(TemplateSyntaxError):
            engines["django"].from_string("{% load per_process %}" + source)


INCLUDED = engines["django"].from_string('{% include "partials/page_settings.html" %}')
KEPT_SETTINGS = engines["django"].from_string("{% load per_process %}{% page_settings %}")


def _settings_page(rf, template, *, path: str, language: str, elderly: bool, token: bool = True) -> str:
    request = rf.get(path)
    if not token:  # a view under csrf_exempt's cousin: no token in the context at all
        return template.render({"LANGUAGE_CODE": language, "elderly_mode": elderly, "request": request})
    return template.render({"LANGUAGE_CODE": language, "elderly_mode": elderly}, request)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("elderly", [False, True])
def test_the_kept_page_settings_are_the_included_partial_byte_for_byte(rf, language, elderly):
    from django.utils import translation

    path = '/billers/B1/?account_no=1"<b>&x=é'
    with translation.override(language):
        for _twice in range(2):  # the second render comes from the kept markup
            kept_page = _settings_page(rf, KEPT_SETTINGS, path=path, language=language, elderly=elderly)
            included = _settings_page(rf, INCLUDED, path=path, language=language, elderly=elderly)
            token = kept_page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
            assert kept_page.count(token) == 2
            assert kept_page.replace(token, "TOKEN") == included.replace(
                included.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0], "TOKEN"
            )
    assert "?account_no=1%22%3Cb%3E&amp;x=" in kept_page  # as `{{ here }}` escapes it


def test_the_kept_page_settings_follow_each_request(rf):
    first = _settings_page(rf, KEPT_SETTINGS, path="/billers/A/", language="zh-hans", elderly=False)
    second = _settings_page(rf, KEPT_SETTINGS, path="/billers/B/", language="zh-hans", elderly=False)
    assert 'value="/billers/A/"' in first and 'value="/billers/B/"' in second
    assert "/billers/A/" not in second


def test_the_kept_page_settings_without_a_csrf_token_write_no_token_input(rf):
    kept_page = _settings_page(rf, KEPT_SETTINGS, path="/x/", language="en", elderly=False, token=False)
    included = _settings_page(rf, INCLUDED, path="/x/", language="en", elderly=False, token=False)
    assert "csrfmiddlewaretoken" not in kept_page
    assert kept_page == included


def test_the_page_settings_tag_takes_no_arguments():
    with pytest.raises(TemplateSyntaxError):
        engines["django"].from_string("{% load per_process %}{% page_settings 'x' %}")


def test_a_fragment_varies_on_what_the_variable_machinery_would_give():
    """A bare name is read from the context directly; a callable, a dotted name or a missing one goes
    through the template's own resolution, as before."""
    template = engines["django"].from_string(
        '{% load per_process %}{% per_process "vary" mode user.is_staff missing %}{{ mode }}'
        "{% endper_process %}"
    )

    class Person:
        is_staff = True

    assert template.render({"mode": lambda: "called", "user": Person()}) == "called"
    assert ("vary", "called", True, "") in per_process._fragments
    assert template.render({"mode": False, "user": Person()}) == "False"
    assert ("vary", False, True, "") in per_process._fragments
