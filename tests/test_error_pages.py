"""The error pages a citizen can meet in production speak the site's language (Chinese by default), not
Django's bare English "Not Found" / "Server Error (500)" seen on the production walk."""

import pytest
from django.test import RequestFactory
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def test_a_missing_page_says_so_in_chinese_with_a_way_home(client, production):
    response = client.get("/no-such-page/")
    page = response.content.decode()
    assert response.status_code == 404
    assert '<html lang="zh-hans">' in page
    assert "页面不存在" in page and "请检查地址" in page and 'href="/"' in page
    assert "Not Found" not in page


def test_a_missing_page_speaks_english_when_english_is_chosen(client, production, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get("/no-such-page/").content.decode()
    assert "Page not found" in page and "find your bill again from the home page" in page


def test_a_server_error_tells_a_payer_not_to_pay_twice_in_both_languages(production):
    response = server_error(RequestFactory().get("/checkout/"))
    page = response.content.decode()
    assert response.status_code == 500
    assert "系统出错" in page and "切勿重复付款" in page
    assert "check your bank or payment app" in page
    assert "Server Error (500)" not in page
