"""Where the biller's amount rule allows, the payer chooses the amount (part payment, advance payment,
prepaid top-up) on the portal; the server checks it by the rule post_payment applies, and the money still
goes through the bank's notification and post_payment."""

from decimal import Decimal

import pytest

from billing.choices import AmountRule, BillStatus
from billing.models import Bill, Payment
from payers import services
from payers.models import OrderLine
from tests.support import log_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_bank")]


@pytest.fixture
def part_payments(water):
    water["biller"].amount_rule = AmountRule.EXACT_DOWN
    water["biller"].save()
    return water


def test_a_part_payment_biller_offers_an_amount_field_and_an_exact_one_does_not(client, water):
    page = client.get("/billers/WATER01/", {"account_no": "31005678"}).content.decode()
    assert 'name="amount"' not in page
    water["biller"].amount_rule = AmountRule.EXACT_DOWN
    water["biller"].save()
    page = client.get("/billers/WATER01/", {"account_no": "31005678"}).content.decode()
    assert 'id="own-amount" name="amount"' in page
    assert "¥180.00" in page  # the most it may be, stated before paying


def test_a_part_payment_goes_through_the_bank_and_post_payment_oldest_bill_first(bank, part_payments):
    bills = part_payments["bills"]
    order = bank.checkout(
        {"biller": "WATER01", "account_no": "31005678", "bill": [b.pk for b in bills], "amount": "120.00"}
    )
    assert order.amount == Decimal("120.00")
    assert Payment.objects.count() == 0  # nothing posted before the bank says so
    bank.pay(order)
    bank.notify(order)
    payment = Payment.objects.get()
    assert payment.amount == Decimal("120.00")
    assert [(a.bill.period, a.amount) for a in payment.allocations.order_by("bill__due_date")] == [
        ("2026-09", Decimal("100.00")),
        ("2026-10", Decimal("20.00")),
    ]
    assert Bill.objects.get(pk=bills[1].pk).status == BillStatus.PARTLY_PAID


def test_more_than_the_chosen_bills_owe_is_refused_before_the_bank(client, part_payments):
    bill = part_payments["bills"][0]
    back = "/billers/WATER01/?account_no=31005678"
    response = client.post(
        "/checkout/",
        {"biller": "WATER01", "account_no": "31005678", "bill": [bill.pk], "amount": "100.01", "back": back},
    )
    assert response.status_code == 302 and response.url == back
    assert not OrderLine.objects.exists()
    assert "¥100.00" in client.get(back).content.decode()  # the refusal names the most it may be


def test_an_own_amount_for_an_exact_amount_biller_is_refused(client, water):
    client.post(
        "/checkout/",
        {"biller": "WATER01", "account_no": "31005678", "bill": [water["bills"][0].pk], "amount": "50"},
    )
    assert not OrderLine.objects.exists()


def test_an_advance_payment_is_kept_as_credit_where_the_biller_takes_more_than_due(client, bank, power):
    Bill.objects.filter(pk=power["bills"][0].pk).update(status=BillStatus.CANCELLED)
    page = client.get("/billers/POWER01/", {"account_no": "52001234"}).content.decode()
    assert 'id="advance" name="amount"' in page
    order = bank.checkout({"biller": "POWER01", "account_no": "52001234", "amount": "50.00"})
    bank.pay(order)
    bank.notify(order)
    power["account"].refresh_from_db()
    assert power["account"].credit_balance == Decimal("50.00")


def test_a_bound_prepaid_account_offers_a_top_up_not_nothing_to_pay(client, prepaid, django_user_model):
    user = django_user_model.objects.create_user("fang", "fang@example.com", "x")
    services.bind_account(user=user, account=prepaid["account"], label="燃气卡")
    log_in(client, user)
    page = client.get("/me/accounts/").content.decode()
    assert "无需缴费" not in page
    top_up = "/billers/GASCARD/?account_no=77001234"
    assert top_up in page
    assert 'id="topup" name="amount"' in client.get(top_up).content.decode()


def test_large_text_mode_offers_the_amount_field_and_confirms_the_total_before_the_bank(
    client, bank, part_payments
):
    """Issue 14: in 大字模式 a part-payment biller offers the amount too, checked by the same rule, and the
    page states what will be paid on the one button before the payer leaves for the bank."""
    client.cookies["elderly_mode"] = "1"
    lookup = {"account_no": "31005678"}
    page = client.get("/billers/WATER01/", lookup).content.decode()
    assert 'id="own-amount" name="amount"' in page and "¥180.00" in page
    refused = client.get("/billers/WATER01/", {**lookup, "amount": "180.01"}).content.decode()
    assert 'role="alert"' in refused and "¥180.00" in refused and 'id="own-amount-total"' not in refused
    confirm = client.get("/billers/WATER01/", {**lookup, "amount": "120"}).content.decode()
    assert 'id="own-amount-total"' in confirm and "¥120.00" in confirm
    assert 'name="amount" value="120.00"' in confirm
    order = bank.checkout({"biller": "WATER01", "account_no": "31005678", "all": "1", "amount": "120.00"})
    assert order.amount == Decimal("120.00")
