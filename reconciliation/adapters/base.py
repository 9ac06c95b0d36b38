"""What every statement adapter returns, and the helpers they share."""

import codecs
import datetime
import functools
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.utils.translation import gettext_lazy as _

from billing import untrusted_files
from billing.money import CENT, ZERO
from reconciliation.choices import LineKind
from reconciliation.exceptions import StatementRefused

SHANGHAI = ZoneInfo("Asia/Shanghai")
AMOUNT_2DP = re.compile(r"^\d{1,12}\.\d{2}$")
LOCAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


@dataclass
class ParsedLine:
    line_no: int
    kind: str
    channel_ref: str
    amount: Decimal
    fee: Decimal = ZERO
    original_ref: str = ""
    merchant_ref: str = ""
    receipt_no: str = ""
    biller_code: str = ""
    account_no: str = ""
    currency: str = "CNY"
    occurred_at: datetime.datetime | None = None
    # The payer's free text (camt RmtInf/Ustrd): an agent's float transfer names the agent there. Not
    # stored, not in the fingerprint: read again from the kept file by `services.agent_topups`.
    remittance: str = ""


@dataclass
class ParsedStatement:
    format: str
    lines: list[ParsedLine]
    channel_code: str = ""
    business_date: datetime.date | None = None
    records: list[dict] = field(default_factory=list)  # camt: one dict per Stmt/Ntfctn, for the oracle tests

    @property
    def payments_total(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.kind == LineKind.PAYMENT), ZERO)

    @property
    def refunds_total(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.kind == LineKind.REFUND), ZERO)

    @property
    def fees_total(self) -> Decimal:
        return sum((ln.fee for ln in self.lines), ZERO)

    def fingerprint(self, channel_code: str, business_date: datetime.date) -> str:
        """What the statement says, not how it was sent: SHA-256 over the channel, the day and the decoded
        lines (each normalised, in a fixed order). The same statement re-sent with CRLF line ends, a
        byte-order mark, GBK instead of UTF-8, gzipped or zipped has the same fingerprint."""
        lines = sorted(
            [
                ln.kind,
                ln.channel_ref,
                ln.original_ref,
                ln.merchant_ref,
                ln.receipt_no,
                ln.biller_code,
                ln.account_no,
                str(ln.amount.quantize(CENT)),
                str(ln.fee.quantize(CENT)),
                ln.currency,
                ln.occurred_at.astimezone(datetime.UTC).isoformat() if ln.occurred_at else "",
            ]
            for ln in self.lines
        )
        text = json.dumps([channel_code, business_date.isoformat(), lines], ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def refuse(line: int, reason) -> StatementRefused:
    return StatementRefused("line_invalid", line=line, reason=reason)


def unwrap(data: bytes) -> bytes:
    """Gzip (WeChat's download API) and zip (Alipay's, with a 汇总 summary beside the detail) arrive
    packed: opened within the bounds of billing.untrusted_files, one file inside."""
    with untrusted_files.refusals_as(StatementRefused):
        return untrusted_files.unpack(data, pick=_detail_files)


def _detail_files(names: list[str]) -> list[str]:
    return [name for name in names if "汇总" not in _zip_name(name)]


def _zip_name(name: str) -> str:
    # Alipay's zips carry GBK names without the UTF-8 flag: zipfile decoded them as cp437.
    try:
        return name.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return name


def unpacked_pieces(data: bytes) -> Iterator[bytes]:
    """`unwrap` in pieces, for a statement read as a stream: it is never held unpacked."""
    with untrusted_files.refusals_as(StatementRefused):
        yield from untrusted_files.iter_unpacked(data, pick=_detail_files)


def open_text(pieces: Callable[[], Iterable[bytes]]) -> io.TextIOWrapper:
    """`decode_text` as a stream over the bytes `pieces()` yields (called twice: a first pass decides
    the encoding as `decode_text` does, over the whole file, keeping only the decoder's state)."""
    encoding = _encoding_of(pieces())
    return io.TextIOWrapper(
        io.BufferedReader(_PieceReader(_without_bom(pieces())), untrusted_files.CHUNK),
        encoding=encoding,
        newline="",
    )


def text_rows(text: io.TextIOWrapper) -> Iterator[list[str]]:
    """`csv_rows` over a stream from `open_text`; bytes that are not of its encoding refuse the file."""
    try:
        yield from untrusted_files.csv_rows(text)
    except UnicodeDecodeError:
        raise StatementRefused("file_unreadable") from None


def _encoding_of(pieces: Iterable[bytes]) -> str:
    blank = True
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for piece in _without_bom(pieces, blank_check := []):
            if blank and piece.strip():
                blank = False
            decoder.decode(piece)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "gb18030"
    if blank and not blank_check:
        raise StatementRefused("file_empty")
    return "utf-8"


def _without_bom(pieces: Iterable[bytes], had_bom: list | None = None) -> Iterator[bytes]:
    head = b""
    pieces = iter(pieces)
    for piece in pieces:
        head += piece
        if len(head) >= len(codecs.BOM_UTF8):
            break
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
        if had_bom is not None:
            had_bom.append(True)
    if head:
        yield head
    yield from pieces


class _PieceReader(io.RawIOBase):
    """A binary stream over an iterator of byte pieces."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._pending = memoryview(piece)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without a byte-order mark), else GBK (GB18030, its superset)."""
    if not data.strip():
        raise StatementRefused("file_empty")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise StatementRefused("file_unreadable") from None


def parse_money(text: str, line: int, *, what, places: int = 2, allow_zero: bool = False) -> Decimal:
    """A non-negative decimal with up to `places` decimals, returned rounded to the fen."""
    text = text.strip()
    read = read_money(text, places)
    if read is None:
        raise refuse(line, _("%(what)s “%(value)s” is not an amount") % {"what": what, "value": text})
    value, zero = read
    if zero and not allow_zero:
        raise refuse(line, _("%(what)s must be more than zero") % {"what": what})
    return value


@functools.lru_cache(maxsize=4096)  # a bill repeats its zeros, fees and prices: read each once
def read_money(text: str, places: int) -> tuple[Decimal, bool] | None:
    """(the amount rounded to the fen, whether it is zero as written), None when it is not an amount: what
    `parse_money` reads, for a loop over a million lines that refuses through `parse_money`."""
    if not _money_pattern(places).fullmatch(text):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value.quantize(CENT, rounding=ROUND_HALF_UP), value == 0


@functools.cache
def _money_pattern(places: int) -> re.Pattern:
    return re.compile(rf"\d{{1,12}}(\.\d{{1,{places}}})?")


def parse_local_time(text: str, line: int) -> datetime.datetime:
    """`2021-01-28 17:07:11` in Beijing time, as WeChat Pay and Alipay write it."""
    if LOCAL_TIME.fullmatch(text):  # the shape they write, read fast; any other goes through strptime
        try:
            return datetime.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)
        except ValueError:
            pass  # refused below, with strptime's reading of it
    try:
        naive = datetime.datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007
    except ValueError:
        raise refuse(line, _("“%(value)s” is not a time (YYYY-MM-DD HH:MM:SS)") % {"value": text}) from None
    return naive.replace(tzinfo=SHANGHAI)
