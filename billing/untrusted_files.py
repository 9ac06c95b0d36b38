"""Files that come from outside, read within bounds: ONE place for the limits and the safe readers.

Every reader of a file the platform did not write — channel statements (`reconciliation.adapters`), the
settlement confirmations (camt.054), bill files (`billing.bill_import` and its COPY path), batch proxy
payments (`payers.proxy`) and branch files (`branches.imports`) — goes through here:

* `read_upload` / `read_path` / `check_size`: at most the kind's byte limit (`UNTRUSTED_FILE_MAX_BYTES`),
  checked before the bytes are read;
* `unpack`: gzip and zip opened by streaming decompression that stops at `UNTRUSTED_UNPACKED_MAX_BYTES`,
  at a compression ratio above `UNTRUSTED_MAX_COMPRESSION_RATIO`, and refuses more than
  `UNTRUSTED_ZIP_MAX_MEMBERS` members; `check_zip_container` checks an XLSX workbook the same way before
  openpyxl opens it; damaged or cut-short archives are refused;
* `bounded_lines` / `csv_rows`: no line longer than `UNTRUSTED_LINE_MAX_CHARS` (read with a bounded
  `readline`, so a 10 MB line is never held whole) and no CSV field longer than
  `UNTRUSTED_FIELD_MAX_CHARS`;
* `xml_tree`: XML parsed by defusedxml's parser with a DOCTYPE, entities and external references refused
  (billion laughs, XXE), whatever the expat of the machine.

Each refusal is a `FileRefused` with a stable code and a message in the user's language; apps that report
their own error class re-raise it as theirs with `refusals_as` (their message tables include
`FILE_MESSAGES`). This module imports nothing of the other apps.
"""

from __future__ import annotations

import contextlib
import csv
import io
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO
from xml.etree import ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from billing.exceptions import BillingError

# What each kind of file is called in a refusal.
KINDS = {
    "statement": _("channel statement"),
    "confirmation": _("settlement confirmation"),
    "bill_file": _("bill file"),
    "proxy_batch": _("batch payment file"),
    "branch_file": _("branch file"),
}

FILE_MESSAGES = {
    "file_too_large": _("The %(kind)s is %(size)s bytes; at most %(limit)s bytes are accepted."),
    "archive_corrupt": _("The %(format)s archive is damaged or cut short: %(detail)s"),
    "archive_too_large": _("Unpacked, the archive would be larger than %(limit)s bytes: it is refused."),
    "archive_ratio_too_high": _(
        "The archive unpacks to more than %(ratio)s times its size: it is refused as a compression bomb."
    ),
    "archive_too_many_members": _("The archive holds %(count)s files; at most %(limit)s are accepted."),
    "archive_member_missing": _("The archive holds no file to read."),
    "archive_unsupported": _("The archive cannot be opened: %(detail)s"),
    "xml_forbidden": _(
        "The XML declares a DOCTYPE or entities (%(detail)s), which the platform never reads: "
        "send the file without them."
    ),
    "xml_invalid": _("Line %(line)s: the XML cannot be read: %(reason)s"),
    "line_too_long": _("Line %(line)s is longer than %(limit)s characters: it is refused."),
    "field_too_long": _("Line %(line)s has a field longer than %(limit)s characters: it is refused."),
    "csv_invalid": _("Line %(line)s cannot be read as CSV: %(detail)s"),
    "text_encoding_invalid": _("The file is not UTF-8 text: save it as UTF-8 (CSV UTF-8 in Excel)."),
    "file_format_unsupported": _("Only these kinds of file are read: %(formats)s."),
    "file_unreadable_as": _("The file cannot be read as %(format)s: %(detail)s"),
}

CHUNK = 1 << 16


class FileRefused(BillingError):
    """A file refused whole before anything of it was used; nothing was stored."""

    messages = FILE_MESSAGES


@contextlib.contextmanager
def refusals_as(error_class: type[BillingError]) -> Iterator[None]:
    """Re-raise a `FileRefused` as the caller's own error class (its messages include FILE_MESSAGES)."""
    try:
        yield
    except FileRefused as refused:
        raise error_class(refused.code, **refused.params) from None


# Limits ----------------------------------------------------------------------------------------------


def max_bytes(kind: str) -> int:
    return int(settings.UNTRUSTED_FILE_MAX_BYTES[kind])


def unpacked_max_bytes() -> int:
    return int(settings.UNTRUSTED_UNPACKED_MAX_BYTES)


def max_ratio() -> int:
    return int(settings.UNTRUSTED_MAX_COMPRESSION_RATIO)


def line_max_chars() -> int:
    return int(settings.UNTRUSTED_LINE_MAX_CHARS)


def field_max_chars() -> int:
    return int(settings.UNTRUSTED_FIELD_MAX_CHARS)


# Small outputs are never bombs, however well they compress (a statement of one repeated line).
RATIO_FLOOR = 1 << 20


# Size ------------------------------------------------------------------------------------------------


def check_size(size: int, kind: str) -> None:
    limit = max_bytes(kind)
    if size > limit:
        raise FileRefused("file_too_large", kind=KINDS[kind], size=size, limit=limit)


def read_stream(stream: IO[bytes], kind: str) -> bytes:
    """At most the kind's limit from a binary stream: one byte more and it is refused."""
    limit = max_bytes(kind)
    data = stream.read(limit + 1)
    check_size(len(data), kind)
    return data


def read_upload(upload, kind: str) -> bytes:
    """An uploaded file (Django's UploadedFile): its size is checked before a byte of it is read."""
    if getattr(upload, "size", None) is not None:
        check_size(upload.size, kind)
    return read_stream(upload, kind)


def read_path(path: Path, kind: str) -> bytes:
    """A file on disk (the nightly inbox, a management command): its size is checked before reading."""
    check_size(path.stat().st_size, kind)
    with path.open("rb") as stream:
        return read_stream(stream, kind)


# Archives --------------------------------------------------------------------------------------------


class _Caps:
    """Bytes unpacked so far, refused as soon as the next piece would pass the caps."""

    def __init__(self, packed_size: int) -> None:
        self.size = 0
        self.packed_size = max(packed_size, 1)
        self.limit = unpacked_max_bytes()
        self.ratio = max_ratio()

    def add(self, piece: bytes) -> bytes:
        size = self.size + len(piece)
        if size > self.limit:
            raise FileRefused("archive_too_large", limit=self.limit)
        if size > RATIO_FLOOR and size > self.ratio * self.packed_size:
            raise FileRefused("archive_ratio_too_high", ratio=self.ratio)
        self.size = size
        return piece


def is_gzip(data: bytes) -> bool:
    return data[:2] == b"\x1f\x8b"


def is_zip(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04"


def gunzip(data: bytes) -> bytes:
    """A gzip file (one member or several in a row), inflated piece by piece under the caps: every step's
    output is at most CHUNK bytes (`max_length`), so a bomb is stopped before it is held."""
    return b"".join(iter_gunzip(data))  # joined once at the end: no growing buffer copied over and over


def iter_gunzip(data: bytes) -> Iterator[bytes]:
    """`gunzip`'s pieces (each at most CHUNK bytes) as they are inflated, for a reader that streams."""
    caps = _Caps(len(data))
    pending = memoryview(data)
    position = 0
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        while True:
            if inflater.unconsumed_tail:
                piece = inflater.decompress(inflater.unconsumed_tail, CHUNK)
            elif position < len(pending):
                piece = inflater.decompress(pending[position : position + CHUNK], CHUNK)
                position += CHUNK
            else:
                piece = inflater.decompress(b"", CHUNK)  # output zlib still holds, if any
                if not piece and not inflater.eof:
                    raise FileRefused("archive_corrupt", format="gzip", detail=_("the file is cut short"))
            if piece:
                yield caps.add(piece)
            if inflater.eof:
                rest = inflater.unused_data + bytes(pending[position:])
                if not rest.strip(b"\0"):  # the end, or the zero padding some tools add
                    break
                if not is_gzip(rest):
                    raise FileRefused("archive_corrupt", format="gzip", detail=_("bytes after the end"))
                pending, position = memoryview(rest), 0
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    except zlib.error as exc:
        raise FileRefused("archive_corrupt", format="gzip", detail=str(exc)[:200]) from None


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise FileRefused("archive_corrupt", format="zip", detail=str(exc)[:200]) from None


def _check_members(archive: zipfile.ZipFile, packed_size: int) -> list[zipfile.ZipInfo]:
    """Count, declared sizes and ratio of every member, before anything is inflated. zipfile never
    inflates a member past its declared size, so the declared sizes bound what reading can cost."""
    members = [info for info in archive.infolist() if not info.is_dir()]
    limit = int(settings.UNTRUSTED_ZIP_MAX_MEMBERS)
    if len(members) > limit:
        raise FileRefused("archive_too_many_members", count=len(members), limit=limit)
    total = sum(info.file_size for info in members)
    if total > unpacked_max_bytes():
        raise FileRefused("archive_too_large", limit=unpacked_max_bytes())
    if total > RATIO_FLOOR and total > max_ratio() * max(packed_size, 1):
        raise FileRefused("archive_ratio_too_high", ratio=max_ratio())
    return members


def check_zip_container(data: bytes) -> None:
    """A zip-based document (XLSX) checked before its reader opens it: readable, few members, caps."""
    with _open_zip(data) as archive:
        _check_members(archive, len(data))
        bad = _test_headers(archive)
        if bad:
            raise FileRefused("archive_corrupt", format="zip", detail=bad)


def _test_headers(archive: zipfile.ZipFile) -> str:
    for info in archive.infolist():
        if info.flag_bits & 0x1:
            return str(_("an encrypted member"))
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return str(_("an unsupported compression method"))
    return ""


def unzip(data: bytes, *, pick: Callable[[list[str]], list[str]] | None = None) -> bytes:
    """The one file to read inside a zip (the first of `pick(names)` when given), read in pieces under
    the caps."""
    return b"".join(iter_unzip(data, pick=pick))


def iter_unzip(data: bytes, *, pick: Callable[[list[str]], list[str]] | None = None) -> Iterator[bytes]:
    """`unzip`'s pieces as they are inflated; the archive is checked before the first one."""
    with _open_zip(data) as archive:
        members = _check_members(archive, len(data))
        names = [info.filename for info in members]
        chosen = pick(names) if pick else names
        if not chosen:
            raise FileRefused("archive_member_missing")
        bad = _test_headers(archive)
        if bad:
            raise FileRefused("archive_unsupported", detail=bad)
        caps = _Caps(len(data))
        try:
            with archive.open(chosen[0]) as member:
                while piece := member.read(CHUNK):
                    yield caps.add(piece)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise FileRefused("archive_corrupt", format="zip", detail=str(exc)[:200]) from None
        except (NotImplementedError, RuntimeError) as exc:
            raise FileRefused("archive_unsupported", detail=str(exc)[:200]) from None


def unpack(data: bytes, *, pick: Callable[[list[str]], list[str]] | None = None) -> bytes:
    """Gzip and zip opened (one file inside); anything else returned as it is."""
    if is_gzip(data):
        return gunzip(data)
    if is_zip(data):
        return unzip(data, pick=pick)
    return data


def iter_unpacked(data: bytes, *, pick: Callable[[list[str]], list[str]] | None = None) -> Iterator[bytes]:
    """`unpack` in pieces as they are inflated, so that a large statement is never held unpacked: a
    refusal of the caps comes when the piece that passes them is reached."""
    if is_gzip(data):
        return iter_gunzip(data)
    if is_zip(data):
        return iter_unzip(data, pick=pick)
    view = memoryview(data)
    return (bytes(view[start : start + CHUNK]) for start in range(0, len(data), CHUNK))


# Lines and CSV ---------------------------------------------------------------------------------------


def bounded_lines(text: IO[str] | str) -> Iterator[str]:
    """The lines of a text (with their line ends), none longer than the line cap; a longer one is
    refused after reading at most the cap, never held whole."""
    stream = io.StringIO(text, newline="") if isinstance(text, str) else text
    limit = line_max_chars()
    readline = stream.readline
    number = 0
    while line := readline(limit + 2):  # the cap and room for "\r\n"
        number += 1
        if len(line) > limit and len(line.rstrip("\r\n")) > limit:
            raise FileRefused("line_too_long", line=number, limit=limit)
        yield line


def csv_rows(text: IO[str] | str | Iterable[str], **reader_options) -> Iterator[list[str]]:
    """csv.reader over bounded lines (a text or a stream; an iterable of lines is taken as it is), with
    the field cap (csv.field_size_limit): a longer field, even one spanning lines inside quotes, is
    refused with its line number."""
    source = bounded_lines(text) if isinstance(text, (str, io.TextIOBase)) else text
    limit = field_max_chars()
    csv.field_size_limit(limit)
    reader = csv.reader(source, **reader_options)
    try:
        yield from reader
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise FileRefused("field_too_long", line=reader.line_num, limit=limit) from None
        raise FileRefused("csv_invalid", line=reader.line_num, detail=str(exc)[:200]) from None


# XML -------------------------------------------------------------------------------------------------


class XmlTree:
    """An ElementTree read with defusedxml's parser (DOCTYPE, entities and external references refused)
    that remembers the line each element starts on."""

    def __init__(self, data: bytes) -> None:
        self._begin()
        for start in range(0, len(data), CHUNK):
            self.feed(data[start : start + CHUNK])
        self.finish()

    def _begin(self) -> None:
        self.lines: dict[int, int] = {}
        self.root: ET.Element | None = None
        self._stack: list[ET.Element] = []
        self._text: list[str] = []
        self._parser = DefusedXMLParser(target=self, forbid_dtd=True)

    def feed(self, piece) -> None:
        with _xml_refusals():
            self._parser.feed(piece)

    def finish(self) -> None:
        with _xml_refusals():
            self._parser.close()
        if self.root is None:
            raise FileRefused("xml_invalid", line=1, reason=_("no element"))

    def ended(self, element: ET.Element, parent: ET.Element | None) -> None:
        """Called as each element ends, its children and text in place (XmlStream reads it there)."""

    # The parser's target interface.
    def start(self, tag, attrs):
        element = ET.Element(tag, attrs)
        self.lines[id(element)] = self._parser.parser.CurrentLineNumber
        if self._stack:
            self._stack[-1].append(element)
        else:
            self.root = element
        self._stack.append(element)
        self._text.clear()

    def end(self, tag):
        element = self._stack.pop()
        if len(element) == 0:
            element.text = "".join(self._text).strip()
        self._text.clear()
        self.ended(element, self._stack[-1] if self._stack else None)

    def data(self, text):
        self._text.append(text)

    def close(self):
        return self.root

    def line(self, element) -> int:
        return self.lines.get(id(element), 0)


class XmlStream(XmlTree):
    """An XmlTree fed piece by piece whose reader takes each element as it ends (`ended`) and may
    `forget` it: a document of a million entries is read without being held."""

    def __init__(self) -> None:  # not XmlTree's: that one parses a whole document at once
        self._begin()

    def forget(self, element: ET.Element, parent: ET.Element) -> None:
        parent.remove(element)
        for inner in element.iter():
            self.lines.pop(id(inner), None)


@contextlib.contextmanager
def _xml_refusals() -> Iterator[None]:
    try:
        yield
    except DefusedXmlException as exc:
        raise FileRefused("xml_forbidden", detail=type(exc).__name__) from None
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else 0
        reason = str(exc).split(":", 1)[0]
        raise FileRefused("xml_invalid", line=line, reason=reason) from None
