"""WeChat Pay merchant trade bill (交易账单, API v3 `tradebill`): ALL, SUCCESS or REFUND.

A header row of Chinese column names; each value of a detail row starts with a back-tick (so that Excel
keeps long numbers as text); then a totals header (总交易单数,…) and one totals row. UTF-8 or GBK, often
gzip-packed as the download API returns it.
"""

import datetime
import itertools
import operator
import re
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import IO

from django.utils.translation import gettext_lazy as _

from billing.money import CENT, ZERO
from billing.untrusted_files import CHUNK
from reconciliation.adapters.base import (
    ParsedLine,
    ParsedStatement,
    open_text,
    parse_local_time,
    parse_money,
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
    sums = _Sums(columns.money)
    totals_header = TOTALS_HEADER[0]
    index = 1
    for index, row in enumerate(rows, start=2):
        if row and row[0] == totals_header:
            _check_totals(row, rows, index, sums.total(), index - 2)
            return
        line = columns.line(row, index, sums)
        if line is not None:
            yield line
    raise StatementRefused("trailer_missing", line=index + 1)


class _Columns:
    """The header's columns, and a row read into its line: every value's back-tick checked, the money
    columns checked with one pattern, the values the line needs taken by position (in C where it can be:
    a million rows of 27 values each)."""

    def __init__(self, header: list[str], col: dict[str, int]) -> None:
        self.count = len(header)
        self.names = tuple(col)
        self.pick = operator.itemgetter(*col.values())
        self.ticks = "`" * len(col)  # each value's first character
        # the columns the totals row sums, with their decimals
        self.money = [(name, MONEY_PLACES.get(name, 2)) for name in TOTALS_OF.values() if name in col]
        self.money_values = _getter([col[name] for name, _places in self.money])
        # each money value, back-tick included, as `read_money` accepts it once stripped (in one match)
        self.money_shape = re.compile(
            "".join(rf"`\s*\d{{1,12}}(?:\.\d{{1,{places}}})?\s*" for _name, places in self.money)
        )
        self.has_refunds = all(name in col for name in REFUND_COLUMNS)
        self.at = {name: col.get(name) for name in READ}
        self.times: dict[str, datetime.datetime] = {}  # a bill repeats its seconds: each read once

    def _check_ticks(self, row: list[str], index: int) -> None:
        if len(row) != self.count:
            raise refuse(
                index, _("%(count)s fields, not %(expected)s") % {"count": len(row), "expected": self.count}
            )
        raw = self.pick(row)
        if "".join(map(FIRST_CHARACTER, raw)) != self.ticks:
            for name, value in zip(self.names, raw, strict=True):
                _value(value, index, name)  # refuses the first without its back-tick

    def line(self, row: list[str], index: int, sums: "_Sums") -> ParsedLine | None:
        """The row's line (None for a REVOKED row), its money added to `sums`; refused with its number."""
        self._check_ticks(row, index)
        money = self.money_values(row)
        if not self.money_shape.fullmatch("".join(money)):
            self._refuse_money(row, index)
        sums.add(money)
        at = self.at
        currency = row[at["货币种类"]][1:]
        if currency != "CNY":
            raise StatementRefused("currency_not_cny", line=index, currency=currency)
        status = row[at["交易状态"]][1:]
        when = self._time(row[at["交易时间"]][1:], index)
        if status == "SUCCESS":
            return ParsedLine(
                line_no=index,
                kind=LineKind.PAYMENT,
                channel_ref=row[at["微信订单号"]][1:],
                merchant_ref=row[at["商户订单号"]][1:],
                amount=_positive(_cents(row[at["订单金额"]]), index, "订单金额"),
                fee=_cents(row[at["手续费"]]),
                occurred_at=when,
            )
        if status == "REFUND":
            if not self.has_refunds:
                raise refuse(index, _("a REFUND row in a bill without refund columns"))
            line = ParsedLine(
                line_no=index,
                kind=LineKind.REFUND,
                channel_ref=row[at["微信退款单号"]][1:],
                original_ref=row[at["微信订单号"]][1:],
                merchant_ref=row[at["商户退款单号"]][1:],
                amount=_positive(_cents(row[at["退款金额"]]), index, "退款金额"),
                fee=_cents(row[at["手续费"]]),
                occurred_at=when,
            )
            refund_time = self._value_of(row, "退款成功时间") or self._value_of(row, "退款申请时间")
            if refund_time:
                line.occurred_at = self._time(refund_time, index)
            return line
        if status == "REVOKED":
            return None  # cancelled before any money moved
        raise refuse(index, _("unknown trade status “%(value)s”") % {"value": status})

    def _value_of(self, row: list[str], name: str) -> str | None:
        at = self.at[name]
        return None if at is None else row[at][1:]

    def _time(self, text: str, index: int) -> datetime.datetime:
        when = self.times.get(text)
        if when is None:
            when = parse_local_time(text, index)
            if len(self.times) >= TIMES_KEPT:
                self.times.clear()
            self.times[text] = when
        return when

    def _refuse_money(self, row: list[str], index: int) -> None:
        values = dict(zip(self.names, map(UNTICK, self.pick(row)), strict=True))
        for name, places in self.money:
            parse_money(values[name], index, what=name, places=places, allow_zero=True)  # refuses it


UNTICK = operator.itemgetter(slice(1, None))
FIRST_CHARACTER = operator.itemgetter(slice(None, 1))
# A money column's value is most often a zero, as WeChat writes one: it adds nothing to the sums.
ZEROS = frozenset(f"`0.{'0' * places}" for places in range(1, 6)) | {"`0"}
# the columns a line is read from (the money columns besides)
READ = (
    "交易时间",
    "交易状态",
    "货币种类",
    "微信订单号",
    "商户订单号",
    "微信退款单号",
    "商户退款单号",
    "退款成功时间",
    "退款申请时间",
    "订单金额",
    "退款金额",
    "手续费",
)
TIMES_KEPT = 4096
SUM_EVERY = 4096


def _getter(indexes: list[int]):
    """A row's values at `indexes`, always as a tuple."""
    if len(indexes) == 1:
        one = indexes[0]
        return lambda row: (row[one],)
    return operator.itemgetter(*indexes)


def _cents(raw: str) -> Decimal:
    """A money value already checked (back-tick included) rounded to the fen, as `read_money` reads it."""
    return Decimal(raw[1:]).quantize(CENT, rounding=ROUND_HALF_UP)


class _Sums:
    """The money columns' sums, added up a few thousand rows at a time (in C): a row's values are kept
    until then, already checked. Each value counts exactly as written (the fee's five decimals too)."""

    def __init__(self, money: list[tuple[str, int]]) -> None:
        self.names = [name for name, _places in money]
        self.sums = [ZERO] * len(money)
        self.pending: list[tuple[str, ...]] = []

    def add(self, values: tuple[str, ...]) -> None:
        self.pending.append(values)
        if len(self.pending) >= SUM_EVERY:
            self._flush()

    def _flush(self) -> None:
        for n, column in enumerate(zip(*self.pending, strict=True)):
            # each zero as written once (its decimals show in the sum), the other values each time
            values = itertools.chain(
                set(filter(ZEROS.__contains__, column)), itertools.filterfalse(ZEROS.__contains__, column)
            )
            self.sums[n] = sum(map(Decimal, map(UNTICK, values)), self.sums[n])
        self.pending.clear()

    def total(self) -> dict[str, Decimal]:
        """Every column the totals row sums (zero for one the bill does not have)."""
        self._flush()
        return {name: ZERO for name in TOTALS_OF.values() if name} | dict(
            zip(self.names, self.sums, strict=True)
        )


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
