"""The COPY path (billing/bill_import/sql_path.py) against the Python core on the same files: the same errors,
counts and rows, for good files, bad files, corrected files and both modes."""

import datetime
import io
from decimal import Decimal

import pytest

from billing.bill_import import BillImportError, import_bills, read_table
from billing.bill_import.sql_path import import_bills_copy, plain_spelling
from billing.choices import Channel, CheckDigit
from billing.models import Bill
from billing.services import cancel_bill, post_payment
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

pytestmark = pytest.mark.django_db

HEADER = "account_no,customer_name,period,amount_due,due_date,late_fee,reference\n"


def csv_bytes(*lines: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return (header + "".join(line + "\n" for line in lines)).encode(encoding)


FILES = {
    "clean": csv_bytes(
        "10000001,张三,2026-01,128.50,2026-02-15,,INV-1",
        "10000002,李四,2026-01,66.00,2026-02-15,1.50,",
        "10000009,赵六,2026-02,9,2026-03-15,,",
    ),
    "excel_formats": csv_bytes(
        '10000001,张三,2026-01,"1,234.50",2026/1/5,,',
        "10000002,李四,2026/2,¥1234.5,2026年3月9日,￥2,",
        "１００００００３,王五,202603,88元,20260405,,",
        " 1000-0004 ,\u3000孙七\u3000,2026.4,0.5,2026.4.30,0,",
    ),
    "gbk": csv_bytes("10000001,张三丰,2026-01,10.00,2026-02-01,,", encoding="gbk"),
    "gb18030": csv_bytes("10000001,䶮,2026-01,10.00,2026-02-01,,", encoding="gb18030"),
    "bom": csv_bytes("10000001,张三,2026-01,10.00,2026-02-01,,", encoding="utf-8-sig"),
    "bad_cells": csv_bytes(
        "10000001,张三,2026-01,10.00,2026-02-01,,",
        "1234,李四,2026-13,-5,2026-02-30,,",
        "10000003,,2026-01,abc,,x,",
        "10000001,张三,2026-01,10.00,2026-02-01,,",
        "10000004,王五,2026-01,0,2026-02-29,-1,",
        "10000005,王五,2026-01,1.005,1999/13/1,1,",
        "10000006," + "名" * 101 + ",2026-01,12345678901234,2026-02-01,,",
        "10000007,王五,2026-01,1,2026-02-01,," + "R" * 65,
        "10000008,王五,2026-01,1,2026-02-01,,,extra",
        ",,,,,,",
        "",
        "12345678901234567890123456789012345678901,王五,1,1,1,1,",
        "10000010,王五,2026-01,-0,2026-02-01,,",
        "10000011,王五",
    ),
    "corrected": csv_bytes(
        "20000001,张三,2026-01,80.00,2026-02-01,,",  # paid bill, changed: reported
        "20000002,李四,2026-01,90.00,2026-02-01,,",  # cancelled bill, changed: reported
        "20000003,王五新,2026-01,70.00,2026-02-20,,",  # unpaid bill: updated, holder renamed
        "20000004,赵六,2026-01,100.00,2026-10-20,,",  # paid bill, the same: unchanged
        "20000005,钱七,2026-01,100.00,2026-10-20,,",  # unpaid, the same: unchanged
        "20000006,孙八,2026-02,10.00,2026-03-01,,",  # new
    ),
    "headers": csv_bytes(
        "10000001,张三,2026-01,10.00,2026-02-01", header="acount_no,customer_name,period,amount,due\n"
    ),
    "chinese_headers": csv_bytes(
        "10000001,张三,2026-01,10.00,2026-02-01", header="户号,户名,账期,应缴金额,缴费截止日\n"
    ),
    # Rows in the plain form (the COPY path's short route) that break the other rules.
    "plain_rows_with_errors": csv_bytes(
        "1234,张三,2026-01,10,2026-02-01,,",
        "10000002,,2026-01,0,2026-02-01,,",
        "10000003,李四,2026-01,10.5,2026-02-28,1," + "R" * 65,
        "10000003,王五,2026-01,1,2026-02-01,0.00,",
        "10000004, 赵六 ,2026-01,1.5,2026-02-28,,x",
        "1000000A,钱七,2026-01,1,2026-02-01,,",
    ),
    # Amounts and dates the reader writes in the plain form (the short route) and ones it must leave as
    # written (a zero amount, an impossible date): the errors quote the cells as the file has them.
    "plain_spellings": csv_bytes(
        '10000001,张三,2026-01,"1,234.50",2026/1/5,,',
        "1234,李四,2026-01,¥12.50,2026/1/5,,",
        "10000003,,2026-01,¥0.00,20260105,,",
        '10000004,王五,2026-01,"1,000",2026/2/30,"1,5",',
        "10000005,赵六,2026-01,¥5,2026.1.28,¥1.5," + "R" * 65,
        "10000005,钱七,2026-01,¥5,2026/1/5,,",
        '10000006,孙八,2026-01,"¥1,000,000.5",20260131,"2,000",',
    ),
    "quoted_newline": csv_bytes(
        '10000001,"张\n三",2026-01,10.00,2026-02-01,,', "x,李四,2026-01,10,2026-02-01,,"
    ),
}


def _biller(code: str, **extra):
    return BillerFactory(
        code=code, name="同名水务", name_en="Same Water", account_pattern=r"^\d{8}$", **extra
    )


def _history(biller, admin_user):
    """The same bills at both billers before a corrected file comes in."""
    bills = {}
    for number in range(1, 6):
        account = CustomerAccountFactory(biller=biller, account_no=f"2000000{number}", holder_name="旧名")
        bills[number] = BillFactory(account=account, period="2026-01")
    for number in (1, 4):
        post_payment(
            channel=Channel.ONLINE,
            idempotency_key=f"{biller.code}-{number}",
            biller_code=biller.code,
            account_no=f"2000000{number}",
            amount="100.00",
        )
    cancel_bill(bill=bills[2], actor=admin_user, reason="issued twice")


def _state(biller):
    return sorted(
        (
            b.account.account_no,
            b.account.holder_name,
            b.period,
            b.amount_due,
            b.late_fee,
            b.due_date,
            b.reference,
            b.status,
            b.amount_paid,
        )
        for b in Bill.objects.filter(biller=biller).select_related("account")
    )


def _errors(report):
    return [(e.row, e.column, e.code, e.params) for e in report.errors]


def _summary(report):
    return report.summary() | {"errors": _errors(report), "error_count": report.error_count}


@pytest.mark.parametrize("partial", [False, True], ids=["all_or_nothing", "partial"])
@pytest.mark.parametrize("name", list(FILES))
def test_the_copy_path_agrees_with_the_python_core(name, partial, admin_user):
    python_biller, sql_biller = _biller("PY"), _biller("SQL")
    for biller in (python_biller, sql_biller):
        _history(biller, admin_user)
    data = FILES[name]
    python = import_bills(python_biller, read_table(data), actor=admin_user, partial=partial)
    sql = import_bills_copy(sql_biller, io.BytesIO(data), actor=admin_user, partial=partial)
    assert _summary(sql) == _summary(python)
    assert _state(sql_biller) == _state(python_biller)


def test_the_bad_file_reports_what_the_issue_lists(admin_user):
    report = import_bills_copy(_biller("SQL"), io.BytesIO(FILES["bad_cells"]), actor=admin_user)
    assert not report.imported
    found = {(e.row, e.column, e.code) for e in report.errors}
    assert {
        (3, "account_no", "account_no_invalid"),
        (3, "amount_due", "amount_negative"),
        (3, "due_date", "date_invalid"),
        (5, "period", "duplicate_row"),
        (10, "", "extra_fields"),
    } <= found
    assert Bill.objects.count() == 0


def test_check_digit_rules_agree(admin_user):
    data = csv_bytes(
        "79927398713,张三,2026-01,1,2026-02-01,,",
        "79927398710,李四,2026-01,1,2026-02-01,,",
        "11010519491231002X,王五,2026-01,1,2026-02-01,,",
        "110105194912310021,赵六,2026-01,1,2026-02-01,,",
    )
    for check in (CheckDigit.LUHN, CheckDigit.MOD11_2):
        python_biller = _biller(f"P{check.upper()[:4]}", account_check_digit=check)
        sql_biller = _biller(f"S{check.upper()[:4]}", account_check_digit=check)
        for biller in (python_biller, sql_biller):
            biller.account_pattern = r"^[0-9X]{6,20}$"
            biller.save()
        python = import_bills(python_biller, read_table(data), actor=admin_user, partial=True)
        sql = import_bills_copy(sql_biller, io.BytesIO(data), actor=admin_user, partial=True)
        assert _summary(sql) == _summary(python)
        assert python.created == 1


def test_a_file_in_the_wrong_encoding_is_refused_by_both(admin_user):
    data = csv_bytes("10000001,张三,2026-01,10.00,2026-02-01,,", encoding="gbk")
    for run in (
        lambda: import_bills(_biller("PY"), read_table(data, encoding="utf-8"), actor=admin_user),
        lambda: import_bills_copy(_biller("SQL"), io.BytesIO(data), actor=admin_user, encoding="utf-8"),
    ):
        with pytest.raises(BillImportError) as refused:
            run()
        assert refused.value.code == "encoding_invalid"
    assert Bill.objects.count() == 0


def test_progress_is_reported_in_chunks_and_the_error_report_is_complete(admin_user):
    lines = [f"{10000000 + n},户{n},2026-01,{n + 1}.00,2026-02-01,," for n in range(25)]
    lines[7] = "1,坏,2026-01,1,2026-02-01,,"
    calls = []
    out = io.StringIO()
    report = import_bills_copy(
        _biller("SQL"),
        io.BytesIO(csv_bytes(*lines)),
        actor=admin_user,
        partial=True,
        chunk_rows=10,
        error_limit=0,
        error_report=out,
        progress=lambda phase, rows, size: calls.append((phase, rows)),
    )
    assert [c for c in calls if c[0] == "reading"] == [("reading", 10), ("reading", 20), ("reading", 25)]
    assert (report.created, report.error_count, report.errors) == (24, 1, [])
    assert out.getvalue().startswith("9,account_no,account_no_invalid,")
    assert Bill.objects.get(account__account_no="10000024").due_date == datetime.date(2026, 2, 1)
    assert Bill.objects.get(account__account_no="10000024").amount_due == Decimal("25.00")


# A biller's first file takes the COPY path's short route (no account or bill to look for); an account in
# several rows (two months in one file) keeps the holder's name from its last row, on both routes.
REPEATED_ACCOUNTS = csv_bytes(
    "30000001,张三,2026-01,10.00,2026-02-01,,",
    "30000002,李四,2026-01,20.00,2026-02-01,,",
    "30000001,张三丰,2026-02,11.00,2026-03-01,,",
    "30000003,王五,2026-01,30.00,2026-02-01,,",
    "30000002,李四新,2026-02,21.00,2026-03-01,1.50,",
)


@pytest.mark.parametrize("history", [False, True], ids=["first_file", "with_history"])
@pytest.mark.parametrize(
    "data", [REPEATED_ACCOUNTS, FILES["clean"]], ids=["repeated_accounts", "one_row_each"]
)
def test_first_files_and_repeated_accounts_agree(history, data, admin_user):
    python_biller, sql_biller = _biller("PY"), _biller("SQL")
    if history:
        for biller in (python_biller, sql_biller):
            _history(biller, admin_user)
    python = import_bills(python_biller, read_table(data), actor=admin_user)
    sql = import_bills_copy(sql_biller, io.BytesIO(data), actor=admin_user)
    assert _summary(sql) == _summary(python)
    assert sql.created > 0
    assert _state(sql_biller) == _state(python_biller)
    again = import_bills_copy(sql_biller, io.BytesIO(data), actor=admin_user)
    assert again.unchanged == again.rows and again.created == again.updated == 0


@pytest.mark.parametrize(
    ("amount", "due", "fee", "spelled"),
    [
        ("1,234.50", "2026/1/5", "", ("1234.50", "2026-01-05", "")),
        ("¥12.5", "20260105", "¥1,500", ("12.5", "2026-01-05", "1500")),
        ("12", "2026.12.28", None, ("12", "2026-12-28", None)),
        ("¥0.00", "2026/1/5", "", None),  # a zero amount: its error quotes the cell as written
        ("12", "2026/2/30", "", None),  # no such day
        ("12", "2026/1/29", "", None),  # past the 28th: the general route knows the month's length
        ("1,23", "2026/1/5", "", None),  # not thousands: left to the general route
        ("￥12", "2026/1/5", "", None),  # full-width: left to NFKC in the general route
        ("12", "２０２６/1/5", "", None),
        ("12", "2026-1-5 ", "", None),
    ],
)
def test_the_reader_writes_common_spellings_in_the_plain_form(amount, due, fee, spelled):
    cells = ["10000001", "张三", "2026-01", amount, due, fee, "INV-1"]
    result = plain_spelling(cells)
    if spelled is None:
        assert result is None
    else:
        assert result == ["10000001", "张三", "2026-01", *spelled, "INV-1"]
