"""The portal shows a date-dependent amount (late fee, early discount) with until when it holds before any
payment, and an order keeps the price of the day it was opened when the bank confirms after midnight."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import amounts
from billing.choices import AllocationKind, BillStatus
from billing.models import Payment
from demo.clock import at
from payers.models import GatewayOrder
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

pytestmark = pytest.mark.django_db

D = Decimal


def beijing(day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=amounts.BEIJING)


@pytest.fixture
def fine():
    police = BillerFactory(
        code="POLICE01",
        name="交警支队",
        name_en="Traffic Police",
        account_pattern=r"^\d{8}$",
        late_fee_daily_rate=D("0.000500"),
        late_fee_cap_rate=D("1.0000"),
    )
    account = CustomerAccountFactory(biller=police, account_no="44001234", holder_name="赵六")
    due = amounts.beijing_today() - datetime.timedelta(days=4)
    return BillFactory(account=account, period="2026-11", amount_due=D("2000.00"), due_date=due)


@pytest.fixture
def school_fee():
    school = BillerFactory(code="SCHOOL01", name="实验小学", name_en="Primary School")
    account = CustomerAccountFactory(biller=school, account_no="55001234", holder_name="孙小红")
    today = amounts.beijing_today()
    return BillFactory(
        account=account,
        period="2027-01",
        amount_due=D("3000.00"),
        due_date=today + datetime.timedelta(days=30),
        early_discount=D("100.00"),
        discount_until=today + datetime.timedelta(days=5),
    )


def test_the_lookup_shows_the_late_fee_and_until_when_the_total_holds_in_chinese(client, fine):
    page = client.get("/billers/POLICE01/?account_no=44001234").content.decode()
    today = amounts.beijing_today()
    assert "¥2004.00" in page  # 0.05% of ¥2000 is ¥1.00 a day, 4 days late
    assert "含滞纳金 ¥4.00（逾期 4 天）" in page
    assert f"有效期至北京时间 {today:%Y-%m-%d} 当天结束" in page


def test_the_lookup_shows_the_late_fee_in_english(client, fine):
    client.cookies["django_language"] = "en"
    page = client.get("/billers/POLICE01/?account_no=44001234", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "incl. late fee ¥4.00 (4 days late)" in page
    assert f"holds until the end of {amounts.beijing_today():%Y-%m-%d}" in page


def test_the_lookup_shows_the_discounted_amount_until_its_last_day(client, school_fee):
    client.cookies["django_language"] = "en"
    page = client.get("/billers/SCHOOL01/?account_no=55001234", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "¥2900.00" in page
    assert "early-payment discount −¥100.00" in page
    assert f"holds until the end of {school_fee.discount_until:%Y-%m-%d}" in page


def test_the_pay_link_page_shows_the_amount_and_until_when_it_holds(client, fine):
    from billing.paylinks import pay_token

    client.cookies["django_language"] = "en"
    page = client.get(f"/pay/{pay_token(fine)}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "¥2004.00" in page
    assert "holds until the end of" in page


@pytest.mark.usefixtures("sandbox_bank")
def test_an_order_opened_before_midnight_and_confirmed_after_it_pays_the_price_it_showed(bank, fine):
    """Opened at 23:50 on the 3rd late day (¥2003.00), paid and confirmed by the bank at 00:10 on the 4th
    (when the bill costs ¥2004.00): the order's price stands, and the bill is paid."""
    opened = beijing(fine.due_date + datetime.timedelta(days=3), 23, 50)
    with at(opened):
        order = bank.checkout({"biller": "POLICE01", "account_no": "44001234", "bill": [fine.pk]})
    GatewayOrder.objects.filter(pk=order.pk).update(created_at=opened)
    order.refresh_from_db()
    assert order.amount == D("2003.00")
    with at(opened + datetime.timedelta(minutes=20)):
        bank.pay(order)
        assert bank.notify(order).content == b"success"
    payment = Payment.objects.get()
    fine.refresh_from_db()
    assert (fine.status, fine.late_fee, payment.amount) == (BillStatus.PAID, D("3.00"), D("2003.00"))
    assert dict(payment.allocations.values_list("kind", "amount")) == {
        AllocationKind.BILL: D("2000.00"),
        AllocationKind.LATE_FEE: D("3.00"),
    }
    assert timezone.localdate(payment.posted_at) == fine.due_date + datetime.timedelta(days=4)


def test_the_receipt_names_the_late_fee_once_per_bill(fine):
    from django.utils import translation

    from billing.models import Payment
    from billing.services import post_payment
    from payers.receipts import receipt_lines

    post_payment(
        channel="partner",
        idempotency_key="r1",
        biller_code="POLICE01",
        account_no="44001234",
        amount="2004.00",
    )
    payment = Payment.objects.get()
    with translation.override("en"):
        rows = dict(receipt_lines(payment))
    assert rows["Bills paid"] == "2026-11"
    assert rows["of which late fee"] == "¥4.00"


@pytest.mark.usefixtures("sandbox_bank")
def test_the_pay_link_offers_the_next_instalment_and_the_bank_pays_it(client, bank, admin_user):
    from billing.paylinks import pay_token
    from billing.services import offer_instalments

    school = BillerFactory(code="SCHOOL01", name="实验小学", name_en="Primary School")
    account = CustomerAccountFactory(biller=school, account_no="55001234", holder_name="孙大伟")
    due = amounts.beijing_today() + datetime.timedelta(days=10)
    bill = BillFactory(account=account, period="2027-01", amount_due=D("3000.00"), due_date=due)
    offer_instalments(
        bill=bill,
        parts=[(D("1000.00"), due), (D("2000.00"), due + datetime.timedelta(days=30))],
        actor=admin_user,
    )
    token = pay_token(bill)
    client.cookies["django_language"] = "en"
    page = client.get(f"/pay/{token}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"Instalment 1 of 2: ¥1000.00, due {due:%Y-%m-%d}" in page
    assert "Pay instalment 1: ¥1000.00" in page
    response = client.post("/checkout/", {"source": "link", "token": token, "instalment": "next"})
    assert response.status_code == 302, response.content[:300]
    client.get(response.url)
    order = GatewayOrder.objects.latest("created_at")
    assert order.amount == D("1000.00")
    bank.pay(order)
    assert bank.notify(order).content == b"success"
    bill.refresh_from_db()
    assert (bill.status, bill.amount_paid) == (BillStatus.PARTLY_PAID, D("1000.00"))
    page = client.get(f"/pay/{token}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Pay instalment 2: ¥2000.00" in page
