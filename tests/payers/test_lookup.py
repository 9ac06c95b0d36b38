import pytest
from django.test import override_settings

from billing.paylinks import pay_path, pay_token
from tests.factories import BillFactory

pytestmark = pytest.mark.django_db


def test_lookup_shows_the_masked_name_and_the_open_bills(client, water):
    response = client.get("/billers/WATER01/", {"account_no": "3100 5678"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "张*明" in page
    assert "张小明" not in page
    assert "2026-09" in page and "2026-10" in page


def test_lookup_refuses_a_number_the_billers_rule_rejects_with_the_hint(client, water):
    page = client.get("/billers/WATER01/", {"account_no": "12AB"}).content.decode()
    assert "户号为8位数字" in page
    assert "张*明" not in page


def test_lookup_of_an_unknown_account_says_so_without_a_name(client, water):
    page = client.get("/billers/WATER01/", {"account_no": "99999999"}).content.decode()
    assert "99999999" in page
    assert "*" not in page.split("<main")[1].split("</main>")[0].replace("*/", "")


@override_settings(PORTAL_RATE_LIMITS={"lookup": (3, 300), "verify": (3, 300)})
def test_lookups_beyond_the_limit_get_a_clear_429_page(client, water):
    for number in ("31005678", "31005679", "31005670"):
        assert client.get("/billers/WATER01/", {"account_no": number}).status_code == 200
    response = client.get("/billers/WATER01/", {"account_no": "31005671"})
    assert response.status_code == 429
    assert "稍后" in response.content.decode() or "wait" in response.content.decode()


def test_biller_search_finds_by_chinese_name_within_a_category(client, water):
    page = client.get("/billers/", {"category": "water", "q": "滨江"}).content.decode()
    assert "/billers/WATER01/" in page


def test_home_page_lists_the_categories_with_active_billers(client, water):
    page = client.get("/").content.decode()
    assert "?category=water" in page or "/billers/WATER01/" in page


def test_pay_link_opens_the_bill_with_a_masked_name(client, water):
    page = client.get(pay_path(water["bills"][0])).content.decode()
    assert "张*明" in page and "100.00" in page


def test_a_forged_pay_link_is_refused(client, water):
    token = pay_token(water["bills"][0])
    assert client.get(f"/pay/{token[:-2]}xx/").status_code == 404


def test_printable_qr_encodes_the_pay_link(client, water):
    response = client.get(f"/pay/{pay_token(water['bills'][0])}/qr/")
    assert response.status_code == 200
    assert "<svg" in response.content.decode()


def test_lookup_page_runs_a_fixed_number_of_queries(client, water, django_assert_max_num_queries):
    for period in ("2026-01", "2026-02", "2026-03", "2026-04", "2026-05"):
        BillFactory(account=water["account"], period=period)
    client.get("/billers/WATER01/", {"account_no": "31005678"})  # warm the session and caches
    with django_assert_max_num_queries(4):
        response = client.get("/billers/WATER01/", {"account_no": "31005678"})
    assert response.content.decode().count('name="bill"') == 7
