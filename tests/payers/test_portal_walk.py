"""What walking the citizen portal found (issue 14): totals before paying, overdue bills, the outlet finder
and complaint form reachable from every page, and a history CSV in local time."""

import csv
import datetime
import io
import zoneinfo
from decimal import Decimal

import pytest
from django.db.models import F
from django.utils import timezone

from billing.models import Bill, Payment
from billing.services import post_payment
from payers.models import BoundAccount
from tests.factories import BillFactory, PayerFactory
from tests.support import log_in

pytestmark = pytest.mark.django_db

BEIJING = zoneinfo.ZoneInfo("Asia/Shanghai")


def _page(client, *, elderly: bool, english: bool) -> str:
    if english:
        client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    if elderly:
        client.post("/elderly-mode/", {"on": "1", "next": "/"})
    return client.get("/billers/WATER01/", {"account_no": "31005678"}).content.decode()


@pytest.fixture
def four_bills(water):
    account = water["account"]
    BillFactory(
        account=account, period="2026-11", amount_due=Decimal("300.42"), due_date=datetime.date(2026, 12, 20)
    )
    BillFactory(
        account=account, period="2026-12", amount_due=Decimal("242.42"), due_date=datetime.date(2027, 1, 20)
    )
    return water  # 100.00 + 80.00 + 300.42 + 242.42 = 722.84


def test_the_large_text_button_says_it_pays_all_four_bills_and_their_total_in_chinese(client, four_bills):
    page = _page(client, elderly=True, english=False)
    assert "缴纳全部 4 笔账单，共 ¥722.84" in page
    assert "缴纳此账单" not in page
    assert "2026-09" in page and "2026-12" in page


def test_the_large_text_button_says_it_pays_all_four_bills_and_their_total_in_english(client, four_bills):
    page = _page(client, elderly=True, english=True)
    assert "Pay all 4 bills, ¥722.84 in total" in page
    assert "Pay this bill" not in page


@pytest.mark.parametrize("english", [False, True])
def test_the_normal_lookup_shows_the_total_of_the_open_bills_and_their_periods(client, four_bills, english):
    page = _page(client, elderly=False, english=english)
    summary = page.split('id="bills-total"')[1].split("</p>")[0]
    assert "¥722.84" in summary
    assert "2026-09" in summary and "2026-12" in summary
    assert ("4 bills" in summary) if english else ("4 笔账单" in summary)


def test_a_single_open_bill_is_named_in_the_singular_in_large_text_mode(client, power):
    client.post("/elderly-mode/", {"on": "1", "next": "/"})
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = client.get("/billers/POWER01/", {"account_no": "52001234"}).content.decode()
    assert "Pay 1 bill, ¥66.60 in total" in page


def _due_yesterday_and_today(water):
    """2026-09 fell due yesterday (Beijing date), 2026-10 falls due today and is not overdue yet."""
    today = timezone.localdate()
    Bill.objects.filter(pk=water["bills"][0].pk).update(due_date=today - datetime.timedelta(days=1))
    Bill.objects.filter(pk=water["bills"][1].pk).update(due_date=today)


@pytest.mark.parametrize("elderly", [False, True])
@pytest.mark.parametrize("english", [False, True])
def test_bills_past_their_due_date_are_marked_overdue_on_the_lookup(client, water, elderly, english):
    _due_yesterday_and_today(water)
    page = _page(client, elderly=elderly, english=english)
    word = "Overdue" if english else "逾期"
    assert page.count(f'class="tag tag-overdue">{word}<') == 1
    sept = page.index("2026-09")
    assert sept < page.index('class="tag tag-overdue"') < page.index("2026-10")


@pytest.mark.parametrize("elderly", [False, True])
def test_bills_past_their_due_date_are_marked_overdue_in_my_accounts(
    client, water, django_user_model, elderly
):
    _due_yesterday_and_today(water)
    citizen = django_user_model.objects.create_user("ov", "ov@example.com", "Portal-pass-2026")
    BoundAccount.objects.create(user=citizen, account=water["account"], label="家里的水")
    log_in(client, citizen)
    if elderly:
        client.post("/elderly-mode/", {"on": "1", "next": "/"})
    page = client.get("/me/accounts/").content.decode()
    assert page.count('class="tag tag-overdue">逾期<') == 1
    assert page.index("2026-09") < page.index('class="tag tag-overdue"') < page.index("2026-10")


def test_bills_due_today_or_later_are_not_marked_overdue(client, water):
    today = timezone.localdate()
    Bill.objects.filter(pk=water["bills"][0].pk).update(due_date=today)
    Bill.objects.filter(pk=water["bills"][1].pk).update(due_date=today + datetime.timedelta(days=30))
    page = _page(client, elderly=False, english=False)
    assert "tag-overdue" not in page


@pytest.mark.parametrize("path", ["/", "/billers/WATER01/", "/me/accounts/"])
@pytest.mark.parametrize("signed_in", [False, True])
def test_every_portal_page_links_to_the_outlet_finder_and_the_complaint_form(
    client, water, django_user_model, path, signed_in
):
    if signed_in:
        log_in(client, django_user_model.objects.create_user("nv", "nv@example.com", "Portal-pass-2026"))
    elif path.startswith("/me/"):
        path = "/verify/"
    page = client.get(path).content.decode()
    header = page.split("</header>")[0]
    assert 'href="/outlets/"' in header and 'href="/complaints/new/"' in header
    assert "营业网点" in header and "投诉" in header


def test_the_outlet_and_complaint_links_follow_the_language_of_the_cached_header(client, water):
    assert "营业网点" in client.get("/").content.decode().split("</header>")[0]
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    header = client.get("/").content.decode().split("</header>")[0]
    assert "Service outlets" in header and "Complaints" in header and "营业网点" not in header


def test_the_history_csv_writes_beijing_time_to_the_second_so_a_payment_after_midnight_keeps_its_day(
    client, django_user_model, water
):
    citizen = django_user_model.objects.create_user("tz", "tz@example.com", "Portal-pass-2026")
    payer = PayerFactory(user=citizen)
    post_payment(
        channel="online",
        idempotency_key="tz-1",
        biller_code="WATER01",
        account_no="31005678",
        amount="100.00",
        payer=payer,
    )
    paid_at = datetime.datetime(2026, 11, 3, 0, 30, 15, 123456, tzinfo=BEIJING)  # 16:30:15 on the 2nd in UTC
    Payment.objects.update(posted_at=paid_at)
    assert timezone.localtime(Payment.objects.get().posted_at).date() == datetime.date(2026, 11, 3)
    log_in(client, citizen)
    body = b"".join(client.get("/me/history.csv").streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[1][1] == "2026-11-03 00:30:15"


@pytest.mark.parametrize(("english", "expected"), [(False, "共 ¥180.00"), (True, "¥180.00 in total")])
def test_my_accounts_states_the_total_of_every_open_bill_before_the_checkout_button(
    client, water, django_user_model, english, expected
):
    citizen = django_user_model.objects.create_user("sum", "sum@example.com", "Portal-pass-2026")
    BoundAccount.objects.create(user=citizen, account=water["account"], label="家里的水")
    log_in(client, citizen)
    if english:
        client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = client.get("/me/accounts/").content.decode()
    summary = page.split('id="bills-total"')[1].split("</p>")[0]
    assert expected in summary and "2026-09" in summary and "2026-10" in summary
    assert page.index('id="bills-total"') < page.index('type="submit"', page.index('id="pay-mine"'))


def test_my_accounts_with_nothing_to_pay_states_no_zero_total(client, water, django_user_model):
    citizen = django_user_model.objects.create_user("nil", "nil@example.com", "Portal-pass-2026")
    BoundAccount.objects.create(user=citizen, account=water["account"], label="家里的水")
    Bill.objects.update(status="paid", amount_paid=F("amount_due"))
    log_in(client, citizen)
    page = client.get("/me/accounts/").content.decode()
    assert "bills-total" not in page and "¥0.00" not in page
