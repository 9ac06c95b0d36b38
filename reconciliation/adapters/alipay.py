"""Alipay merchant business detail bill (业务明细, bill_type=trade).

Comment lines start with `#` before the table (title, account, period) and after it (the totals line
`#交易合计：N笔，商家实收共X元，…`); the ids carry a trailing TAB so that Excel keeps them as text; refunds
are rows of 业务类型 退款 with negative amounts and their 退款批次号/请求号. GBK, usually inside a zip.
"""

import re

from django.utils.translation import gettext_lazy as _

from billing.money import ZERO
from billing.untrusted_files import bounded_lines, csv_rows
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

TITLE = "#支付宝业务明细查询"
FIRST_COLUMN = "支付宝交易号"
REQUIRED = [
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "完成时间",
    "订单金额（元）",
    "商家实收（元）",
    "退款批次号/请求号",
    "服务费（元）",
]
TOTAL_RE = re.compile(r"^#交易合计[：:]\s*(?P<count>\d+)笔[，,]\s*商家实收共\s*(?P<net>-?\d+(\.\d{1,2})?)元")
REFUND_TOTAL_RE = re.compile(
    r"^#退款合计[：:]\s*(?P<count>\d+)笔[，,]\s*商家实收共\s*(?P<net>-?\d+(\.\d{1,2})?)元"
)


def sniff(text_head: str) -> bool:
    return text_head.lstrip("\ufeff").startswith(TITLE)


def _signed(text: str, line: int, what: str):
    text = text.strip()
    negative = text.startswith("-")
    value = parse_money(text.lstrip("-"), line, what=what, allow_zero=True)
    return -value if negative else value


def parse(data: bytes) -> ParsedStatement:
    text = decode_text(data)
    physical = [line.rstrip("\r\n") for line in bounded_lines(text)]
    if not physical or physical[0].strip() != TITLE:
        raise StatementRefused(
            "format_mismatch",
            format=_("Alipay business detail bill"),
            reason=_("the first line must be #支付宝业务明细查询"),
        )
    header_at = next((i for i, row in enumerate(physical) if row.startswith(FIRST_COLUMN)), None)
    if header_at is None:
        raise refuse(len(physical), _("the table header (支付宝交易号,…) is missing"))
    header = [name.strip() for name in next(csv_rows([physical[header_at]]))]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise refuse(header_at + 1, _("columns missing: %(columns)s") % {"columns": ", ".join(missing)})
    col = {name: i for i, name in enumerate(header)}
    lines: list[ParsedLine] = []
    net_sum = ZERO
    trade_count = 0
    totals = None
    refund_totals = None
    end_seen = False
    for index in range(header_at + 1, len(physical)):
        raw = physical[index]
        line_no = index + 1
        if raw.startswith("#"):
            if "业务明细列表结束" in raw:
                end_seen = True
            elif match := TOTAL_RE.match(raw.strip()):
                totals = (line_no, match)
            elif match := REFUND_TOTAL_RE.match(raw.strip()):
                refund_totals = (line_no, match)
            continue
        if not raw.strip():
            continue
        if end_seen:
            raise refuse(line_no, _("a table row after the end of the table"))
        row = next(csv_rows([raw]))
        if len(row) != len(header):
            raise refuse(
                line_no,
                _("%(count)s fields, not %(expected)s") % {"count": len(row), "expected": len(header)},
            )
        values = {name: row[i].strip() for name, i in col.items()}
        kind_text = values["业务类型"]
        received = _signed(values["商家实收（元）"], line_no, "商家实收（元）")
        fee = abs(_signed(values["服务费（元）"], line_no, "服务费（元）"))
        trade_no = values["支付宝交易号"]
        if not trade_no:
            raise refuse(line_no, _("the 支付宝交易号 is empty"))
        when = parse_local_time(values["完成时间"], line_no)
        net_sum += received
        trade_count += 1
        if kind_text == "交易":
            if received <= 0:
                raise refuse(line_no, _("%(what)s must be more than zero") % {"what": "商家实收（元）"})
            lines.append(
                ParsedLine(
                    line_no=line_no,
                    kind=LineKind.PAYMENT,
                    channel_ref=trade_no,
                    merchant_ref=values["商户订单号"],
                    amount=received,
                    fee=fee,
                    occurred_at=when,
                )
            )
        elif kind_text == "退款":
            batch = values["退款批次号/请求号"]
            if received >= 0 or not batch:
                raise refuse(line_no, _("a refund row needs a negative amount and its 退款批次号/请求号"))
            lines.append(
                ParsedLine(
                    line_no=line_no,
                    kind=LineKind.REFUND,
                    channel_ref=f"{trade_no}/{batch}"[:64],
                    original_ref=trade_no,
                    merchant_ref=values["商户订单号"],
                    amount=-received,
                    fee=fee,
                    occurred_at=when,
                )
            )
        else:
            raise refuse(line_no, _("unknown 业务类型 “%(value)s”") % {"value": kind_text})
    if totals is None:
        raise StatementRefused("trailer_missing", line=len(physical) + 1)
    line_no, match = totals
    stated_count = int(match["count"])
    counted = trade_count if refund_totals is None else sum(1 for ln in lines if ln.kind == LineKind.PAYMENT)
    if stated_count != counted:
        raise StatementRefused(
            "totals_mismatch", line=line_no, field="笔数", stated=stated_count, actual=counted
        )
    stated_net = parse_money(match["net"].lstrip("-"), line_no, what="商家实收", allow_zero=True)
    if match["net"].startswith("-"):
        stated_net = -stated_net
    expected_net = (
        net_sum
        if refund_totals is None
        else sum((ln.amount for ln in lines if ln.kind == LineKind.PAYMENT), ZERO)
    )
    if stated_net != expected_net:
        raise StatementRefused(
            "totals_mismatch", line=line_no, field="商家实收", stated=stated_net, actual=expected_net
        )
    return ParsedStatement(format=StatementFormat.ALIPAY, lines=lines)
