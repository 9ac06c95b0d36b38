"""Staff offer a bill in instalments from the back-office (issue 17, item 3): equal parts a month apart,
the fen that do not divide on the first; the plan is shown on the bill; another biller's operator cannot
reach it; a bill with payments is refused with the service's message and keeps no plan."""

import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing import instalments, roles
from billing.models import AuditEvent, BillerStaff, Instalment
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory
from tests.support import log_in, make_staff, pay

pytestmark = pytest.mark.django_db


@given(
    fen=st.integers(min_value=200, max_value=10**11),
    count=st.integers(min_value=instalments.MIN_INSTALMENTS, max_value=instalments.MAX_INSTALMENTS),
    first=st.dates(min_value=datetime.date(2026, 1, 1), max_value=datetime.date(2030, 12, 31)),
    apart=st.integers(min_value=1, max_value=6),
)
def test_equal_parts_add_up_exactly_and_fall_due_in_order(fen, count, first, apart):
    total = Decimal(fen) / 100
    parts = instalments.equal_parts(total, count=count, first_due=first, months_apart=apart)
    amounts = [amount for amount, _due in parts]
    dues = [due for _amount, due in parts]
    assert sum(amounts) == total and len(parts) == count
    assert all(amount == amount.quantize(Decimal("0.01")) for amount in amounts)
    assert max(amounts) - min(amounts) < Decimal("0.01") * count  # the remainder is under one fen a part
    assert dues == sorted(set(dues)) and dues[0] == first


def test_a_due_day_past_a_short_month_falls_on_its_last_day():
    parts = instalments.equal_parts(Decimal("100.00"), count=3, first_due=datetime.date(2027, 1, 31))
    assert parts == [
        (Decimal("33.34"), datetime.date(2027, 1, 31)),
        (Decimal("33.33"), datetime.date(2027, 2, 28)),
        (Decimal("33.33"), datetime.date(2027, 3, 31)),
    ]


@pytest.fixture
def school():
    return BillerFactory(code="SCHOOL-I")


@pytest.fixture
def bill(school):
    account = CustomerAccountFactory(biller=school, account_no="10000001")
    return BillFactory(account=account, period="2026-09", amount_due=Decimal("4800.00"))


@pytest.fixture
def operator(django_user_model, school):
    user = make_staff(django_user_model, "school-op", roles.BILLER_OPERATOR)
    BillerStaff.objects.create(user=user, biller=school)
    return user


def test_the_billers_operator_offers_a_bill_in_three_instalments(client, operator, bill):
    log_in(client, operator)
    change = client.get(f"/admin/billing/bill/{bill.pk}/change/")
    url = f"/admin/billing/bill/{bill.pk}/instalments/"
    assert url in change.content.decode()
    response = client.post(
        url, {"count": "3", "first_due": "2026-09-30", "months_apart": "1", "reason": "家长申请"}
    )
    assert response.status_code == 302
    plan = list(Instalment.objects.filter(bill=bill).order_by("number").values_list("amount", "due_date"))
    assert plan == [
        (Decimal("1600.00"), datetime.date(2026, 9, 30)),
        (Decimal("1600.00"), datetime.date(2026, 10, 30)),
        (Decimal("1600.00"), datetime.date(2026, 11, 30)),
    ]
    event = AuditEvent.objects.get(action="bill.instalments_offered")
    assert event.actor == operator and event.reason == "家长申请"
    shown = client.get(f"/admin/billing/bill/{bill.pk}/change/").content.decode()
    assert "2026-11-30 · ¥1,600.00 · 已缴金额 ¥0.00" in shown


def test_another_billers_operator_cannot_reach_the_bill(client, django_user_model, bill):
    stranger = make_staff(django_user_model, "power-op", roles.BILLER_OPERATOR)
    BillerStaff.objects.create(user=stranger, biller=BillerFactory(code="POWER-I"))
    log_in(client, stranger)
    response = client.post(
        f"/admin/billing/bill/{bill.pk}/instalments/", {"count": "3", "first_due": "2026-09-30"}
    )
    assert response.status_code == 404
    assert not Instalment.objects.exists()


def test_an_auditor_may_look_but_not_offer(client, django_user_model, bill):
    auditor = make_staff(django_user_model, "auditor-i", roles.AUDITOR)
    log_in(client, auditor)
    response = client.post(
        f"/admin/billing/bill/{bill.pk}/instalments/",
        {"count": "3", "first_due": "2026-09-30", "months_apart": "1"},
    )
    assert response.status_code == 403
    assert not Instalment.objects.exists()


def test_a_bill_with_payments_is_refused_with_the_reason(client, operator, bill):
    bill.biller.amount_rule = "exact_down"
    bill.biller.save()
    pay(bill.account, "100.00")
    log_in(client, operator)
    response = client.post(
        f"/admin/billing/bill/{bill.pk}/instalments/",
        {"count": "2", "first_due": "2026-09-30", "months_apart": "1"},
    )
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert not Instalment.objects.exists()
