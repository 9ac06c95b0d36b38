"""The error pages a citizen can meet in production speak the site's language (Chinese by default), not
Django's bare English "Not Found" / "Server Error (500)" seen on the production walk."""

from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client, RequestFactory
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


# --- Issue 14: 400, 403 and a refused CSRF check in the platform's style and language; the favicon. ---


def _in_platform_style(page):
    return "css/site.css" in page and 'id="main"' in page


@pytest.fixture
def citizen(django_user_model):
    return django_user_model.objects.create_user("citizen14", "citizen14@example.com", "pw-citizen-14")


@pytest.mark.parametrize(
    ("language", "heading", "text"),
    [("zh-hans", "请求有误", "请返回上一页重试"), ("en", "Bad request", "Go back and try again")],
)
def test_a_bad_request_gets_the_platforms_page_in_the_users_language(
    client, production, settings, language, heading, text
):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.post("/i18n/setlang/", {f"field{n}": "x" for n in range(20)})
    page = response.content.decode()
    assert response.status_code == 400
    assert heading in page and text in page and _in_platform_style(page)
    assert "Bad Request (400)" not in page


@pytest.mark.parametrize(
    ("language", "heading", "text"),
    [("zh-hans", "无权访问", "请联系平台管理员"), ("en", "Access denied", "ask a platform administrator")],
)
def test_a_page_the_user_may_not_open_says_so_in_the_users_language(
    client, production, settings, citizen, language, heading, text
):
    client.force_login(citizen)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get("/counter/")
    page = response.content.decode()
    assert response.status_code == 403
    assert heading in page and text in page and _in_platform_style(page)
    assert "403 Forbidden" not in page


@pytest.mark.parametrize(
    ("language", "heading", "text"),
    [("zh-hans", "表单已失效", "没有发生任何扣款"), ("en", "The form has expired", "no money moved")],
)
def test_a_form_sent_without_its_csrf_token_gets_a_friendly_page_and_changes_nothing(
    production, settings, language, heading, text
):
    client = Client(enforce_csrf_checks=True)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = response.content.decode()
    assert response.status_code == 403
    assert heading in page and text in page and _in_platform_style(page)
    assert "CSRF verification failed" not in page
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies  # the language was not switched


def test_browsers_asking_for_favicon_ico_get_the_platforms_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("favicon.svg")
    icon = finders.find("favicon.svg")
    assert icon and Path(icon).read_text(encoding="utf-8").startswith("<svg")
