"""The auto-pay and family payment pages of the page walk (which the browser checks of sizes and axe
measure) answer in both languages and in large-text mode, without a browser."""

import pytest
from django.conf import settings
from django.test import Client

from tests.payers.page_walk import LANGUAGES, build_walk

pytestmark = pytest.mark.django_db

NEW_PAGES = ("autopay", "autopay-mandate", "bank-agreement", "family", "family-pay", "family-invite")


def test_the_new_pages_of_the_walk_answer_in_each_language_and_mode(sandbox_bank):
    walk = build_walk()
    for page in walk.citizen_pages:
        if page.name not in NEW_PAGES:
            continue
        for language in LANGUAGES:
            for large in (False, True):
                client = Client()
                client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
                if large:
                    client.cookies["elderly_mode"] = "1"
                if page.who != "anonymous":
                    client.cookies["sessionid"] = walk.sessions[page.who]
                response = client.get(page.path)
                assert response.status_code == 200, (page.name, language, large, response.status_code)
                text = response.content.decode()
                assert f'lang="{language}"' in text, (page.name, language)
                if language == "zh-hans" and page.name.startswith("autopay"):
                    assert "自动扣款" in text
                if language == "zh-hans" and page.name.startswith("family"):
                    assert "亲情付" in text
