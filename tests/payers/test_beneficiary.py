"""Who the bill is for (issue 17, item 6): a bill may name its beneficiary (a student, a patient, a
resident); public pages, slips, receipts, notices and the partner API show the name masked, the citizen's
own history shows it whole."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import translation
from pypdf import PdfReader

from billing.choices import BeneficiaryKind
from billing.models import Payment
from billing.paylinks import pay_token
from billing.services import post_payment
from branches.slips import render_slip_pdf
from payers.receipts import receipt_lines
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory
from tests.support import log_in

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def tuition():
    school = BillerFactory(code="SCHOOL01", name="实验小学", name_en="Primary School")
    account = CustomerAccountFactory(biller=school, account_no="55001234", holder_name="孙大伟")
    return BillFactory(
        account=account,
        period="2027-01",
        amount_due=D("2400.00"),
        due_date=datetime.date(2027, 1, 20),
        description="学杂费",
        beneficiary_kind=BeneficiaryKind.STUDENT,
        beneficiary_name="孙小红",
    )


def test_the_bill_names_its_beneficiary_whole_and_masked(tuition):
    with translation.override("zh-hans"):
        assert (tuition.beneficiary, tuition.masked_beneficiary) == ("学生 孙小红", "学生 孙*红")
    with translation.override("en"):
        assert tuition.masked_beneficiary == "Student 孙*红"


def test_a_bill_without_a_beneficiary_names_none():
    bill = BillFactory()
    assert (bill.beneficiary, bill.masked_beneficiary) == ("", "")


def test_the_public_lookup_and_pay_link_show_the_beneficiary_masked(client, tuition):
    lookup = client.get("/billers/SCHOOL01/?account_no=55001234").content.decode()
    assert "缴费对象：学生 孙*红" in lookup and "孙小红" not in lookup
    link = client.get(f"/pay/{pay_token(tuition)}/").content.decode()
    assert "学生 孙*红" in link and "孙小红" not in link


def test_the_slip_prints_the_beneficiary_masked(tuition):
    with translation.override("zh-hans"):
        pdf = render_slip_pdf(tuition, layout="a4", base_url="https://pay.example.com")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "缴费对象：学生 孙*红" in text and "孙小红" not in text


def test_the_receipt_names_the_beneficiary_masked(tuition):
    post_payment(
        channel="partner",
        idempotency_key="b1",
        biller_code="SCHOOL01",
        account_no="55001234",
        amount="2400.00",
    )
    with translation.override("en"):
        rows = dict(receipt_lines(Payment.objects.get()))
    assert rows["Who it is for"] == "Student 孙*红"


def test_the_citizens_own_history_shows_the_beneficiary_whole(client, django_user_model, tuition):
    from payers.services import payer_for

    citizen = django_user_model.objects.create_user("c1", "c1@example.com", "pw-c1-1234xyz")
    log_in(client, citizen)
    post_payment(
        channel="online",
        idempotency_key="h1",
        biller_code="SCHOOL01",
        account_no="55001234",
        amount="2400.00",
        payer=payer_for(citizen),
    )
    page = client.get("/me/history/").content.decode()
    assert "缴费对象：学生 孙小红" in page


def test_the_reminder_names_the_beneficiary_masked(
    django_user_model, tuition, django_capture_on_commit_callbacks
):
    from payers.models import BoundAccount
    from payers.reminders import send_due_reminders

    citizen = django_user_model.objects.create_user("c2", "c2@example.com", "pw-c2-1234xyz")
    BoundAccount.objects.create(user=citizen, account=tuition.account, label="孩子学费", reminders=True)
    with django_capture_on_commit_callbacks(execute=True):
        counts = send_due_reminders(today=tuition.due_date - datetime.timedelta(days=1))
    assert counts["due_soon"] == 1
    (message,) = mail.outbox
    assert "学生 孙*红" in message.body and "孙小红" not in message.body
