"""WeChat Pay merchant trade bill (交易账单, API v3 `tradebill`): ALL, SUCCESS or REFUND.

A header row of Chinese column names; each value of a detail row starts with a back-tick (so that Excel
keeps long numbers as text); then a totals header (总交易单数,…) and one totals row. UTF-8 or GBK, often
gzip-packed as the download API returns it.
"""

from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from billing.money import ZERO
from billing.untrusted_files import csv_rows
from reconciliation.adapters.base import (
    ParsedLine,
    ParsedStatement,
    decode_text,
    parse_local_time,
    parse_money,
    refuse,
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
    text = decode_text(data)
    rows = list(csv_rows(text))
    if not rows or rows[0][:1] != [FIRST_COLUMN]:
        raise StatementRefused(
            "format_mismatch",
            format=_("WeChat Pay trade bill"),
            reason=_("the first column must be 交易时间"),
        )
    header = [name.strip() for name in rows[0]]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise refuse(1, _("columns missing: %(columns)s") % {"columns": ", ".join(missing)})
    col = {name: i for i, name in enumerate(header)}
    has_refunds = all(name in col for name in REFUND_COLUMNS)
    try:
        totals_at = next(i for i, row in enumerate(rows) if row[:1] == [TOTALS_HEADER[0]])
    except StopIteration:
        raise StatementRefused("trailer_missing", line=len(rows) + 1) from None
    sums = {name: ZERO for name in TOTALS_OF.values() if name}
    lines: list[ParsedLine] = []
    for index, row in enumerate(rows[1:totals_at], start=2):
        if len(row) != len(header):
            raise refuse(
                index, _("%(count)s fields, not %(expected)s") % {"count": len(row), "expected": len(header)}
            )
        values = {name: _value(row[i], index, name) for name, i in col.items()}
        amounts = {}
        for name in sums:
            if name in values:
                allow_zero = True
                amounts[name] = parse_money(
                    values[name], index, what=name, places=MONEY_PLACES.get(name, 2), allow_zero=allow_zero
                )
                sums[name] += Decimal(values[name]) if name in MONEY_PLACES else amounts[name]
        if values["货币种类"] != "CNY":
            raise StatementRefused("currency_not_cny", line=index, currency=values["货币种类"])
        status = values["交易状态"]
        when = parse_local_time(values["交易时间"], index)
        if status == "SUCCESS":
            lines.append(
                ParsedLine(
                    line_no=index,
                    kind=LineKind.PAYMENT,
                    channel_ref=values["微信订单号"],
                    merchant_ref=values["商户订单号"],
                    amount=_positive(amounts["订单金额"], index, "订单金额"),
                    fee=amounts["手续费"],
                    occurred_at=when,
                )
            )
        elif status == "REFUND":
            if not has_refunds:
                raise refuse(index, _("a REFUND row in a bill without refund columns"))
            refund_time = values.get("退款成功时间") or values.get("退款申请时间")
            lines.append(
                ParsedLine(
                    line_no=index,
                    kind=LineKind.REFUND,
                    channel_ref=values["微信退款单号"],
                    original_ref=values["微信订单号"],
                    merchant_ref=values["商户退款单号"],
                    amount=_positive(amounts["退款金额"], index, "退款金额"),
                    fee=amounts["手续费"],
                    occurred_at=parse_local_time(refund_time, index) if refund_time else when,
                )
            )
        elif status == "REVOKED":
            continue  # cancelled before any money moved
        else:
            raise refuse(index, _("unknown trade status “%(value)s”") % {"value": status})
    _check_totals(rows, totals_at, sums, len(rows[1:totals_at]))
    return ParsedStatement(format=StatementFormat.WECHAT, lines=lines)


def _positive(amount: Decimal, line: int, column: str) -> Decimal:
    if amount <= 0:
        raise refuse(line, _("%(what)s must be more than zero") % {"what": column})
    return amount


def _check_totals(rows, totals_at: int, sums: dict, count: int) -> None:
    line = totals_at + 1
    if [name.strip() for name in rows[totals_at]] != TOTALS_HEADER:
        raise refuse(line, _("the totals header is not %(columns)s") % {"columns": ",".join(TOTALS_HEADER)})
    if len(rows) != totals_at + 2:
        raise refuse(
            min(len(rows), totals_at + 3), _("there must be exactly one totals row, and it must be last")
        )
    values = rows[totals_at + 1]
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
