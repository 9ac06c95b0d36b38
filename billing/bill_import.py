"""Bills from a biller's file or batch: ONE set of rules, used by `manage.py import_bills`, the admin's
import and the biller API's "push bills".

The plain interface:

* `read_table(data, encoding=None)` turns the bytes of a CSV file (UTF-8, UTF-8 with BOM as Excel saves
  it, GBK/GB18030) or an XLSX workbook into header + rows;
* `check_headers(headers)` maps the file's headers onto `COLUMNS`, reporting missing, misspelt (with the
  close name), unknown and repeated ones;
* `validate_rows(biller, rows)` checks every row and returns `(valid_rows, errors)`; each error names its
  row (the spreadsheet's: the header is row 1), column, a stable code and a translated reason;
* `upsert_bills(biller, valid_rows, actor=..., partial=...)` writes them by (biller, account_no, period):
  new bills and accounts are created, unpaid bills updated; a bill with payments (or a cancelled one) is
  never changed and the row is reported;
* `import_bills(...)` does it all and returns an `ImportReport`. By default a file with any error imports
  nothing; `partial=True` imports the valid rows and reports the rest.

The streaming path for big files on PostgreSQL (`billing.bill_import_copy`) applies the same rules in SQL
and is tested against this module on the same files.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import difflib
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing import locks
from billing.audit import record_audit
from billing.choices import BillStatus
from billing.exceptions import BillingError
from billing.models import Bill, Biller, CustomerAccount
from billing.money import ZERO, parse_money_text
from billing.rules import account_no_is_valid, normalize_account_no
from billing.untrusted_files import (
    FILE_MESSAGES,
    check_size,
    check_zip_container,
    csv_rows,
    refusals_as,
)

COLUMNS = ("account_no", "customer_name", "period", "amount_due", "due_date", "late_fee", "reference")
REQUIRED_COLUMNS = COLUMNS[:5]

# Headers as billers' spreadsheets write them, in Chinese and English, mapped onto COLUMNS.
HEADER_ALIASES = {
    "户号": "account_no",
    "账号": "account_no",
    "客户编号": "account_no",
    "account": "account_no",
    "户名": "customer_name",
    "客户名称": "customer_name",
    "姓名": "customer_name",
    "name": "customer_name",
    "账期": "period",
    "期间": "period",
    "应缴金额": "amount_due",
    "金额": "amount_due",
    "amount": "amount_due",
    "缴费截止日": "due_date",
    "截止日期": "due_date",
    "到期日": "due_date",
    "滞纳金": "late_fee",
    "参考号": "reference",
    "备注号": "reference",
    "ref": "reference",
}

MAX_LENGTHS = {"account_no": 40, "customer_name": 100, "reference": 64}
# What `strip` removes from every cell, here and in the SQL path: spaces, tabs, line ends, the
# ideographic space and the no-break space Excel leaves behind.
BLANKS = " \t\r\n\u3000\u00a0"
# How much of a file decides its encoding when none is given (the SQL path sniffs the same way).
SNIFF_BYTES = 1 << 20

IMPORT_MESSAGES = {
    "file_empty": _("The file has no header row."),
    "file_unreadable": _("The file could not be read as %(format)s: %(detail)s"),
    "encoding_invalid": _(
        "The file is not valid %(encoding)s text: save it as UTF-8, or give its encoding (such as GBK)."
    ),
    "header_missing": _("The required column “%(column)s” is missing."),
    "header_misspelt": _("Unknown column “%(header)s”: did you mean “%(suggestion)s”?"),
    "header_unknown": _("Unknown column “%(header)s”. The columns are: %(columns)s."),
    "header_repeated": _("The column “%(column)s” appears more than once."),
    "extra_fields": _("The row has more cells than the header has columns."),
    "value_required": _("This cell must not be empty."),
    "too_long": _("“%(value)s” is too long: at most %(max)s characters."),
    "account_no_invalid": _("“%(value)s” is not a valid account number for %(biller)s. %(hint)s"),
    "period_invalid": _("“%(value)s” is not a period: write the year and month as YYYY-MM, such as 2026-01."),
    "amount_invalid": _(
        "“%(value)s” is not an amount of money: write yuan with at most two decimals, such as 1234.50."
    ),
    "amount_negative": _("“%(value)s” is negative: amounts cannot be below zero."),
    "amount_zero": _("The amount due must be more than zero."),
    "date_invalid": _("“%(value)s” is not a date: write it as YYYY-MM-DD, such as 2026-01-05."),
    "duplicate_row": _("Account %(account_no)s has a bill for %(period)s on row %(first_row)s already."),
    "bill_has_payments": _(
        "The bill of account %(account_no)s for %(period)s has payments of ¥%(paid)s and is not changed."
    ),
    "bill_cancelled": _(
        "The bill of account %(account_no)s for %(period)s was cancelled and is not changed."
    ),
    "biller_cannot_take_bills": _("%(biller)s is closed and takes no new bills."),
    # The file itself: size, XLSX archive, lines and fields (billing.untrusted_files)
    **FILE_MESSAGES,
}


class BillImportError(BillingError):
    """A file or batch that cannot be imported at all (nothing was written)."""

    messages = IMPORT_MESSAGES


@dataclass(frozen=True, order=True)
class RowError:
    """What is wrong with one cell (or a whole row when `column` is empty, the file when `row` is 0)."""

    row: int
    column: str
    code: str
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def make(cls, row: int, column: str, code: str, /, **params: object) -> RowError:
        return cls(row, column, code, tuple(sorted((key, str(value)) for key, value in params.items())))

    @property
    def message(self) -> str:
        return str(IMPORT_MESSAGES[self.code]) % dict(self.params)

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class BillRow:
    """A checked row, normalised: what `upsert_bills` writes."""

    row: int
    account_no: str
    customer_name: str
    period: str
    amount_due: Decimal
    due_date: datetime.date
    late_fee: Decimal
    reference: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    accounts_created: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    imported: bool = False

    @property
    def written(self) -> int:
        return self.created + self.updated

    def summary(self) -> dict:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "accounts_created": self.accounts_created,
            "errors": self.error_count,
            "imported": self.imported,
        }


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: Iterable[Sequence[object]]  # data rows, in order, the first being spreadsheet row 2


# Reading files ---------------------------------------------------------------------------------------

PYTHON_TO_POSTGRES_ENCODING = {
    "utf-8": "UTF8",
    "utf-8-sig": "UTF8",
    "gbk": "GBK",
    "gb2312": "GBK",
    "gb18030": "GB18030",
}


def normalise_encoding(name: str) -> str:
    """Python's canonical codec name for what a user typed ("GBK", "utf8", "UTF-8-SIG")."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise BillImportError("encoding_invalid", encoding=name) from None


def sniff_encoding(head: bytes) -> str:
    """UTF-8 with a BOM, UTF-8, or else GB18030 (a superset of GBK and GB2312, what Excel saves in
    Chinese Windows): decided on the first `SNIFF_BYTES` of the file."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    sample = head[:SNIFF_BYTES]
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def is_xlsx(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04"


def read_table(data: bytes, *, encoding: str | None = None, filename: str = "") -> Table:
    """Headers and rows of a CSV or XLSX file given as bytes, within the bounds of
    billing.untrusted_files (size, XLSX archive caps, line and field lengths)."""
    with refusals_as(BillImportError):
        check_size(len(data), "bill_file")
    if is_xlsx(data) or filename.lower().endswith(".xlsx"):
        return _read_xlsx(data)
    return read_csv_stream(io.BytesIO(data), encoding=encoding)


def read_csv_stream(stream, *, encoding: str | None = None) -> Table:
    """A CSV file read lazily from a binary stream: bounded memory whatever its size."""
    reader = csv_reader(stream, encoding=encoding)
    try:
        headers = next(reader)
    except StopIteration:
        raise BillImportError("file_empty") from None
    return Table(headers=headers, rows=reader)


def csv_reader(stream, *, encoding: str | None, raw=None) -> Iterator[list[str]]:
    """The rows of a CSV bill file from a binary stream (its encoding given or sniffed), every line and
    field within the caps of billing.untrusted_files: a refusal is a BillImportError naming the line. The
    COPY path reads through `raw` (the stream wrapped to count bytes) the same way."""
    head = stream.read(SNIFF_BYTES)
    stream.seek(0)
    encoding = normalise_encoding(encoding) if encoding else sniff_encoding(head)
    if encoding == "utf-8" and head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    text = io.TextIOWrapper(raw if raw is not None else stream, encoding=encoding, newline="")
    return _bounded_rows(text, encoding)


def _bounded_rows(text: io.TextIOWrapper, encoding: str) -> Iterator[list[str]]:
    try:
        with refusals_as(BillImportError):
            yield from csv_rows(text)
    except UnicodeDecodeError:
        raise BillImportError("encoding_invalid", encoding=encoding) from None


def _read_xlsx(data: bytes) -> Table:
    from openpyxl import load_workbook  # reads the XML parts with defusedxml, which is installed

    with refusals_as(BillImportError):
        check_zip_container(data)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise BillImportError("file_unreadable", format="XLSX", detail=str(exc)[:200]) from None
    rows = workbook.worksheets[0].iter_rows(values_only=True)
    try:
        headers = next(rows)
    except StopIteration:
        raise BillImportError("file_empty") from None
    headers = ["" if cell is None else str(cell) for cell in headers]
    while headers and not headers[-1].strip(BLANKS):
        headers.pop()
    return Table(headers=headers, rows=rows)


# Headers ---------------------------------------------------------------------------------------------


def _header_key(header: object) -> str:
    text = unicodedata.normalize("NFKC", "" if header is None else str(header)).strip(BLANKS).lower()
    return re.sub(r"[\s\-]+", "_", text)


def check_headers(headers: Sequence[object]) -> tuple[dict[int, str], list[RowError]]:
    """Which position holds which column, and what is wrong with the header row (row 1)."""
    positions: dict[int, str] = {}
    errors: list[RowError] = []
    seen: set[str] = set()
    unknown: list[tuple[int, str]] = []
    for position, header in enumerate(headers):
        key = _header_key(header)
        column = key if key in COLUMNS else HEADER_ALIASES.get(key)
        if not key:
            continue
        if column is None:
            unknown.append((position, str(header).strip(BLANKS)))
            continue
        if column in seen:
            errors.append(RowError.make(1, column, "header_repeated", column=column))
            continue
        seen.add(column)
        positions[position] = column
    missing = [column for column in COLUMNS if column not in seen]
    for _position, header in unknown:
        close = difflib.get_close_matches(_header_key(header), missing, n=1, cutoff=0.6)
        if close:
            errors.append(RowError.make(1, header, "header_misspelt", header=header, suggestion=close[0]))
        else:
            errors.append(
                RowError.make(1, header, "header_unknown", header=header, columns=", ".join(COLUMNS))
            )
    misspelt = {dict(error.params).get("suggestion") for error in errors if error.code == "header_misspelt"}
    errors.extend(
        RowError.make(1, column, "header_missing", column=column)
        for column in REQUIRED_COLUMNS
        if column not in seen and column not in misspelt
    )
    return positions, sorted(errors)


# Values ----------------------------------------------------------------------------------------------

# ASCII digits only, as PostgreSQL's `\d` in the SQL path (NFKC has made full-width digits ASCII already).
PERIOD_RE = re.compile(r"^(\d{4})[-/.]?(\d{1,2})$", re.ASCII)
DATE_RES = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$", re.ASCII),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$", re.ASCII),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$", re.ASCII),
)


def _text(value: object) -> str:
    """A cell as text. Spreadsheet numbers come as int or float: 1234.5 is written "1234.5"."""
    if type(value) is str:
        return value.strip(BLANKS)
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value).strip(BLANKS)


def parse_period_cell(text: str) -> str | None:
    match = PERIOD_RE.fullmatch(unicodedata.normalize("NFKC", text))
    if not match:
        return None
    year, month = int(match[1]), int(match[2])
    if not (1900 <= year <= 2999 and 1 <= month <= 12):
        return None
    return f"{year:04d}-{month:02d}"


def parse_date_cell(text: str) -> datetime.date | None:
    cleaned = unicodedata.normalize("NFKC", text)
    for pattern in DATE_RES:
        match = pattern.fullmatch(cleaned)
        if match:
            year, month, day = (int(part) for part in match.groups())
            if not 1900 <= year <= 2999:
                return None
            try:
                return datetime.date(year, month, day)
            except ValueError:
                return None
    return None


# Rows ------------------------------------------------------------------------------------------------


def _row_mapping(values: Sequence[object], positions: Mapping[int, str]) -> tuple[dict[str, object], bool]:
    """The row's cells by column, and whether it has non-empty cells beyond the header's columns."""
    mapping = {
        column: values[position] if position < len(values) else None for position, column in positions.items()
    }
    width = max(positions, default=-1) + 1
    extra = any(_text(value) for value in values[width:])
    return mapping, extra


def validate_row(
    biller: Biller, number: int, cells: Mapping[str, object]
) -> tuple[BillRow | None, list[RowError]]:
    """Check one row given as {column: cell}; cells may be text or, from a spreadsheet, numbers and dates."""
    bill_row, errors, _key = _check_row(biller, number, cells)
    return bill_row, errors


def _check_row(
    biller: Biller, number: int, cells: Mapping[str, object]
) -> tuple[BillRow | None, list[RowError], tuple[str, str] | None]:
    """validate_row, and the row's (account_no, period) when both cells are valid (for finding repeated
    bills in a file)."""
    errors: list[RowError] = []
    account_ok = False
    text = {column: _text(cells.get(column)) for column in COLUMNS}

    for column in REQUIRED_COLUMNS:
        if not text[column]:
            errors.append(RowError.make(number, column, "value_required"))

    account_no = normalize_account_no(text["account_no"])
    if text["account_no"]:
        if len(account_no) > MAX_LENGTHS["account_no"]:
            errors.append(RowError.make(number, "account_no", "too_long", value=text["account_no"], max=40))
        elif account_no_is_valid(
            account_no, pattern=biller.account_pattern, check_digit=biller.account_check_digit
        ):
            account_ok = True
        else:
            errors.append(
                RowError.make(
                    number,
                    "account_no",
                    "account_no_invalid",
                    value=text["account_no"],
                    biller=biller.display_name,
                    hint=biller.account_hint,
                )
            )
    for column in ("customer_name", "reference"):
        if len(text[column]) > MAX_LENGTHS[column]:
            errors.append(
                RowError.make(number, column, "too_long", value=text[column], max=MAX_LENGTHS[column])
            )

    period = parse_period_cell(text["period"]) if text["period"] else None
    if text["period"] and period is None:
        errors.append(RowError.make(number, "period", "period_invalid", value=text["period"]))

    amounts: dict[str, Decimal | None] = {"late_fee": ZERO}
    for column in ("amount_due", "late_fee"):
        if not text[column]:
            continue
        amount, code = parse_money_text(text[column])
        if code:
            errors.append(RowError.make(number, column, code, value=text[column]))
        elif column == "amount_due" and amount == 0:
            errors.append(RowError.make(number, column, "amount_zero", value=text[column]))
        amounts[column] = amount

    due = cells.get("due_date")
    if isinstance(due, datetime.datetime):
        due_date = due.date()
    elif isinstance(due, datetime.date):
        due_date = due
    else:
        due_date = parse_date_cell(text["due_date"]) if text["due_date"] else None
        if text["due_date"] and due_date is None:
            errors.append(RowError.make(number, "due_date", "date_invalid", value=text["due_date"]))

    key = (account_no, period) if account_ok and period is not None else None
    if errors:
        return None, errors, key
    return (
        BillRow(
            row=number,
            account_no=account_no,
            customer_name=text["customer_name"],
            period=period,
            amount_due=amounts["amount_due"],
            due_date=due_date,
            late_fee=amounts["late_fee"],
            reference=text["reference"],
        ),
        [],
        key,
    )


def _is_blank(values: Sequence[object]) -> bool:
    return not any(_text(value) for value in values)


def validate_rows(
    biller: Biller, rows: Iterable[Mapping[str, object]], *, first_row: int = 2
) -> tuple[list[BillRow], list[RowError]]:
    """Check rows given as {column: cell} (numbered from `first_row`): the valid ones, normalised, and
    every error, in row and column order. A bill repeated in the batch is an error on its later rows."""
    valid: list[BillRow] = []
    errors: list[RowError] = []
    first_seen: dict[tuple[str, str], int] = {}
    for number, cells in enumerate(rows, start=first_row):
        if cells is None:  # a blank line: counted, never reported
            continue
        if cells.get("__extra__"):
            errors.append(RowError.make(number, "", "extra_fields"))
        bill_row, row_errors, key = _check_row(biller, number, cells)
        if key is not None:
            if key in first_seen:
                row_errors.append(
                    RowError.make(
                        number,
                        "period",
                        "duplicate_row",
                        account_no=key[0],
                        period=key[1],
                        first_row=first_seen[key],
                    )
                )
                bill_row = None
            else:
                first_seen[key] = number
        errors.extend(sorted(row_errors, key=lambda error: _column_order(error.column)))
        if bill_row is not None and not cells.get("__extra__"):
            valid.append(bill_row)
    return valid, errors


def _column_order(column: str) -> int:
    return COLUMNS.index(column) if column in COLUMNS else -1


def sort_errors(errors: Iterable[RowError]) -> list[RowError]:
    """Row by row, and within a row in the file's column order (a whole-row error first)."""
    return sorted(errors, key=lambda error: (error.row, _column_order(error.column), error.code))


def table_rows(table: Table, positions: Mapping[int, str]) -> Iterator[dict[str, object] | None]:
    """A table's rows as {column: cell}, None for a blank line (so numbering stays the spreadsheet's)."""
    for values in table.rows:
        values = list(values)
        if _is_blank(values):
            yield None
            continue
        mapping, extra = _row_mapping(values, positions)
        if extra:
            mapping["__extra__"] = True
        yield mapping


def validate_table(biller: Biller, table: Table) -> tuple[list[BillRow], list[RowError], int]:
    """Headers and rows of a file: (valid rows, errors, number of non-blank data rows)."""
    positions, header_errors = check_headers(table.headers)
    if header_errors:
        return [], header_errors, 0
    counted = _Counted(table_rows(table, positions))
    valid, errors = validate_rows(biller, counted)
    return valid, errors, counted.count


class _Counted:
    def __init__(self, rows: Iterable) -> None:
        self.rows, self.count = rows, 0

    def __iter__(self):
        for row in self.rows:
            if row is not None:
                self.count += 1
            yield row


# Writing ---------------------------------------------------------------------------------------------


def _differs(bill: Bill, row: BillRow) -> str | None:
    """The first column where the row would change the bill, or None."""
    for column, current, new in (
        ("amount_due", bill.amount_due, row.amount_due),
        ("late_fee", bill.late_fee, row.late_fee),
        ("due_date", bill.due_date, row.due_date),
        ("reference", bill.reference, row.reference),
    ):
        if current != new:
            return column
    return None


def plan_conflicts(biller: Biller, rows: Sequence[BillRow]) -> list[RowError]:
    """Rows that would change a bill that has payments or was cancelled: refused and reported."""
    conflicts: list[RowError] = []
    existing = _existing_bills(biller, rows, locked=False)
    for row in rows:
        bill = existing.get((row.account_no, row.period))
        if bill is None:
            continue
        error = _conflict(bill, row)
        if error:
            conflicts.append(error)
    return conflicts


def _conflict(bill: Bill, row: BillRow) -> RowError | None:
    if bill.amount_paid == ZERO and bill.status != BillStatus.CANCELLED:
        return None
    column = _differs(bill, row)
    if column is None:
        return None
    if bill.status == BillStatus.CANCELLED:
        return RowError.make(row.row, column, "bill_cancelled", account_no=row.account_no, period=row.period)
    return RowError.make(
        row.row,
        column,
        "bill_has_payments",
        account_no=row.account_no,
        period=row.period,
        paid=f"{bill.amount_paid:,.2f}",
    )


def _existing_bills(biller: Biller, rows: Sequence[BillRow], *, locked: bool) -> dict[tuple[str, str], Bill]:
    result: dict[tuple[str, str], Bill] = {}
    accounts = sorted({row.account_no for row in rows})
    periods = sorted({row.period for row in rows})
    for start in range(0, len(accounts), 5000):
        chunk = accounts[start : start + 5000]
        if locked:
            queryset = locks.lock_bills_of_import(biller, account_nos=chunk, periods=periods)
        else:
            queryset = Bill.objects.filter(
                biller=biller, account__account_no__in=chunk, period__in=periods
            ).select_related("account")
        for bill in queryset:
            result[(bill.account.account_no, bill.period)] = bill
    return result


def upsert_bills(
    biller: Biller, rows: Sequence[BillRow], *, actor, partial: bool = False, source: str = "import"
) -> ImportReport:
    """Write checked rows by (biller, account_no, period). Unpaid bills are updated, bills with payments
    or cancelled ones never change (their rows come back as errors), new accounts are created. Without
    `partial`, any such error writes nothing."""
    report = ImportReport(rows=len(rows))
    with transaction.atomic():
        lock_biller_for_import(biller)
        existing = _existing_bills(biller, rows, locked=True)
        conflicts = [
            error
            for row in rows
            if (bill := existing.get((row.account_no, row.period))) and (error := _conflict(bill, row))
        ]
        report.errors, report.error_count = conflicts, len(conflicts)
        if conflicts and not partial:
            return report
        conflicted = {error.row for error in conflicts}
        rows = [row for row in rows if row.row not in conflicted]

        accounts = _upsert_accounts(biller, rows, report)
        now = timezone.now()
        new_bills, changed = [], []
        for row in rows:
            bill = existing.get((row.account_no, row.period))
            if bill is None:
                new_bills.append(
                    Bill(
                        biller=biller,
                        account=accounts[row.account_no],
                        period=row.period,
                        amount_due=row.amount_due,
                        late_fee=row.late_fee,
                        due_date=row.due_date,
                        reference=row.reference,
                        created_at=now,
                        updated_at=now,
                    )
                )
            elif _differs(bill, row):
                bill.amount_due, bill.late_fee = row.amount_due, row.late_fee
                bill.due_date, bill.reference, bill.updated_at = row.due_date, row.reference, now
                changed.append(bill)
            else:
                report.unchanged += 1
        Bill.objects.bulk_create(new_bills, batch_size=2000)
        Bill.objects.bulk_update(
            changed, ["amount_due", "late_fee", "due_date", "reference", "updated_at"], batch_size=2000
        )
        report.created, report.updated = len(new_bills), len(changed)
        report.imported = True
        record_audit(
            actor=actor, action="bills.imported", target=biller, source=source, **_audit_counts(report)
        )
    return report


def lock_biller_for_import(biller: Biller) -> None:
    """One import at a time per biller: two files for the same biller must not race to create the same
    accounts and bills. Payments lock accounts and bills, never the biller, so they are not held up."""
    locks.lock_biller_row(biller.pk)


def _audit_counts(report: ImportReport) -> dict:
    return {key: value for key, value in report.summary().items() if key != "imported"}


def _upsert_accounts(
    biller: Biller, rows: Sequence[BillRow], report: ImportReport
) -> dict[str, CustomerAccount]:
    names = {row.account_no: row.customer_name for row in rows}  # the last row of an account wins
    accounts: dict[str, CustomerAccount] = {}
    numbers = sorted(names)
    for start in range(0, len(numbers), 5000):
        for account in CustomerAccount.objects.filter(
            biller=biller, account_no__in=numbers[start : start + 5000]
        ):
            accounts[account.account_no] = account
    renamed = [account for number, account in accounts.items() if account.holder_name != names[number]]
    for account in renamed:
        account.holder_name = names[account.account_no]
    CustomerAccount.objects.bulk_update(renamed, ["holder_name"], batch_size=2000)
    new = [
        CustomerAccount(biller=biller, account_no=number, holder_name=names[number])
        for number in numbers
        if number not in accounts
    ]
    CustomerAccount.objects.bulk_create(new, batch_size=2000)
    if new:
        for account in CustomerAccount.objects.filter(
            biller=biller, account_no__in=[a.account_no for a in new]
        ):
            accounts[account.account_no] = account
    report.accounts_created = len(new)
    return accounts


def check_biller_takes_bills(biller: Biller) -> None:
    from billing.choices import BillerStatus

    if biller.status == BillerStatus.CLOSED:
        raise BillImportError("biller_cannot_take_bills", biller=biller.display_name)


def import_bills(
    biller: Biller, table: Table, *, actor, partial: bool = False, source: str = "import"
) -> ImportReport:
    """Check a whole file and write it: nothing when it has errors, unless `partial`. A header row with
    errors stops the file in either mode: no row can be read right."""
    check_biller_takes_bills(biller)
    valid, errors, count = validate_table(biller, table)
    report = ImportReport(rows=count)
    if errors and (not partial or errors[0].row == 1):
        report.errors, report.error_count = errors, len(errors)
        return report
    written = upsert_bills(biller, valid, actor=actor, partial=partial, source=source)
    written.rows = count
    written.errors = sort_errors(errors + written.errors)
    written.error_count = len(written.errors)
    return written


def import_rows(
    biller: Biller, rows: Sequence[Mapping[str, object]], *, actor, partial: bool = False, source: str = "api"
) -> ImportReport:
    """A batch of rows given as {column: value} (the biller API's "push bills"): numbered from 1, unknown
    keys reported as the file's unknown headers are."""
    check_biller_takes_bills(biller)
    keys: list[str] = []
    for row in rows:
        for key in row:
            if key not in keys:
                keys.append(key)
    positions, header_errors = check_headers(keys)
    header_errors = [e for e in header_errors if e.code != "header_missing"]
    if header_errors:
        return ImportReport(rows=len(rows), errors=header_errors, error_count=len(header_errors))
    mapped = [
        {positions_key: row.get(key) for key, positions_key in ((keys[p], c) for p, c in positions.items())}
        for row in rows
    ]
    valid, errors = validate_rows(biller, mapped, first_row=1)
    if errors and not partial:
        return ImportReport(rows=len(rows), errors=errors, error_count=len(errors))
    report = upsert_bills(biller, valid, actor=actor, partial=partial, source=source)
    report.rows = len(rows)
    report.errors = sort_errors(errors + report.errors)
    report.error_count = len(report.errors)
    return report


ERROR_REPORT_HEADER = ["row", "column", "code", "reason"]


def error_report_csv_row(error: RowError) -> list:
    from billing.exports import safe_cell

    return [error.row, safe_cell(error.column), error.code, safe_cell(error.message)]


def error_report_csv(errors: Iterable[RowError]) -> str:
    """The downloadable error report: row, column, code, reason; cells made safe for spreadsheets."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ERROR_REPORT_HEADER)
    writer.writerows(error_report_csv_row(error) for error in errors)
    return buffer.getvalue()
