"""WeChat Pay merchant trade bill (交易账单, API v3 `tradebill`): ALL, SUCCESS or REFUND.

A header row of Chinese column names; each value of a detail row starts with a back-tick (so that Excel
keeps long numbers as text); then a totals header (总交易单数,…) and one totals row. UTF-8 or GBK, often
gzip-packed as the download API returns it.
"""

import itertools
import operator
from collections.abc import Iterator
from decimal import Decimal
from typing import IO

from django.utils.translation import gettext_lazy as _

from billing.money import ZERO
from billing.untrusted_files import CHUNK
from reconciliation.adapters.base import (
    ParsedLine,
    ParsedStatement,
    open_text,
    parse_local_time,
    parse_money,
    read_money,
    refuse,
    text_rows,
)
from reconciliation.choices import LineKind, StatementFormat
from reconciliation.exceptions import StatementRefused

FIRST_COLUMN = "交易时间"
REQUIRED = [
    "交易时间",
    "商户号",
    "微信订单号",
    "商户订单号",
    "交易状态",
    "货币种类",
    "应结订单金额",
    "手续费",
    "订单金额",
]
REFUND_COLUMNS = ["微信退款单号", "商户退款单号", "退款金额"]
TOTALS_HEADER = [
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
]
# totals column → the detail column it sums (None: the number of rows)
TOTALS_OF = {
    "总交易单数": None,
    "应结订单总金额": "应结订单金额",
    "退款总金额": "退款金额",
    "充值券退款总金额": "充值券退款金额",
    "手续费总金额": "手续费",
    "订单总金额": "订单金额",
    "申请退款总金额": "申请退款金额",
}
MONEY_PLACES = {"手续费": 5}


def sniff(text_head: str) -> bool:
    return (
        text_head.lstrip("\ufeff").startswith(FIRST_COLUMN + ",")
        and "微信订单号" in text_head.split("\n", 1)[0]
    )


def _value(raw: str, line: int, column: str) -> str:
    if not raw.startswith("`"):
        raise refuse(
            line,
            _("the value of “%(column)s” does not start with a back-tick: “%(value)s”")
            % {"column": column, "value": raw},
        )
    return raw[1:]


def parse(data: bytes) -> ParsedStatement:
    view = memoryview(data)
    text = open_text(lambda: (bytes(view[i : i + CHUNK]) for i in range(0, len(data), CHUNK)))
    return ParsedStatement(format=StatementFormat.WECHAT, lines=list(stream(text)))


def stream(text: IO[str]) -> Iterator[ParsedLine]:
    """The bill's lines one by one as they are read (REVOKED rows skipped); the sums the totals row states
    are added up on the way and checked after the last row, so a wrong total refuses the file at its end."""
    rows = text_rows(text)
    first = next(rows, None)
    if first is None or first[:1] != [FIRST_COLUMN]:
        raise StatementRefused(
            "format_mismatch",
            format=_("WeChat Pay trade bill"),
            reason=_("the first column must be 交易时间"),
        )
    header = [name.strip() for name in first]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise refuse(1, _("columns missing: %(columns)s") % {"columns": ", ".join(missing)})
    col = {name: i for i, name in enumerate(header)}
    columns = _Columns(header, col)
    has_refunds = all(name in col for name in REFUND_COLUMNS)
    sums = {name: ZERO for name in TOTALS_OF.values() if name}
    index = 1
    for index, row in enumerate(rows, start=2):
        if row[:1] == [TOTALS_HEADER[0]]:
            _check_totals(row, rows, index, sums, index - 2)
            return
        line = _line(row, index, columns, sums, has_refunds)
        if line is not None:
            yield line
    raise StatementRefused("trailer_missing", line=index + 1)


class _Columns:
    """The header's columns, and a row's values by name with their back-ticks checked and taken off (in
    C: a million rows of 27 values each)."""

    def __init__(self, header: list[str], col: dict[str, int]) -> None:
        self.count = len(header)
        self.names = tuple(col)
        self.pick = operator.itemgetter(*col.values())
        # the columns the totals row sums, with their decimals
        self.money = [(name, MONEY_PLACES.get(name, 2)) for name in TOTALS_OF.values() if name in col]

    def values(self, row: list[str], index: int) -> dict[str, str]:
        if len(row) != self.count:
            raise refuse(
                index, _("%(count)s fields, not %(expected)s") % {"count": len(row), "expected": self.count}
            )
        raw = self.pick(row)
        if not all(map(str.startswith, raw, itertools.repeat("`"))):
            for name, value in zip(self.names, raw, strict=True):
                _value(value, index, name)  # refuses the first without its back-tick
        return dict(zip(self.names, map(UNTICK, raw), strict=True))


UNTICK = operator.itemgetter(slice(1, None))


def _line(row, index, columns: _Columns, sums, has_refunds) -> ParsedLine | None:
    values = columns.values(row, index)
    amounts = {}
    for name, places in columns.money:
        text = values[name]
        read = read_money(text.strip(), places)
        if read is None:
            parse_money(text, index, what=name, places=places, allow_zero=True)  # refuses it
        amounts[name] = read[0]
        sums[name] += Decimal(text) if name in MONEY_PLACES else read[0]
    if values["货币种类"] != "CNY":
        raise StatementRefused("currency_not_cny", line=index, currency=values["货币种类"])
    status = values["交易状态"]
    when = parse_local_time(values["交易时间"], index)
    if status == "SUCCESS":
        return ParsedLine(
            line_no=index,
            kind=LineKind.PAYMENT,
            channel_ref=values["微信订单号"],
            merchant_ref=values["商户订单号"],
            amount=_positive(amounts["订单金额"], index, "订单金额"),
            fee=amounts["手续费"],
            occurred_at=when,
        )
    if status == "REFUND":
        if not has_refunds:
            raise refuse(index, _("a REFUND row in a bill without refund columns"))
        refund_time = values.get("退款成功时间") or values.get("退款申请时间")
        return ParsedLine(
            line_no=index,
            kind=LineKind.REFUND,
            channel_ref=values["微信退款单号"],
            original_ref=values["微信订单号"],
            merchant_ref=values["商户退款单号"],
            amount=_positive(amounts["退款金额"], index, "退款金额"),
            fee=amounts["手续费"],
            occurred_at=parse_local_time(refund_time, index) if refund_time else when,
        )
    if status == "REVOKED":
        return None  # cancelled before any money moved
    raise refuse(index, _("unknown trade status “%(value)s”") % {"value": status})


def _positive(amount: Decimal, line: int, column: str) -> Decimal:
    if amount <= 0:
        raise refuse(line, _("%(what)s must be more than zero") % {"what": column})
    return amount


def _check_totals(totals_header, rest, line: int, sums: dict, count: int) -> None:
    """The totals header (at `line`), then exactly one totals row, the last of the file."""
    if [name.strip() for name in totals_header] != TOTALS_HEADER:
        raise refuse(line, _("the totals header is not %(columns)s") % {"columns": ",".join(TOTALS_HEADER)})
    after = [row for _, row in zip(range(2), rest, strict=False)]
    if len(after) != 1:
        raise refuse(line + len(after), _("there must be exactly one totals row, and it must be last"))
    values = after[0]
    line += 1
    if len(values) != len(TOTALS_HEADER):
        raise refuse(
            line,
            _("%(count)s fields, not %(expected)s") % {"count": len(values), "expected": len(TOTALS_HEADER)},
        )
    for name, raw in zip(TOTALS_HEADER, values, strict=True):
        value = _value(raw, line, name)
        source = TOTALS_OF[name]
        if source is None:
            if not value.isdigit():
                raise refuse(line, _("%(what)s “%(value)s” is not a number") % {"what": name, "value": value})
            if int(value) != count:
                raise StatementRefused("totals_mismatch", line=line, field=name, stated=value, actual=count)
            continue
        if source not in sums:
            continue
        stated = parse_money(value, line, what=name, places=MONEY_PLACES.get(source, 2), allow_zero=True)
        actual = sums[source]
        if Decimal(value) != actual and stated != actual:
            raise StatementRefused("totals_mismatch", line=line, field=name, stated=value, actual=actual)
