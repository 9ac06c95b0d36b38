"""Statement format adapters: each turns a file's bytes into a ParsedStatement or refuses it whole."""

from billing import untrusted_files
from reconciliation.adapters import alipay, billpay, camt, wechat
from reconciliation.adapters.base import ParsedLine, ParsedStatement, decode_text, unwrap
from reconciliation.choices import StatementFormat
from reconciliation.exceptions import StatementRefused

PARSERS = {
    StatementFormat.BILLPAY: billpay.parse,
    StatementFormat.WECHAT: wechat.parse,
    StatementFormat.ALIPAY: alipay.parse,
    StatementFormat.CAMT053: camt.parse,
    StatementFormat.CAMT054: camt.parse,
}

__all__ = ["PARSERS", "ParsedLine", "ParsedStatement", "detect_format", "parse_statement"]


def detect_format(data: bytes) -> str:
    """Recognise a file by its first bytes; an unknown one is refused."""
    if billpay.sniff(data):
        return StatementFormat.BILLPAY
    if camt.sniff(data):
        head = data[:4096]
        return StatementFormat.CAMT054 if b"camt.054" in head else StatementFormat.CAMT053
    try:
        head = decode_text(data[:8192] if len(data) > 8192 else data)
    except StatementRefused:
        head = data[:8192].decode("gb18030", errors="ignore")
    if wechat.sniff(head):
        return StatementFormat.WECHAT
    if alipay.sniff(head):
        return StatementFormat.ALIPAY
    raise StatementRefused("format_unknown")


def parse_statement(data: bytes, fmt: str | None = None) -> ParsedStatement:
    """A statement as it arrived (packed or not) parsed within the bounds of billing.untrusted_files; a
    refusal of those bounds is a StatementRefused like any other."""
    data = unwrap(data)
    fmt = fmt or detect_format(data)
    if fmt not in PARSERS:
        raise StatementRefused("format_unknown")
    with untrusted_files.refusals_as(StatementRefused):
        parsed = PARSERS[fmt](data)
    if fmt in (StatementFormat.CAMT053, StatementFormat.CAMT054) and parsed.format != fmt:
        raise StatementRefused("format_mismatch", format=StatementFormat(fmt).label, reason=parsed.format)
    return parsed
