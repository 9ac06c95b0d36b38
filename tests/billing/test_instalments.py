"""Bills offered in full or in instalments (issue 17, item 3): each instalment paid by its exact amount
through any channel, paying every instalment pays the bill, paying in full closes the open ones."""

import datetime
from decimal import Decimal

import pytest

from billing import instalments
from billing.choices import BillStatus, Channel
from billing.exceptions import PaymentRefused
from billing.models import AuditEvent, Instalment
from billing.services import offer_instalments, post_payment
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

pytestmark = pytest.mark.django_db

D = Decimal
DAY = datetime.date(2027, 1, 20)


@pytest.fixture
def school_fee():
    school = BillerFactory(code="SCHOOL01")
    account = CustomerAccountFactory(biller=school, account_no="55001234")
    return BillFactory(account=account, period="2027-01", amount_due=D("3000.00"), due_date=DAY)


@pytest.fixture
def in_three(school_fee, admin_user):
    offer_instalments(
        bill=school_fee,
        parts=[
            (D("1000.00"), DAY),
            (D("1000.00"), DAY + datetime.timedelta(days=30)),
            (D("1000.00"), DAY + datetime.timedelta(days=60)),
        ],
        actor=admin_user,
    )
    return school_fee


def pay(bill, amount, key, channel=Channel.PARTNER):
    return post_payment(
        channel=channel,
        idempotency_key=key,
        biller_code=bill.biller.code,
        account_no=bill.account.account_no,
        amount=amount,
    ).payment


def test_an_instalment_plan_is_audited(in_three, admin_user):
    assert Instalment.objects.filter(bill=in_three).count() == 3
    assert AuditEvent.objects.filter(action="bill.instalments_offered", actor=admin_user).exists()


@pytest.mark.parametrize(
    ("parts", "code"),
    [
        ([("1000.00", DAY), ("1000.00", DAY + datetime.timedelta(days=1))], "instalments_do_not_add_up"),
        ([("3000.00", DAY)], "instalments_count_invalid"),
        ([("1500.00", DAY), ("1500.00", DAY)], "instalments_dates_invalid"),
        ([("1500.00", DAY + datetime.timedelta(days=5)), ("1500.00", DAY)], "instalments_dates_invalid"),
        ([("3000.00", DAY), ("0.00", DAY + datetime.timedelta(days=1))], "instalments_do_not_add_up"),
    ],
)
def test_a_plan_that_does_not_fit_the_bill_is_refused(school_fee, admin_user, parts, code):
    with pytest.raises(PaymentRefused) as refused:
        offer_instalments(bill=school_fee, parts=[(D(a), d) for a, d in parts], actor=admin_user)
    assert refused.value.code == code
    assert not Instalment.objects.exists()


def test_a_partly_paid_bill_cannot_be_put_in_instalments(in_three, admin_user):
    pay(in_three, "1000.00", "p1")
    with pytest.raises(PaymentRefused) as refused:
        offer_instalments(
            bill=in_three,
            parts=[(D("1500"), DAY), (D("1500"), DAY + datetime.timedelta(1))],
            actor=admin_user,
        )
    assert refused.value.code == "instalments_not_offerable"


def test_paying_every_instalment_pays_the_bill(in_three):
    for number in (1, 2, 3):
        pay(in_three, "1000.00", f"p{number}")
        in_three.refresh_from_db()
        assert [s.is_paid for s in instalments.states(in_three)] == [n <= number for n in (1, 2, 3)]
    assert in_three.status == BillStatus.PAID


def test_paying_in_full_after_the_first_instalment_closes_the_open_ones(in_three):
    pay(in_three, "1000.00", "p1")
    pay(in_three, "2000.00", "rest")
    in_three.refresh_from_db()
    assert in_three.status == BillStatus.PAID
    assert all(state.is_paid for state in instalments.states(in_three))


def test_only_the_next_instalment_or_the_whole_bill_is_taken(in_three):
    for amount in ("999.99", "1500.00"):
        with pytest.raises(PaymentRefused) as refused:
            pay(in_three, amount, f"bad-{amount}")
        assert refused.value.code == "amount_not_exact"
    in_three.refresh_from_db()
    assert in_three.amount_paid == D("0.00")


def test_a_bill_without_a_plan_still_takes_only_its_amount(school_fee):
    with pytest.raises(PaymentRefused):
        pay(school_fee, "1000.00", "p1")
