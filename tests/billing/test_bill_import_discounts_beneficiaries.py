"""Billers issue bills with an early-payment discount and name who a bill is for (issue 17, items 2 and 6)
through the same import as every bill: a file (either path) or the biller API's push. Bad cells are
reported with their row and column, and nothing is written."""

import datetime
import io
from decimal import Decimal

import pytest

from billing.bill_import import import_bills, read_table
from billing.bill_import.sql_path import import_bills_copy
from billing.choices import BeneficiaryKind, Channel
from billing.models import Bill
from billing.services import post_payment
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

pytestmark = pytest.mark.django_db

HEADER = "户号,户名,账期,应缴金额,缴费截止日,提前缴费优惠,优惠截止日,缴费对象类型,学生姓名\n"


def csv_bytes(*lines: str, header: str = HEADER) -> bytes:
    return (header + "".join(line + "\n" for line in lines)).encode()


def import_file(biller, data: bytes, *, path: str, partial: bool = False):
    if path == "python":
        return import_bills(biller, read_table(data), actor=None, partial=partial)
    return import_bills_copy(biller, io.BytesIO(data), actor=None, partial=partial)


@pytest.fixture
def school(db):
    return BillerFactory(code="SCHOOL-T")


@pytest.mark.parametrize("path", ["python", "copy"])
def test_a_discount_and_a_named_student_are_imported(school, path):
    report = import_file(
        school,
        csv_bytes(
            "10000001,张大明,2026-09,4800.00,2026-09-30,200.00,2026-08-31,学生,张小明",
            "10000002,李大华,2026-09,4800.00,2026-09-30,,,patient,李小华",
            "10000003,王五,2026-09,4800.00,2026-09-30,,,,",
        ),
        path=path,
    )
    assert report.imported and report.created == 3 and report.errors == []
    first = Bill.objects.get(account__account_no="10000001")
    assert (first.early_discount, first.discount_until) == (Decimal("200.00"), datetime.date(2026, 8, 31))
    assert (first.beneficiary_kind, first.beneficiary_name) == (BeneficiaryKind.STUDENT, "张小明")
    assert first.masked_beneficiary.endswith("张*明")
    second = Bill.objects.get(account__account_no="10000002")
    assert (second.beneficiary_kind, second.early_discount, second.discount_until) == ("patient", 0, None)
    assert second.beneficiary_name == "李小华"
    plain = Bill.objects.get(account__account_no="10000003")
    assert (plain.beneficiary_kind, plain.beneficiary_name, plain.early_discount) == ("", "", 0)


@pytest.mark.parametrize("path", ["python", "copy"])
def test_bad_discount_and_beneficiary_cells_are_named_and_nothing_is_written(school, path):
    report = import_file(
        school,
        csv_bytes(
            "10000001,张三,2026-09,100.00,2026-09-30,150.00,2026-08-31,,",  # discount above the amount
            "10000002,李四,2026-09,100.00,2026-09-30,10.00,,,",  # no date for the discount
            "10000003,王五,2026-09,100.00,2026-09-30,,2026-08-31,,",  # a date without a discount
            "10000004,赵六,2026-09,100.00,2026-09-30,,,teacher,赵小六",  # not a kind
            "10000005,钱七,2026-09,100.00,2026-09-30,,,学生,",  # a kind without a name
            "10000006,孙八,2026-09,100.00,2026-09-30,abc,2026-02-30,,",  # neither an amount nor a date
        ),
        path=path,
    )
    assert not report.imported and not Bill.objects.exists()
    assert {(e.row, e.column, e.code) for e in report.errors} == {
        (2, "early_discount", "discount_above_amount"),
        (3, "discount_until", "discount_until_required"),
        (4, "discount_until", "discount_until_without_discount"),
        (5, "beneficiary_kind", "beneficiary_kind_invalid"),
        (6, "beneficiary_name", "beneficiary_name_required"),
        (7, "early_discount", "amount_invalid"),
        (7, "discount_until", "date_invalid"),
    }
    by_row = {e.row: e for e in report.errors}
    assert "150.00" in by_row[2].message and "100.00" in by_row[2].message
    assert "student" in by_row[5].message and "学生" in by_row[5].message


@pytest.mark.parametrize("path", ["python", "copy"])
def test_a_file_without_the_columns_clears_them_on_an_unpaid_bill_on_either_path(school, path):
    """A column left out means "none", as for the late fee, whichever path reads the file."""
    account = CustomerAccountFactory(biller=school, account_no="10000001")
    BillFactory(
        account=account,
        period="2026-09",
        amount_due=Decimal("100.00"),
        due_date=datetime.date(2026, 9, 30),
        early_discount=Decimal("5.00"),
        discount_until=datetime.date(2026, 8, 31),
        beneficiary_kind="student",
        beneficiary_name="张小明",
    )
    header = "account_no,customer_name,period,amount_due,due_date\n"
    report = import_file(
        school,
        csv_bytes(f"10000001,{account.holder_name},2026-09,100.00,2026-09-30", header=header),
        path=path,
    )
    assert report.imported and report.updated == 1
    bill = Bill.objects.get()
    assert (bill.early_discount, bill.discount_until, bill.beneficiary_kind, bill.beneficiary_name) == (
        0,
        None,
        "",
        "",
    )


@pytest.mark.parametrize("path", ["python", "copy"])
def test_a_paid_bill_keeps_its_beneficiary_and_the_row_says_why(school, path):
    account = CustomerAccountFactory(biller=school, account_no="10000001")
    bill = BillFactory(
        account=account,
        period="2026-09",
        amount_due=Decimal("100.00"),
        due_date=datetime.date(2026, 9, 30),
        beneficiary_kind="student",
        beneficiary_name="张小明",
    )
    post_payment(
        channel=Channel.ONLINE,
        idempotency_key="k-1",
        biller_code=school.code,
        account_no="10000001",
        amount=Decimal("100.00"),
        actor=None,
    )
    header = "account_no,customer_name,period,amount_due,due_date\n"
    report = import_file(
        school,
        csv_bytes(f"10000001,{account.holder_name},2026-09,100.00,2026-09-30", header=header),
        path=path,
    )
    assert not report.imported
    assert [(e.row, e.column, e.code) for e in report.errors] == [
        (2, "beneficiary_kind", "bill_has_payments")
    ]
    bill.refresh_from_db()
    assert bill.beneficiary_name == "张小明"


NOTICE_HEADER = "account_no,customer_name,period,amount_due,due_date,缴款书号\n"


@pytest.mark.parametrize("path", ["python", "copy"])
def test_payment_notice_numbers_are_imported_and_found_by_the_lookup(school, path):
    """A non-tax office issues its payment notices (缴款书, issue 17 item 5) through the import: the number is
    kept as the lookups find it (no spaces, upper case, full-width made plain)."""
    from billing.selectors import account_no_for_notice

    report = import_file(
        school,
        csv_bytes(
            "10000001,张三,2026-09,100.00,2026-09-30,3301 0020 2600 0101",
            "10000002,李四,2026-09,100.00,2026-09-30,ｆｓ-2026-0102",
            header=NOTICE_HEADER,
        ),
        path=path,
    )
    assert report.imported and report.created == 2, report.errors
    assert Bill.objects.get(account__account_no="10000001").notice_no == "3301002026000101"
    assert account_no_for_notice(biller_code=school.code, notice_no="FS-2026-0102") == "10000002"


@pytest.mark.parametrize("path", ["python", "copy"])
def test_a_notice_number_repeated_or_taken_by_another_bill_is_refused_and_nothing_written(school, path):
    account = CustomerAccountFactory(biller=school, account_no="10000009")
    BillFactory(account=account, period="2026-08", amount_due=Decimal("50.00"), notice_no="3301002026000001")
    report = import_file(
        school,
        csv_bytes(
            "10000001,张三,2026-09,100.00,2026-09-30,3301002026000101",
            "10000002,李四,2026-09,100.00,2026-09-30,3301002026000101",  # repeated in the file
            "10000003,王五,2026-09,100.00,2026-09-30,3301002026000001",  # another bill's number
            "10000004,赵六,2026-09,100.00,2026-09-30,缴款书#1",  # not a notice number
            header=NOTICE_HEADER,
        ),
        path=path,
    )
    assert not report.imported
    assert Bill.objects.count() == 1
    codes = {(e.row, e.column, e.code) for e in report.errors}
    assert (3, "notice_no", "notice_no_repeated") in codes and (5, "notice_no", "notice_no_invalid") in codes
    partial = import_file(
        school,
        csv_bytes(
            "10000001,张三,2026-09,100.00,2026-09-30,3301002026000101",
            "10000003,王五,2026-09,100.00,2026-09-30,3301002026000001",
            header=NOTICE_HEADER,
        ),
        path=path,
        partial=True,
    )
    assert [(e.row, e.code) for e in partial.errors] == [(3, "notice_no_taken")]
    assert "10000009" in partial.errors[0].message
    assert Bill.objects.filter(notice_no="3301002026000101").exists()
    assert Bill.objects.filter(notice_no="3301002026000001").get().account == account
