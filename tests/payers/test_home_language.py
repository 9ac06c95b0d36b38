"""The citizen home page: Chinese by default, English once chosen."""

import pytest

from tests.factories import BillerFactory

pytestmark = pytest.mark.django_db


def test_home_page_lists_billers_in_chinese_by_default(client):
    BillerFactory(name="滨江水务", name_en="Binjiang Water")
    response = client.get("/")
    assert response.status_code == 200
    assert "滨江水务" in response.content.decode()


def test_home_page_stays_chinese_for_an_english_browser(client):
    BillerFactory(name="滨江水务", name_en="Binjiang Water")
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert "滨江水务" in response.content.decode()
    assert "生活缴费" in response.content.decode()


def test_home_page_speaks_english_once_chosen(client):
    BillerFactory(name="滨江水务", name_en="Binjiang Water")
    switched = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert switched.status_code == 302
    response = client.get("/")
    assert "Binjiang Water" in response.content.decode()
    assert "Pay your bills" in response.content.decode()
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert "生活缴费" in client.get("/").content.decode()
