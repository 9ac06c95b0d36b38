"""The platform's own CSV statement (docs/statement-format.md): the parser."""

import datetime
import re
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext_lazy as _

from billing import statement_format
from billing.money import ZERO
from billing.untrusted_files import csv_rows
from reconciliation.adapters.base import AMOUNT_2DP, ParsedLine, ParsedStatement, decode_text, refuse
from reconciliation.choices import LineKind, StatementFormat
from reconciliation.exceptions import StatementRefused

# The format itself (name, version, columns, record types) is declared once, in billing.statement_format.
MAGIC = statement_format.FORMAT_NAME
COLUMNS = list(statement_format.COLUMNS)
TXN_TYPES = {statement_format.PAYMENT: LineKind.PAYMENT, statement_format.REFUND: LineKind.REFUND}
OFFSET_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$")


def sniff(data: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf").startswith(b"H," + MAGIC.encode())


def parse(data: bytes) -> ParsedStatement:
    text = decode_text(data)
    rows = list(csv_rows(text))
    if (
        not rows
        or len(rows[0]) != statement_format.HEADER_FIELDS
        or rows[0][0] != statement_format.HEADER
        or rows[0][1] != MAGIC
    ):
        raise refuse(1, _("the first line must be the H line: H,BILLPAY-STATEMENT,1,<channel>,<day>,<time>"))
    header = rows[0]
    if header[2] != statement_format.FORMAT_VERSION:
        raise refuse(1, _("format version “%(version)s” is not 1") % {"version": header[2]})
    try:
        day = datetime.date.fromisoformat(header[4])
    except ValueError:
        raise refuse(1, _("“%(value)s” is not a day (YYYY-MM-DD)") % {"value": header[4]}) from None
    if len(rows) < 2 or rows[1] != COLUMNS:
        raise refuse(
            2, _("the second line must be the column header: %(columns)s") % {"columns": ",".join(COLUMNS)}
        )
    lines: list[ParsedLine] = []
    seen_refs: dict[str, int] = {}
    trailer = None
    for index, row in enumerate(rows[2:], start=3):
        if trailer is not None:
            raise refuse(index, _("nothing may follow the T line (line %(line)s)") % {"line": trailer[0]})
        if not row:
            raise refuse(index, _("an empty line"))
        if row[0] == statement_format.TRAILER:
            trailer = (index, row)
            continue
        if row[0] != statement_format.DETAIL:
            raise refuse(index, _("a line must start with D or T, not “%(value)s”") % {"value": row[0]})
        lines.append(_detail(row, index, seen_refs))
    if trailer is None:
        raise StatementRefused("trailer_missing", line=len(rows) + 1)
    _check_trailer(trailer, lines)
    return ParsedStatement(
        format=StatementFormat.BILLPAY, lines=lines, channel_code=header[3], business_date=day
    )


def _detail(row: list[str], index: int, seen_refs: dict[str, int]) -> ParsedLine:
    if len(row) != len(COLUMNS):
        raise refuse(
            index, _("%(count)s fields, not %(expected)s") % {"count": len(row), "expected": len(COLUMNS)}
        )
    _d, txn, ref, receipt, biller, account, amount, fee, currency, occurred, original = row
    if txn not in TXN_TYPES:
        raise refuse(index, _("“%(value)s” is neither PAYMENT nor REFUND") % {"value": txn})
    if not ref:
        raise refuse(index, _("the channel_ref is empty"))
    if ref in seen_refs:
        raise refuse(
            index, _("channel_ref “%(ref)s” repeats line %(line)s") % {"ref": ref, "line": seen_refs[ref]}
        )
    seen_refs[ref] = index
    if not AMOUNT_2DP.match(amount) or amount == "0.00" or (amount.startswith("0") and amount[1] != "."):
        raise refuse(
            index, _("amount “%(value)s” is not a positive amount with two decimals") % {"value": amount}
        )
    if not AMOUNT_2DP.match(fee):
        raise refuse(index, _("fee “%(value)s” is not an amount with two decimals") % {"value": fee})
    if currency != statement_format.CURRENCY:
        raise StatementRefused("currency_not_cny", line=index, currency=currency)
    if not OFFSET_TIME.match(occurred):
        raise refuse(
            index, _("occurred_at “%(value)s” is not an ISO 8601 time with its offset") % {"value": occurred}
        )
    kind = TXN_TYPES[txn]
    if kind == LineKind.REFUND and not original:
        raise refuse(index, _("a REFUND must name the original_channel_ref it refunds"))
    if kind == LineKind.PAYMENT and original:
        raise refuse(index, _("only a REFUND has an original_channel_ref"))
    return ParsedLine(
        line_no=index,
        kind=kind,
        channel_ref=ref,
        original_ref=original,
        receipt_no=receipt,
        biller_code=biller,
        account_no=account,
        amount=Decimal(amount),
        fee=Decimal(fee),
        occurred_at=datetime.datetime.fromisoformat(occurred.replace("Z", "+00:00")),
    )


def _check_trailer(trailer: tuple[int, list[str]], lines: list[ParsedLine]) -> None:
    index, row = trailer
    if len(row) != statement_format.TRAILER_FIELDS:
        raise refuse(index, _("the T line has %(count)s fields, not 5") % {"count": len(row)})
    payments = sum((ln.amount for ln in lines if ln.kind == LineKind.PAYMENT), ZERO)
    refunds = sum((ln.amount for ln in lines if ln.kind == LineKind.REFUND), ZERO)
    fees = sum((ln.fee for ln in lines), ZERO)
    checks = [
        ("count", row[1], len(lines)),
        ("payments", row[2], payments),
        ("refunds", row[3], refunds),
        ("fees", row[4], fees),
    ]
    for name, stated, actual in checks:
        try:
            value = int(stated) if name == "count" else Decimal(stated)
        except (ValueError, InvalidOperation):
            raise refuse(
                index,
                _("the T line's %(field)s “%(value)s” is not a number") % {"field": name, "value": stated},
            ) from None
        if value != actual:
            raise StatementRefused("totals_mismatch", line=index, field=name, stated=stated, actual=actual)
