"""The partner API prices date-dependent bills for today in Beijing: the enquiry gives the late fee, the
discount and until when the amount holds; a payment of a stale amount is refused with today's."""

import datetime
from decimal import Decimal

import pytest

from billing import amounts
from billing.choices import BillStatus
from tests.api.conftest import error_code
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/partner"
D = Decimal


@pytest.fixture
def fine(partner):
    police = BillerFactory(code="POLICE01", late_fee_daily_rate=D("0.000500"), late_fee_cap_rate=D("1.0000"))
    account = CustomerAccountFactory(biller=police, account_no="44001234", holder_name="赵六")
    due = amounts.beijing_today() - datetime.timedelta(days=3)
    return BillFactory(account=account, period="2026-11", amount_due=D("2000.00"), due_date=due)


def pay(api, amount, key="k-1"):
    body = {"biller_code": "POLICE01", "account_no": "44001234", "amount": amount, "partner_ref": key}
    return api.post(f"{BASE}/payments", body, idempotency_key=key)


def test_the_enquiry_gives_the_late_fee_and_until_when_the_amount_holds(api, fine):
    body = api.get(f"{BASE}/billers/POLICE01/accounts/44001234").json()
    today = amounts.beijing_today().isoformat()
    assert (body["total_outstanding"], body["priced_on"], body["holds_until"]) == ("2003.00", today, today)
    (bill,) = body["bills"]
    assert (bill["amount_due"], bill["late_fee"], bill["discount"], bill["outstanding"]) == (
        "2000.00",
        "3.00",
        "0.00",
        "2003.00",
    )
    assert bill["holds_until"] == today


def test_the_enquiry_gives_a_discount_while_it_holds(api, partner):
    school = BillerFactory(code="SCHOOL01")
    account = CustomerAccountFactory(biller=school, account_no="55001234")
    until = amounts.beijing_today() + datetime.timedelta(days=2)
    BillFactory(
        account=account,
        amount_due=D("3000.00"),
        due_date=until + datetime.timedelta(days=20),
        early_discount=D("100.00"),
        discount_until=until,
    )
    body = api.get(f"{BASE}/billers/SCHOOL01/accounts/55001234").json()
    assert (body["total_outstanding"], body["holds_until"]) == ("2900.00", until.isoformat())
    assert body["bills"][0]["discount"] == "100.00"


def test_paying_todays_amount_posts_principal_and_late_fee_apart(api, fine):
    response = pay(api, "2003.00")
    assert response.status_code == 201, response.json()
    assert response.json()["allocations"] == [
        {"kind": "bill", "period": "2026-11", "amount": "2000.00"},
        {"kind": "late_fee", "period": "2026-11", "amount": "3.00"},
    ]
    fine.refresh_from_db()
    assert (fine.status, fine.late_fee) == (BillStatus.PAID, D("3.00"))


def test_yesterdays_amount_is_refused_with_todays_in_the_details(api, fine):
    response = pay(api, "2002.00")
    assert response.status_code == 422
    assert error_code(response) == "amount_due_changed"
    error = response.json()["error"]
    assert error["details"] == {
        "outstanding": "2003.00",
        "holds_until": amounts.beijing_today().isoformat(),
    }
    assert "¥2,003.00" in error["message"]
    fine.refresh_from_db()
    assert fine.status == BillStatus.OPEN


def test_the_refusal_reads_in_chinese_by_default(api, fine):
    api.language = "zh-hans"
    response = pay(api, "2002.00")
    assert "应缴金额已随日期变化" in response.json()["error"]["message"]


def test_the_enquiry_gives_who_the_bill_is_for_masked(api, partner):
    from billing.choices import BeneficiaryKind

    school = BillerFactory(code="SCHOOL02")
    account = CustomerAccountFactory(biller=school, account_no="55009999", holder_name="孙大伟")
    BillFactory(account=account, beneficiary_kind=BeneficiaryKind.STUDENT, beneficiary_name="孙小红")
    body = api.get(f"{BASE}/billers/SCHOOL02/accounts/55009999").json()
    (bill,) = body["bills"]
    assert (bill["beneficiary_kind"], bill["beneficiary"]) == ("student", "孙*红")


def test_the_enquiry_lists_the_instalments_and_the_next_one_is_paid_by_its_amount(api, partner, admin_user):
    from billing.services import offer_instalments

    school = BillerFactory(code="SCHOOL03")
    account = CustomerAccountFactory(biller=school, account_no="55007777")
    due = amounts.beijing_today() + datetime.timedelta(days=10)
    bill = BillFactory(account=account, amount_due=D("3000.00"), due_date=due)
    offer_instalments(
        bill=bill,
        parts=[(D("1000.00"), due), (D("2000.00"), due + datetime.timedelta(days=30))],
        actor=admin_user,
    )
    body = api.get(f"{BASE}/billers/SCHOOL03/accounts/55007777").json()
    assert [(i["number"], i["amount"], i["remaining"]) for i in body["bills"][0]["instalments"]] == [
        (1, "1000.00", "1000.00"),
        (2, "2000.00", "2000.00"),
    ]
    response = api.post(
        f"{BASE}/payments",
        {"biller_code": "SCHOOL03", "account_no": "55007777", "amount": "1000.00", "partner_ref": "i1"},
        idempotency_key="i1",
    )
    assert response.status_code == 201, response.json()
    body = api.get(f"{BASE}/billers/SCHOOL03/accounts/55007777").json()
    assert [i["remaining"] for i in body["bills"][0]["instalments"]] == ["0.00", "2000.00"]
    assert body["total_outstanding"] == "2000.00"
