"""Statement format adapters: each turns a file's bytes into a ParsedStatement or refuses it whole; the
formats whose statements run to a million lines are also read as a stream (`stream_statement`)."""

from collections.abc import Iterator

from billing import untrusted_files
from reconciliation.adapters import alipay, billpay, camt, wechat
from reconciliation.adapters.base import (
    ParsedLine,
    ParsedStatement,
    decode_text,
    open_text,
    unpacked_pieces,
    unwrap,
)
from reconciliation.choices import StatementFormat
from reconciliation.exceptions import StatementRefused

PARSERS = {
    StatementFormat.BILLPAY: billpay.parse,
    StatementFormat.WECHAT: wechat.parse,
    StatementFormat.ALIPAY: alipay.parse,
    StatementFormat.CAMT053: camt.parse,
    StatementFormat.CAMT054: camt.parse,
}

# Formats read line by line: the file is never held unpacked, decoded or parsed whole.
STREAMERS = {
    StatementFormat.WECHAT: lambda data, fmt: wechat.stream(open_text(lambda: unpacked_pieces(data))),
    StatementFormat.CAMT053: lambda data, fmt: camt.stream(unpacked_pieces(data), fmt),
    StatementFormat.CAMT054: lambda data, fmt: camt.stream(unpacked_pieces(data), fmt),
}
HEAD_BYTES = 16384  # what detect_format reads of a file (it looks at the first 8 KiB at most)

__all__ = [
    "PARSERS",
    "STREAMERS",
    "ParsedLine",
    "ParsedStatement",
    "detect_format",
    "parse_statement",
    "stream_statement",
]


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


def stream_statement(data: bytes, fmt: str | None = None) -> tuple[str, Iterator[ParsedLine]] | None:
    """(format, its lines as they are read) for a statement in a format read as a stream, within the same
    bounds as `parse_statement` (each is checked when the piece or line that passes it is reached, so
    a refusal can come at any line: write what the lines give in one transaction). None for a format
    that is read whole, or not recognised by its head: `parse_statement` reads it (and refuses it)."""
    if fmt is None:
        try:
            fmt = detect_format(_unpacked_head(data))
        except StatementRefused:
            return None
    if fmt not in STREAMERS:
        return None
    return fmt, _bounded(STREAMERS[fmt], data, fmt)


def _unpacked_head(data: bytes) -> bytes:
    head = b""
    for piece in unpacked_pieces(data):
        head += piece
        if len(head) >= HEAD_BYTES:
            break
    return head


def _bounded(stream, data: bytes, fmt: str) -> Iterator[ParsedLine]:
    with untrusted_files.refusals_as(StatementRefused):
        yield from stream(data, fmt)
