"""ISO 20022 camt.053 (bank-to-customer statement) and camt.054 (debit/credit notification).

Versions 001.02 to 001.13 of either are read; any other namespace is refused. A credit (CRDT) is money
received — a payment line; a debit (DBIT), or a reversal of a credit, is money given back — a refund
line. When the statement gives opening and closing booked balances, or a transactions summary, the
entries must add up to them.
"""

import datetime
import re
from collections.abc import Iterable, Iterator
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from xml.etree import ElementTree as ET

from django.utils.translation import gettext_lazy as _

from billing import untrusted_files
from billing.money import CENT, ZERO
from reconciliation.adapters.base import ParsedLine, ParsedStatement, refuse
from reconciliation.choices import LineKind, StatementFormat
from reconciliation.exceptions import StatementRefused

NAMESPACE_RE = re.compile(
    r"^urn:iso:std:iso:20022:tech:xsd:camt\.(?P<kind>053|054)\.001\.(?P<version>0[2-9]|1[0-3])$"
)
RECORD_TAG = {"053": ("BkToCstmrStmt", "Stmt"), "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn")}


def sniff(data: bytes) -> bool:
    head = data[:2048].lstrip(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"<?xml") or head.startswith(b"<Document")


def parse(data: bytes, *, check_totals: bool = True) -> ParsedStatement:
    """A camt.053/054 document, read by defusedxml's parser (a DOCTYPE or entities are refused)."""
    with untrusted_files.refusals_as(StatementRefused):
        tree = untrusted_files.XmlTree(data)
    root = tree.root
    namespace = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    match = NAMESPACE_RE.match(namespace)
    if root.tag.split("}")[-1] != "Document" or not match:
        raise StatementRefused("namespace_unknown", namespace=namespace or root.tag)
    ns = {"c": namespace}
    kind = match["kind"]
    message_tag, record_tag = RECORD_TAG[kind]
    message = root.find(f"c:{message_tag}", ns)
    if message is None:
        raise refuse(tree.line(root), _("the document has no %(tag)s") % {"tag": message_tag})
    records = message.findall(f"c:{record_tag}", ns)
    if not records:
        raise refuse(tree.line(message), _("the message has no %(tag)s") % {"tag": record_tag})
    lines: list[ParsedLine] = []
    parsed_records = []
    for record in records:
        record_id = _text(record, "c:Id", ns)
        entries = [
            _entry(entry, tree, ns, fallback_ref=f"{record_id}#{number}")
            for number, entry in enumerate(record.findall("c:Ntry", ns), start=1)
        ]
        if check_totals:
            _check_record(record, _Tally.of(entries), tree, ns)
        parsed_records.append(
            {
                "id": _text(record, "c:Id", ns),
                "account": _text(record, "c:Acct/c:Id/c:IBAN", ns)
                or _text(record, "c:Acct/c:Id/c:Othr/c:Id", ns),
                "entries": [e["oracle"] for e in entries],
            }
        )
        lines.extend(e["line"] for e in entries if e["line"] is not None)
    fmt = StatementFormat.CAMT053 if kind == "053" else StatementFormat.CAMT054
    return ParsedStatement(format=fmt, lines=lines, records=parsed_records)


def stream(pieces: Iterable[bytes], fmt: str) -> Iterator[ParsedLine]:
    """The document's lines as its entries end, each entry forgotten once read (iterparse with clearing);
    each record's balances and summary are checked as the record ends, with sums added up on the way.
    `fmt` is the format the file was taken for: a document of the other camt kind is refused."""
    reader = _Reader(fmt)
    for piece in pieces:
        reader.feed(piece)
        yield from reader.take()
    reader.finish()
    yield from reader.take()
    reader.check_found()


class _Reader(untrusted_files.XmlStream):
    def __init__(self, fmt: str) -> None:
        super().__init__()
        self.fmt = fmt
        self.ns: dict | None = None
        self.ready: list[ParsedLine] = []
        self.message: ET.Element | None = None
        self.records = 0
        self.tally = _Tally()

    def take(self) -> list[ParsedLine]:
        ready, self.ready = self.ready, []
        return ready

    def ended(self, element, parent) -> None:
        if self.ns is None:
            self._check_root()
        depth = len(self._stack)  # the ended element's ancestors
        if depth == 1 and self.message is None and element.tag == self.message_tag:
            self.message = element
        elif depth == 2 and parent.tag == self.message_tag and element.tag == self.record_tag:
            if self.message is None:
                self.message = parent
            if parent is self.message:
                self.records += 1
                _check_record(element, self.tally, self, self.ns)
                self.tally = _Tally()
                self.forget(element, parent)
        elif (
            depth == 3
            and element.tag == self.entry_tag
            and parent.tag == self.record_tag
            and self._stack[1].tag == self.message_tag
            and self.message in (None, self._stack[1])
        ):
            number = self.tally.count + 1
            entry = _entry(element, self, self.ns, fallback_ref=f"{_text(parent, 'c:Id', self.ns)}#{number}")
            self.tally.add(entry)
            if entry["line"] is not None:
                self.ready.append(entry["line"])
            self.forget(element, parent)

    def _check_root(self) -> None:
        root = self.root
        namespace = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
        match = NAMESPACE_RE.match(namespace)
        if root.tag.split("}")[-1] != "Document" or not match:
            raise StatementRefused("namespace_unknown", namespace=namespace or root.tag)
        kind = match["kind"]
        found = StatementFormat.CAMT053 if kind == "053" else StatementFormat.CAMT054
        if found != self.fmt:
            raise StatementRefused("format_mismatch", format=StatementFormat(self.fmt).label, reason=found)
        self.ns = {"c": namespace}
        message_tag, record_tag = RECORD_TAG[kind]
        self.message_tag = f"{{{namespace}}}{message_tag}"
        self.record_tag = f"{{{namespace}}}{record_tag}"
        self.entry_tag = f"{{{namespace}}}Ntry"

    def check_found(self) -> None:
        if self.ns is None:
            self._check_root()
        if self.message is None:
            tag = self._local(self.message_tag)
            raise refuse(self.line(self.root), _("the document has no %(tag)s") % {"tag": tag})
        if not self.records:
            tag = self._local(self.record_tag)
            raise refuse(self.line(self.message), _("the message has no %(tag)s") % {"tag": tag})

    @staticmethod
    def _local(tag: str) -> str:
        return tag.split("}")[-1]


def _text(element, path: str, ns) -> str:
    found = element.find(path, ns)
    return (found.text or "").strip() if found is not None else ""


def _amount(element, tree) -> tuple[Decimal, str]:
    text = (element.text or "").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise refuse(tree.line(element), _("“%(value)s” is not an amount") % {"value": text}) from None
    if not value.is_finite() or value < 0:
        raise refuse(tree.line(element), _("“%(value)s” is not an amount") % {"value": text})
    return value, element.get("Ccy", "")


def _entry(entry, tree, ns, *, fallback_ref: str) -> dict:
    line = tree.line(entry)
    amt = entry.find("c:Amt", ns)
    if amt is None:
        raise refuse(line, _("an entry (Ntry) without an amount (Amt)"))
    value, currency = _amount(amt, tree)
    indicator = _text(entry, "c:CdtDbtInd", ns)
    if indicator not in {"CRDT", "DBIT"}:
        raise refuse(line, _("CdtDbtInd “%(value)s” is neither CRDT nor DBIT") % {"value": indicator})
    reversal = _text(entry, "c:RvslInd", ns).lower() == "true"
    status = _text(entry, "c:Sts/c:Cd", ns) or _text(entry, "c:Sts", ns)
    booked = _text(entry, "c:BookgDt/c:Dt", ns) or _text(entry, "c:BookgDt/c:DtTm", ns)[:10]
    value_date = _text(entry, "c:ValDt/c:Dt", ns) or _text(entry, "c:ValDt/c:DtTm", ns)[:10]
    servicer_ref = _text(entry, "c:AcctSvcrRef", ns)
    entry_ref = _text(entry, "c:NtryRef", ns)
    tx = entry.find("c:NtryDtls/c:TxDtls", ns)
    end_to_end = tx_id = uetr = remittance = ""
    if tx is not None:
        end_to_end = _text(tx, "c:Refs/c:EndToEndId", ns)
        tx_id = _text(tx, "c:Refs/c:TxId", ns) or _text(tx, "c:Refs/c:AcctSvcrRef", ns)
        uetr = _text(tx, "c:Refs/c:UETR", ns)
        remittance = " ".join(u.text or "" for u in tx.findall("c:RmtInf/c:Ustrd", ns)).strip()
    signed = value if indicator == "CRDT" else -value
    oracle = {
        "amount_minor": str(
            (signed * 100).quantize(Decimal(1)) if signed == signed.quantize(CENT) else signed * 100
        ),
        "currency": currency,
        "indicator": indicator,
        "status": status or None,
        "booking_date": booked or None,
        "value_date": value_date or None,
        "servicer_ref": servicer_ref or None,
        "end_to_end": end_to_end or None,
        "reversal": reversal,
    }
    if status and status not in {"BOOK", "BOOKED"}:
        return {
            "oracle": oracle,
            "line": None,
            "signed": signed,
        }  # pending or informational: no money moved yet
    if value != value.quantize(CENT):
        raise refuse(
            line,
            _("the amount %(value)s has more than two decimals of %(currency)s")
            % {"value": value, "currency": currency},
        )
    if value == 0:
        raise refuse(line, _("an entry of zero"))
    receipt = re.search(r"\bR\d{8}[0-9A-Z]{16}\b", remittance)
    # Without any reference the entry is known by its statement and position; it can still match by
    # amount and time.
    channel_ref = servicer_ref or tx_id or entry_ref or end_to_end or uetr or fallback_ref
    is_refund = (indicator == "DBIT") != reversal
    occurred = None
    if booked:
        try:
            occurred = datetime.datetime.combine(
                datetime.date.fromisoformat(booked), datetime.time(), tzinfo=datetime.UTC
            )
        except ValueError:
            raise refuse(line, _("“%(value)s” is not a day (YYYY-MM-DD)") % {"value": booked}) from None
    parsed = ParsedLine(
        line_no=line,
        kind=LineKind.REFUND if is_refund else LineKind.PAYMENT,
        channel_ref=channel_ref[:64],
        original_ref=(end_to_end if is_refund else "")[:64],
        merchant_ref=("" if is_refund else end_to_end)[:128],
        receipt_no=receipt.group(0) if receipt else "",
        amount=value.quantize(CENT, rounding=ROUND_HALF_UP),
        currency=currency,
        occurred_at=occurred,
        remittance=remittance[:140],
    )
    return {"oracle": oracle, "line": parsed, "signed": signed}


class _Tally:
    """What a record's checks need of its entries, added up as they are read."""

    def __init__(self) -> None:
        self.count = 0
        self.booked = ZERO
        self.total = ZERO
        self.currencies: set[str] = set()

    def add(self, entry: dict) -> None:
        self.count += 1
        self.total += entry["signed"]
        if entry["oracle"]["status"] in (None, "BOOK", "BOOKED"):
            self.booked += entry["signed"]
        self.currencies.add(entry["oracle"]["currency"])

    @classmethod
    def of(cls, entries: list[dict]) -> "_Tally":
        tally = cls()
        for entry in entries:
            tally.add(entry)
        return tally


def _check_record(record, tally: _Tally, tree, ns) -> None:
    """Opening booked balance + entries = closing booked balance; a summary's count and sum agree."""
    balances = {}
    for balance in record.findall("c:Bal", ns):
        code = _text(balance, "c:Tp/c:CdOrPrtry/c:Cd", ns)
        amt = balance.find("c:Amt", ns)
        if amt is None:
            continue
        value, currency = _amount(amt, tree)
        sign = -1 if _text(balance, "c:CdtDbtInd", ns) == "DBIT" else 1
        balances.setdefault(code, (sign * value, currency, tree.line(balance)))
    booked, currencies = tally.booked, tally.currencies
    if "OPBD" in balances and "CLBD" in balances:
        opening, opening_ccy, _line = balances["OPBD"]
        closing, closing_ccy, line = balances["CLBD"]
        comparable = opening_ccy == closing_ccy and currencies <= {opening_ccy}
        if comparable and opening + booked != closing:
            raise StatementRefused(
                "totals_mismatch", line=line, field="CLBD", stated=closing, actual=opening + booked
            )
    summary = record.find("c:TxsSummry/c:TtlNtries", ns)
    if summary is not None:
        count = _text(summary, "c:NbOfNtries", ns)
        if count and int(count) != tally.count:
            raise StatementRefused(
                "totals_mismatch",
                line=tree.line(summary),
                field="NbOfNtries",
                stated=count,
                actual=tally.count,
            )
        net = _text(summary, "c:TtlNetNtry/c:Amt", ns)
        if net:
            sign = -1 if _text(summary, "c:TtlNetNtry/c:CdtDbtInd", ns) == "DBIT" else 1
            total = tally.total
            if sign * Decimal(net) != total:
                raise StatementRefused(
                    "totals_mismatch", line=tree.line(summary), field="TtlNetNtry", stated=net, actual=total
                )
