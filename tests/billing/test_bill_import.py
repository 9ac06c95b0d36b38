"""The one set of rules for bills coming in from files and batches (billing/bill_import/)."""

import datetime
import io
from decimal import Decimal

import pytest
from django.utils import translation
from openpyxl import Workbook

from billing.bill_import import (
    BillImportError,
    check_headers,
    import_bills,
    import_rows,
    read_table,
    validate_rows,
)
from billing.choices import BillStatus, Channel
from billing.models import AuditEvent, Bill, CustomerAccount
from billing.services import cancel_bill, post_payment
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

pytestmark = pytest.mark.django_db

HEADER = "account_no,customer_name,period,amount_due,due_date,late_fee,reference\n"


def csv_bytes(*lines: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return (header + "".join(line + "\n" for line in lines)).encode(encoding)


def run(biller, data: bytes, *, actor=None, partial=False, encoding=None):
    return import_bills(biller, read_table(data, encoding=encoding), actor=actor, partial=partial)


def codes(report):
    return [(error.row, error.column, error.code) for error in report.errors]


@pytest.fixture
def biller():
    return BillerFactory(code="WATER", account_pattern=r"^\d{8}$", account_hint="户号为8位数字")


def test_a_clean_file_creates_accounts_and_bills(biller, admin_user):
    report = run(
        biller,
        csv_bytes(
            "10000001,张三,2026-01,128.50,2026-02-15,,INV-1", "10000002,李四,2026-01,66.00,2026-02-15,1.50,"
        ),
        actor=admin_user,
    )
    assert (report.imported, report.created, report.accounts_created, report.errors) == (True, 2, 2, [])
    bill = Bill.objects.get(account__account_no="10000002")
    assert (bill.amount_due, bill.late_fee, bill.due_date, bill.status) == (
        Decimal("66.00"),
        Decimal("1.50"),
        datetime.date(2026, 2, 15),
        BillStatus.OPEN,
    )
    assert CustomerAccount.objects.get(account_no="10000001").holder_name == "张三"
    event = AuditEvent.objects.get(action="bills.imported")
    assert (event.actor, event.data["created"]) == (admin_user, "2")


def test_excel_ways_of_writing_amounts_and_dates_are_understood(biller):
    report = run(
        biller,
        csv_bytes(
            '10000001,张三,2026-01,"1,234.50",2026/1/5,,',
            "10000002,李四,2026/2,¥1234.5,2026年3月9日,￥2,",
            "１００００００３,王五,202603,88元,20260405,,",
        ),
    )
    assert report.errors == []
    bills = {b.account.account_no: b for b in Bill.objects.select_related("account")}
    assert bills["10000001"].amount_due == Decimal("1234.50")
    assert bills["10000001"].due_date == datetime.date(2026, 1, 5)
    assert (bills["10000002"].period, bills["10000002"].late_fee) == ("2026-02", Decimal("2.00"))
    assert bills["10000003"].due_date == datetime.date(2026, 4, 5)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
def test_files_saved_by_excel_in_chinese_encodings_read_the_same(biller, encoding):
    report = run(biller, csv_bytes("10000001,张三丰,2026-01,10.00,2026-02-01,,", encoding=encoding))
    assert report.errors == []
    assert CustomerAccount.objects.get().holder_name == "张三丰"


def test_a_given_encoding_that_does_not_fit_is_reported():
    data = csv_bytes("10000001,张三,2026-01,10.00,2026-02-01,,", encoding="gbk")
    with pytest.raises(BillImportError) as refused:
        read_table(data, encoding="utf-8").headers  # noqa: B018
        list(read_table(data, encoding="utf-8").rows)
    assert refused.value.code == "encoding_invalid"


def test_misspelt_and_missing_headers_are_reported_with_the_close_name(biller):
    data = csv_bytes(
        "10000001,张三,2026-01,10.00,2026-02-01", header="acount_no,customer_name,period,amount,due\n"
    )
    report = run(biller, data)
    assert not report.imported
    assert [(e.column, e.code) for e in report.errors] == [
        ("acount_no", "header_misspelt"),
        ("due", "header_unknown"),
        ("due_date", "header_missing"),
    ]
    assert "account_no" in report.errors[0].message
    assert Bill.objects.count() == 0


def test_chinese_headers_are_accepted():
    positions, errors = check_headers(["户号", "户名", "账期", "应缴金额", "缴费截止日"])
    assert errors == []
    assert list(positions.values()) == ["account_no", "customer_name", "period", "amount_due", "due_date"]


def test_every_bad_cell_is_reported_with_row_column_and_reason_and_nothing_is_imported(biller):
    report = run(
        biller,
        csv_bytes(
            "10000001,张三,2026-01,10.00,2026-02-01,,",
            "1234,李四,2026-13,-5,2026-02-30,,",
            "10000003,,2026-01,abc,,x,",
            "10000001,张三,2026-01,10.00,2026-02-01,,",
        ),
    )
    assert not report.imported
    assert codes(report) == [
        (3, "account_no", "account_no_invalid"),
        (3, "period", "period_invalid"),
        (3, "amount_due", "amount_negative"),
        (3, "due_date", "date_invalid"),
        (4, "customer_name", "value_required"),
        (4, "amount_due", "amount_invalid"),
        (4, "due_date", "value_required"),
        (4, "late_fee", "amount_invalid"),
        (5, "period", "duplicate_row"),
    ]
    assert Bill.objects.count() == 0
    with translation.override("en"):
        assert report.errors[0].message.startswith("“1234” is not a valid account number for ")
        assert report.errors[-1].message == "Account 10000001 has a bill for 2026-01 on row 2 already."
    with translation.override("zh-hans"):
        assert report.errors[2].message != ""


def test_partial_imports_the_valid_rows_and_reports_the_rest(biller):
    report = run(
        biller,
        csv_bytes("10000001,张三,2026-01,10.00,2026-02-01,,", "10000002,李四,2026-01,-1,2026-02-01,,"),
        partial=True,
    )
    assert report.imported and report.created == 1
    assert codes(report) == [(3, "amount_due", "amount_negative")]


def test_a_corrected_file_updates_unpaid_bills(biller):
    run(biller, csv_bytes("10000001,张三,2026-01,10.00,2026-02-01,,"))
    report = run(
        biller, csv_bytes("10000001,张三,2026-01,12.00,2026-02-05,,", "10000002,李四,2026-01,5,2026-02-01,,")
    )
    assert (report.created, report.updated, report.unchanged) == (1, 1, 0)
    bill = Bill.objects.get(account__account_no="10000001")
    assert (bill.amount_due, bill.due_date) == (Decimal("12.00"), datetime.date(2026, 2, 5))
    again = run(biller, csv_bytes("10000001,张三,2026-01,12.00,2026-02-05,,"))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)


def test_a_bill_with_payments_is_never_changed_and_its_row_is_reported(biller):
    bill = BillFactory(account=CustomerAccountFactory(biller=biller, account_no="10000001"), period="2026-01")
    post_payment(
        channel=Channel.ONLINE,
        idempotency_key="k1",
        biller_code="WATER",
        account_no="10000001",
        amount="100.00",
    )
    data = csv_bytes("10000001,张三,2026-01,80.00,2026-02-01,,", "10000002,李四,2026-01,5,2026-02-01,,")
    report = run(biller, data)
    assert not report.imported
    assert codes(report) == [(2, "amount_due", "bill_has_payments")]
    assert Bill.objects.count() == 1
    partial = run(biller, data, partial=True)
    assert partial.imported and partial.created == 1
    bill.refresh_from_db()
    assert (bill.amount_due, bill.amount_paid, bill.status) == (
        Decimal("100.00"),
        Decimal("100.00"),
        BillStatus.PAID,
    )


def test_a_paid_bill_repeated_unchanged_is_not_an_error(biller):
    BillFactory(
        account=CustomerAccountFactory(biller=biller, account_no="10000001"),
        period="2026-01",
        due_date=datetime.date(2026, 2, 1),
    )
    post_payment(
        channel=Channel.ONLINE,
        idempotency_key="k1",
        biller_code="WATER",
        account_no="10000001",
        amount="100.00",
    )
    report = run(biller, csv_bytes("10000001,张三,2026-01,100,2026-02-01,,"))
    assert (report.imported, report.unchanged, report.errors) == (True, 1, [])


def test_a_cancelled_bill_is_not_brought_back(biller, admin_user):
    bill = BillFactory(account=CustomerAccountFactory(biller=biller, account_no="10000001"), period="2026-01")
    cancel_bill(bill=bill, actor=admin_user, reason="issued twice")
    report = run(biller, csv_bytes("10000001,张三,2026-01,90,2026-02-01,,"))
    assert codes(report) == [(2, "amount_due", "bill_cancelled")]


def test_blank_lines_are_skipped_but_keep_the_spreadsheet_row_numbers(biller):
    report = run(
        biller,
        csv_bytes("10000001,张三,2026-01,10,2026-02-01,,", ",,,,,,", "", "1,李四,2026-01,10,2026-02-01,,"),
    )
    assert codes(report) == [(5, "account_no", "account_no_invalid")]
    assert report.rows == 2


def test_cells_beyond_the_header_are_reported(biller):
    report = run(biller, csv_bytes("10000001,张三,2026-01,10,2026-02-01,,,surprise"))
    assert codes(report) == [(2, "", "extra_fields")]


def test_an_xlsx_workbook_with_numbers_and_dates_imports(biller):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["account_no", "customer_name", "period", "amount_due", "due_date", "late_fee"])
    sheet.append([10000001, "张三", "2026-01", 1234.5, datetime.date(2026, 2, 1), None])
    sheet.append(["10000002", "李四", "2026-01", 0.125, "2026/2/1", None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    report = run(biller, buffer.getvalue(), partial=True)
    assert codes(report) == [(3, "amount_due", "amount_invalid")]
    assert Bill.objects.get().amount_due == Decimal("1234.50")


def test_check_digit_rules_apply(biller):
    biller.account_pattern, biller.account_check_digit = r"^\d{6,20}$", "luhn"
    valid, errors = validate_rows(
        biller,
        [
            {
                "account_no": "79927398713",
                "customer_name": "a",
                "period": "2026-01",
                "amount_due": "1",
                "due_date": "2026-01-01",
            },
            {
                "account_no": "79927398710",
                "customer_name": "a",
                "period": "2026-01",
                "amount_due": "1",
                "due_date": "2026-01-01",
            },
        ],
    )
    assert [row.account_no for row in valid] == ["79927398713"]
    assert [(e.row, e.code) for e in errors] == [(3, "account_no_invalid")]


def test_a_batch_of_rows_from_the_api_uses_the_same_rules(biller):
    report = import_rows(
        biller,
        [
            {
                "account_no": "10000001",
                "customer_name": "张三",
                "period": "2026-01",
                "amount_due": "10.00",
                "due_date": "2026-02-01",
            },
            {
                "account_no": "10000002",
                "customer_name": "李四",
                "period": "2026-01",
                "amount_due": "-1",
                "due_date": "2026-02-01",
                "amont": 1,
            },
        ],
        actor=None,
    )
    assert [(e.column, e.code) for e in report.errors] == [("amont", "header_unknown")]
    assert Bill.objects.count() == 0


def test_a_closed_biller_takes_no_bills(biller):
    biller.status = "closed"
    biller.save()
    with pytest.raises(BillImportError) as refused:
        run(biller, csv_bytes("10000001,张三,2026-01,10,2026-02-01,,"))
    assert refused.value.code == "biller_cannot_take_bills"
