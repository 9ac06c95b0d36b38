"""Rows to errors: the header row mapped onto the columns, every row checked and normalised into a
`BillRow`, a bill repeated in the batch reported on its later rows."""

from __future__ import annotations

import datetime
import difflib
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal

from billing.bill_import.cells import BLANKS, _text, parse_date_cell, parse_period_cell
from billing.bill_import.reading import Table
from billing.bill_import.records import COLUMNS, REQUIRED_COLUMNS, BillImportError, BillRow, RowError
from billing.choices import BeneficiaryKind
from billing.models import Biller
from billing.money import ZERO, parse_money_text
from billing.rules import account_no_is_valid, normalize_account_no, normalize_notice_no

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
    "提前缴费优惠": "early_discount",
    "优惠金额": "early_discount",
    "discount": "early_discount",
    "优惠截止日": "discount_until",
    "优惠截止日期": "discount_until",
    "缴费对象类型": "beneficiary_kind",
    "对象类型": "beneficiary_kind",
    "缴费对象": "beneficiary_name",
    "学生姓名": "beneficiary_name",
    "患者姓名": "beneficiary_name",
    "beneficiary": "beneficiary_name",
    "缴款书号": "notice_no",
    "缴款书编号": "notice_no",
    "notice": "notice_no",
}

MAX_LENGTHS = {"account_no": 40, "customer_name": 100, "reference": 64, "beneficiary_name": 100}

# A beneficiary's kind as billers write it: the code or its Chinese or English label.
BENEFICIARY_KIND_ALIASES = {
    **{kind.value: kind.value for kind in BeneficiaryKind},
    "学生": BeneficiaryKind.STUDENT,
    "患者": BeneficiaryKind.PATIENT,
    "病人": BeneficiaryKind.PATIENT,
    "居民": BeneficiaryKind.RESIDENT,
    "其他": BeneficiaryKind.OTHER,
    "beneficiary": BeneficiaryKind.OTHER,
}


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
    for column in ("customer_name", "reference", "beneficiary_name"):
        if len(text[column]) > MAX_LENGTHS[column]:
            errors.append(
                RowError.make(number, column, "too_long", value=text[column], max=MAX_LENGTHS[column])
            )

    period = parse_period_cell(text["period"]) if text["period"] else None
    if text["period"] and period is None:
        errors.append(RowError.make(number, "period", "period_invalid", value=text["period"]))

    amounts: dict[str, Decimal | None] = {"late_fee": ZERO, "early_discount": ZERO}
    for column in ("amount_due", "late_fee", "early_discount"):
        if not text[column]:
            continue
        amount, code = parse_money_text(text[column])
        if code:
            errors.append(RowError.make(number, column, code, value=text[column]))
        elif column == "amount_due" and amount == 0:
            errors.append(RowError.make(number, column, "amount_zero", value=text[column]))
        amounts[column] = amount

    due_date = _date(number, "due_date", cells, text, errors)
    discount_until = _date(number, "discount_until", cells, text, errors)
    _check_discount(number, amounts, discount_until, text, errors)
    beneficiary_kind = _beneficiary_kind(number, text, errors)
    notice_no = _notice_no(text["notice_no"])
    if text["notice_no"] and not NOTICE_NO_RE.fullmatch(notice_no):
        errors.append(RowError.make(number, "notice_no", "notice_no_invalid", value=text["notice_no"]))

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
            early_discount=amounts["early_discount"],
            discount_until=discount_until,
            beneficiary_kind=beneficiary_kind,
            beneficiary_name=text["beneficiary_name"],
            notice_no=notice_no,
        ),
        [],
        key,
    )


NOTICE_NO_RE = re.compile(r"[0-9A-Z][0-9A-Z-]{0,31}")


def _notice_no(text: str) -> str:
    """A notice number as the lookups find it (billing.rules.normalize_notice_no), with full-width digits
    and letters of a spreadsheet made plain first."""
    return normalize_notice_no(unicodedata.normalize("NFKC", text or ""))


def _date(
    number: int, column: str, cells: Mapping[str, object], text: Mapping[str, str], errors: list[RowError]
) -> datetime.date | None:
    """A date cell: a spreadsheet's date, or text as YYYY-MM-DD (None when empty or wrong)."""
    value = cells.get(column)
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    parsed = parse_date_cell(text[column]) if text[column] else None
    if text[column] and parsed is None:
        errors.append(RowError.make(number, column, "date_invalid", value=text[column]))
    return parsed


def _check_discount(
    number: int,
    amounts: Mapping[str, Decimal | None],
    until: datetime.date | None,
    text: Mapping[str, str],
    errors: list[RowError],
) -> None:
    """An early-payment discount comes with the date it holds until, and never exceeds the amount due
    (the bill's own check constraint says so too)."""
    discount, amount = amounts.get("early_discount"), amounts.get("amount_due")
    if discount is None:
        return  # already reported as not an amount
    if discount and amount is not None and discount > amount:
        errors.append(
            RowError.make(
                number,
                "early_discount",
                "discount_above_amount",
                discount=f"{discount:,.2f}",
                amount=f"{amount:,.2f}",
            )
        )
    if discount and not text["discount_until"]:
        errors.append(RowError.make(number, "discount_until", "discount_until_required"))
    if until is not None and not discount:
        errors.append(RowError.make(number, "discount_until", "discount_until_without_discount"))


def _beneficiary_kind(number: int, text: Mapping[str, str], errors: list[RowError]) -> str:
    """The beneficiary's kind as a code; a name without a kind is a beneficiary of no particular kind."""
    written = text["beneficiary_kind"]
    if not written:
        return BeneficiaryKind.OTHER if text["beneficiary_name"] else ""
    kind = BENEFICIARY_KIND_ALIASES.get(written.lower()) or BENEFICIARY_KIND_ALIASES.get(written)
    if kind is None:
        kinds = (
            "student 学生, patient 患者, resident 居民, other 其他"  # what a file may say, either language
        )
        errors.append(
            RowError.make(number, "beneficiary_kind", "beneficiary_kind_invalid", value=written, kinds=kinds)
        )
        return ""
    if not text["beneficiary_name"]:
        errors.append(RowError.make(number, "beneficiary_name", "beneficiary_name_required"))
    return str(kind)


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
    notices_seen: dict[str, int] = {}
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
        if bill_row is not None and bill_row.notice_no:
            if bill_row.notice_no in notices_seen:
                row_errors.append(
                    RowError.make(
                        number,
                        "notice_no",
                        "notice_no_repeated",
                        notice_no=bill_row.notice_no,
                        first_row=notices_seen[bill_row.notice_no],
                    )
                )
                bill_row = None
            else:
                notices_seen[bill_row.notice_no] = number
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


def check_biller_takes_bills(biller: Biller) -> None:
    from billing.choices import BillerStatus

    if biller.status == BillerStatus.CLOSED:
        raise BillImportError("biller_cannot_take_bills", biller=biller.display_name)
