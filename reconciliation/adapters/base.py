"""What every statement adapter returns, and the helpers they share."""

import codecs
import datetime
import gzip
import io
import re
import zipfile
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.utils.translation import gettext_lazy as _

from billing.money import CENT, ZERO
from reconciliation.choices import LineKind
from reconciliation.exceptions import StatementRefused

SHANGHAI = ZoneInfo("Asia/Shanghai")
AMOUNT_2DP = re.compile(r"^\d{1,12}\.\d{2}$")


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


def refuse(line: int, reason) -> StatementRefused:
    return StatementRefused("line_invalid", line=line, reason=reason)


def unwrap(data: bytes) -> bytes:
    """Gzip (WeChat's download API) and zip (Alipay's) arrive packed: open them; one file inside."""
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError):
            raise StatementRefused("file_unreadable") from None
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/") and "汇总" not in _zip_name(n)]
            if not names:
                raise StatementRefused("file_empty")
            return archive.read(names[0])
    return data


def _zip_name(name: str) -> str:
    # Alipay's zips carry GBK names without the UTF-8 flag: zipfile decoded them as cp437.
    try:
        return name.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return name


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
    if not re.fullmatch(rf"\d{{1,12}}(\.\d{{1,{places}}})?", text):
        raise refuse(line, _("%(what)s “%(value)s” is not an amount") % {"what": what, "value": text})
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise refuse(
            line, _("%(what)s “%(value)s” is not an amount") % {"what": what, "value": text}
        ) from None
    if value == 0 and not allow_zero:
        raise refuse(line, _("%(what)s must be more than zero") % {"what": what})
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_local_time(text: str, line: int) -> datetime.datetime:
    """`2021-01-28 17:07:11` in Beijing time, as WeChat Pay and Alipay write it."""
    try:
        naive = datetime.datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007
    except ValueError:
        raise refuse(line, _("“%(value)s” is not a time (YYYY-MM-DD HH:MM:SS)") % {"value": text}) from None
    return naive.replace(tzinfo=SHANGHAI)
