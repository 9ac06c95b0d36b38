"""Files to rows: a CSV (its encoding given or sniffed) or XLSX file, as bytes or a stream, within the
bounds of billing.untrusted_files, read into a header and rows."""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from billing.bill_import.cells import BLANKS
from billing.bill_import.records import BillImportError
from billing.untrusted_files import (
    check_size,
    check_zip_container,
    csv_rows,
    refusals_as,
)

# How much of a file decides its encoding when none is given (the SQL path sniffs the same way).
SNIFF_BYTES = 1 << 20


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: Iterable[Sequence[object]]  # data rows, in order, the first being spreadsheet row 2


def normalise_encoding(name: str) -> str:
    """Python's canonical codec name for what a user typed ("GBK", "utf8", "UTF-8-SIG")."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise BillImportError("encoding_invalid", encoding=name) from None


def sniff_encoding(head: bytes) -> str:
    """UTF-8 with a BOM, UTF-8, or else GB18030 (a superset of GBK and GB2312, what Excel saves in
    Chinese Windows): decided on the first `SNIFF_BYTES` of the file."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    sample = head[:SNIFF_BYTES]
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def is_xlsx(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04"


def read_table(data: bytes, *, encoding: str | None = None, filename: str = "") -> Table:
    """Headers and rows of a CSV or XLSX file given as bytes, within the bounds of
    billing.untrusted_files (size, XLSX archive caps, line and field lengths)."""
    with refusals_as(BillImportError):
        check_size(len(data), "bill_file")
    if is_xlsx(data) or filename.lower().endswith(".xlsx"):
        return _read_xlsx(data)
    return read_csv_stream(io.BytesIO(data), encoding=encoding)


def read_csv_stream(stream, *, encoding: str | None = None) -> Table:
    """A CSV file read lazily from a binary stream: bounded memory whatever its size."""
    reader = csv_reader(stream, encoding=encoding)
    try:
        headers = next(reader)
    except StopIteration:
        raise BillImportError("file_empty") from None
    return Table(headers=headers, rows=reader)


def csv_reader(stream, *, encoding: str | None, raw=None) -> Iterator[list[str]]:
    """The rows of a CSV bill file from a binary stream (its encoding given or sniffed), every line and
    field within the caps of billing.untrusted_files: a refusal is a BillImportError naming the line. The
    COPY path reads through `raw` (the stream wrapped to count bytes) the same way."""
    head = stream.read(SNIFF_BYTES)
    stream.seek(0)
    encoding = normalise_encoding(encoding) if encoding else sniff_encoding(head)
    if encoding == "utf-8" and head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    text = io.TextIOWrapper(raw if raw is not None else stream, encoding=encoding, newline="")
    return _bounded_rows(text, encoding)


def _bounded_rows(text: io.TextIOWrapper, encoding: str) -> Iterator[list[str]]:
    try:
        with refusals_as(BillImportError):
            yield from csv_rows(text)
    except UnicodeDecodeError:
        raise BillImportError("encoding_invalid", encoding=encoding) from None


def _read_xlsx(data: bytes) -> Table:
    from openpyxl import load_workbook  # reads the XML parts with defusedxml, which is installed

    with refusals_as(BillImportError):
        check_zip_container(data)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise BillImportError("file_unreadable", format="XLSX", detail=str(exc)[:200]) from None
    rows = workbook.worksheets[0].iter_rows(values_only=True)
    try:
        headers = next(rows)
    except StopIteration:
        raise BillImportError("file_empty") from None
    headers = ["" if cell is None else str(cell) for cell in headers]
    while headers and not headers[-1].strip(BLANKS):
        headers.pop()
    return Table(headers=headers, rows=rows)
