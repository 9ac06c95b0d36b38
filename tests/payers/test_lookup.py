import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.test import override_settings

from billing.choices import BillStatus
from billing.models import Bill
from billing.paylinks import pay_path, pay_token
from billing.services import suspend_biller
from tests.factories import BillFactory
from tests.support import log_in

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


def test_lookup_page_runs_one_query_whatever_the_number_of_bills(client, water, django_assert_num_queries):
    for period in ("2026-01", "2026-02", "2026-03", "2026-04", "2026-05"):
        BillFactory(account=water["account"], period=period)
    client.get("/billers/WATER01/", {"account_no": "31005678"})  # warm the session and caches
    with django_assert_num_queries(1):  # the biller, the account and its open bills in one
        response = client.get("/billers/WATER01/", {"account_no": "31005678"})
    assert response.content.decode().count('name="bill"') == 7


def test_the_portal_speaks_english_once_chosen(client, water):
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = client.get("/billers/WATER01/", {"account_no": "31005678"}).content.decode()
    assert "Find my bills" in page and "Pay the chosen bills" in page and "Binjiang Water" in page


def test_the_elderly_mode_is_remembered_and_shows_one_big_button(client, water):
    client.post("/elderly-mode/", {"on": "1", "next": "/"})
    page = client.get("/billers/WATER01/", {"account_no": "31005678"}).content.decode()
    assert 'class="elderly"' in page and "btn-huge" in page and 'name="bill"' not in page


@override_settings(PORTAL_RATE_LIMITS={"lookup": (2, 300), "verify": (2, 300)})
def test_checkouts_count_against_the_lookup_limit(client, water):
    for _attempt in range(2):
        client.post("/checkout/", {"biller": "WATER01", "account_no": "99999999", "back": "/"})
    assert client.post("/checkout/", {"biller": "WATER01", "account_no": "31005678"}).status_code == 429


def test_a_suspended_biller_has_no_lookup_page_even_right_after_a_lookup(client, water, admin_user):
    assert client.get("/billers/WATER01/", {"account_no": "31005678"}).status_code == 200
    suspend_biller(biller=water["biller"], actor=admin_user, reason="licence under review")
    assert client.get("/billers/WATER01/", {"account_no": "31005678"}).status_code == 404
    assert client.get("/billers/WATER01/").status_code == 404


def test_an_unknown_biller_with_an_account_number_is_not_found(client, water):
    assert client.get("/billers/NOSUCH/", {"account_no": "31005678"}).status_code == 404


def test_an_account_without_open_bills_still_shows_its_masked_holder(client, water):
    for bill in water["bills"]:
        Bill.objects.filter(pk=bill.pk).update(status=BillStatus.PAID, amount_paid=bill.amount_due)
    page = client.get("/billers/WATER01/", {"account_no": "31005678"}).content.decode()
    assert "张*明" in page and 'name="bill"' not in page


def test_the_cached_header_follows_the_visitor_signed_in_and_language(client, water, django_user_model):
    anonymous = client.get("/billers/WATER01/").content.decode()
    assert "/accounts/login/" in anonymous and "/accounts/logout/" not in anonymous
    log_in(client, django_user_model.objects.create_user("xm", "xm@example.com", "Portal-pass-2026"))
    signed_in = client.get("/billers/WATER01/").content.decode()
    assert "/accounts/logout/" in signed_in and "/me/accounts/" in signed_in.split("</header>")[0]
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    english = client.get("/billers/WATER01/").content.decode().split("</header>")[0]
    assert "Sign out" in english and "退出" not in english


def test_the_forms_in_the_header_carry_this_visitors_token_and_page(client, water):
    client.get("/")  # the visitor's CSRF cookie
    page = client.get("/billers/WATER01/", {"account_no": "31005678"}).content.decode()
    header = page.split("</header>")[0]
    assert header.count('name="csrfmiddlewaretoken"') == 2
    assert 'value="/billers/WATER01/?account_no=31005678"' in header


def test_a_lookup_counter_expires_with_its_window(client, water):
    client.get("/billers/WATER01/", {"account_no": "31005678"})
    redis = caches["default"]._cache.get_client()
    keys = redis.keys("*rl:lookup:*")
    assert len(keys) == 1
    assert int(redis.get(keys[0])) == 1
    _limit, window = settings.PORTAL_RATE_LIMITS["lookup"]
    assert 0 < redis.ttl(keys[0]) <= window + 1


def test_the_lookup_query_is_prepared_once_on_the_connection(client, water):
    for _visit in range(3):
        client.get("/billers/WATER01/", {"account_no": "31005678"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert len([sql for sql in prepared if "billing_customeraccount" in sql]) == 1


def test_the_lookup_query_takes_only_what_the_visitor_typed_as_parameters(client, water):
    """The statuses are written into the statement: with them as parameters PostgreSQL cannot tell how few
    of an account's bills are open and, on a province, planned the query again on every lookup (0.55 ms
    of its CPU a page) rather than settle on a generic plan."""
    client.get("/billers/WATER01/", {"account_no": "31005678"})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%%billing_customeraccount%%'"
        )
        (statement,) = cursor.fetchone()
    assert "$2" in statement and "$3" not in statement
    assert "bl.status IN ('open', 'partly_paid')" in statement and "b.status = 'active'" in statement
