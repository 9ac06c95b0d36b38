"""The counter and the slips with amounts that change with the date (issue 17, item 2): a slip prints the
amount and the last day it holds, the counter re-checks it when scanned and when the cash is taken, and
refuses a stale amount with today's."""

import datetime
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation
from pypdf import PdfReader

from billing import amounts
from billing.choices import AllocationKind, BillStatus
from billing.exceptions import PaymentRefused
from billing.models import Payment
from branches import selectors, services
from branches.exceptions import CounterError
from branches.slips import SlipCode, render_slip_pdf, slip_code_for
from tests.branches.test_counter_pages import dave_client, form_key  # noqa: F401 (fixture)
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory
from tests.support import take_cash

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def fine(branch_x):
    police = BillerFactory(
        code="POLICE01", name="交警支队", late_fee_daily_rate=D("0.000500"), late_fee_cap_rate=D("1.0000")
    )
    account = CustomerAccountFactory(biller=police, account_no="44001234", holder_name="赵六")
    due = amounts.beijing_today() - datetime.timedelta(days=2)
    return BillFactory(account=account, period="2026-11", amount_due=D("2000.00"), due_date=due)


@pytest.fixture
def school_fee(branch_x):
    school = BillerFactory(code="SCHOOL01", name="实验小学")
    account = CustomerAccountFactory(biller=school, account_no="55001234", holder_name="孙小红")
    until = amounts.beijing_today() + datetime.timedelta(days=3)
    return BillFactory(
        account=account,
        period="2027-01",
        amount_due=D("3000.00"),
        due_date=until + datetime.timedelta(days=20),
        early_discount=D("100.00"),
        discount_until=until,
    )


def pdf_text(bill) -> str:
    with translation.override("zh-hans"):
        pdf = render_slip_pdf(bill, layout="a4", base_url="https://pay.example.com")
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_a_late_bills_slip_holds_for_today_only_and_prints_the_late_fee(fine):
    today = amounts.beijing_today()
    code = slip_code_for(fine)
    assert (code.amount, code.due_date) == (D("2002.00"), today)
    text = pdf_text(fine)
    assert "¥2,002.00" in text and "滞纳金：¥2.00" in text
    assert f"金额有效期至：北京时间 {today:%Y-%m-%d} 当天结束" in text


def test_a_discounted_slip_holds_until_the_discounts_last_day(school_fee):
    code = slip_code_for(school_fee)
    assert (code.amount, code.due_date) == (D("2900.00"), school_fee.discount_until)
    text = pdf_text(school_fee)
    assert "¥2,900.00" in text and "提前缴费优惠：−¥100.00" in text
    assert f"{school_fee.discount_until:%Y-%m-%d}" in text
    assert selectors.bill_for_slip(code) == school_fee  # scanned while it holds: accepted


def test_a_slip_printed_yesterday_for_a_late_bill_is_refused_today(fine):
    yesterday = amounts.beijing_today() - datetime.timedelta(days=1)
    stale = SlipCode("POLICE01", "44001234", "2026-11", D("2001.00"), yesterday)
    with pytest.raises(CounterError) as refused:
        selectors.bill_for_slip(stale)
    assert refused.value.code == "slip_expired"


def test_the_counter_refuses_yesterdays_amount_and_takes_todays(fine, till, dave):
    with pytest.raises(PaymentRefused) as refused:
        take_cash(dave, till, fine, amount="2001.00", tendered="2100.00")
    assert refused.value.code == "amount_due_changed"
    assert not Payment.objects.exists()
    taken = take_cash(dave, till, fine, key="k2", amount="2002.00", tendered="2100.00")
    payment = taken.counter_payment.payment
    assert dict(payment.allocations.values_list("kind", "amount")) == {
        AllocationKind.BILL: D("2000.00"),
        AllocationKind.LATE_FEE: D("2.00"),
    }
    fine.refresh_from_db()
    assert fine.status == BillStatus.PAID


def test_the_counter_page_shows_the_late_fee_and_refuses_a_stale_amount_clearly(
    dave_client,  # noqa: F811
    dave,
    branch_x,
    fine,
):
    services.open_till(clerk=dave, branch=branch_x, opening_float="0")
    page = dave_client.get(reverse("counter:lookup"), {"biller": "POLICE01", "q": "44001234"})
    assert page.status_code == 200
    assert "2,002.00" in page.text or "2002.00" in page.text
    assert "含滞纳金 ¥2.00（逾期 2 天）" in page.text
    assert f"有效期至北京时间 {amounts.beijing_today():%Y-%m-%d} 当天结束" in page.text
    data = {
        "form_key": form_key(page),
        "biller": "POLICE01",
        "account_no": "44001234",
        "period": ["2026-11"],
        "amount": "2001.00",  # what the screen said before midnight
        "tendered": "2100",
    }
    refused = dave_client.post(reverse("counter:pay"), data)
    assert refused.status_code == 409
    assert "应缴金额已随日期变化" in refused.text and "¥2,002.00" in refused.text
    assert not Payment.objects.exists()


def test_the_counter_takes_the_next_instalment_of_a_bill_offered_in_instalments(school_fee, till, dave):
    from billing.services import offer_instalments

    offer_instalments(
        bill=school_fee,
        parts=[
            (D("1500.00"), school_fee.due_date),
            (D("1500.00"), school_fee.due_date + datetime.timedelta(30)),
        ],
        actor=dave,
    )
    taken = take_cash(dave, till, school_fee, amount="1500.00", tendered="1500.00")
    school_fee.refresh_from_db()
    assert (taken.counter_payment.payment.amount, school_fee.status) == (D("1500.00"), BillStatus.PARTLY_PAID)


def test_a_bills_slip_is_its_next_instalments_and_the_counter_takes_it_when_scanned(
    school_fee,
    dave_client,  # noqa: F811
    dave,
    branch_x,
):
    from billing.services import offer_instalments

    second_due = school_fee.due_date + datetime.timedelta(days=30)
    offer_instalments(
        bill=school_fee,
        parts=[(D("1000.00"), school_fee.due_date), (D("2000.00"), second_due)],
        actor=dave,
    )
    code = slip_code_for(school_fee)
    assert (code.amount, code.due_date) == (D("1000.00"), school_fee.due_date)
    assert "分期：第 1/2 期" in pdf_text(school_fee)
    services.open_till(clerk=dave, branch=branch_x, opening_float="0")
    page = dave_client.get(reverse("counter:lookup"), {"q": code.text})
    assert page.status_code == 200 and page.context["lookup"].total == D("1000.00")
    data = {
        "form_key": form_key(page),
        "biller": "SCHOOL01",
        "account_no": "55001234",
        "period": ["2027-01"],
        "amount": "1000.00",
        "tendered": "1000",
        "from_slip": "1",
    }
    assert dave_client.post(reverse("counter:pay"), data).status_code == 302
    school_fee.refresh_from_db()
    assert (school_fee.status, school_fee.amount_paid) == (BillStatus.PARTLY_PAID, D("1000.00"))
    assert (slip_code_for(school_fee).amount, slip_code_for(school_fee).due_date) == (
        D("2000.00"),
        second_due,
    )
