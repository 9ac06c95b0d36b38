"""The remittance files a biller receives with its settlement: CSV, and a camt.054-style XML listing
each item (a payment, or a reversal taken back) with its own business day, the ones carried from an
earlier day marked, and the value date on which the bank credits the batch.

A biller that shares its collections (issue 17, item 4) has one credit per bank account: its own, net of
the fees and of its co-beneficiaries' parts, and one per co-beneficiary (an `S` line of the CSV, a
notification of the camt.054 on that account listing the co-beneficiary's part of each item)."""

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal
from xml.etree import ElementTree as ET

from django.utils import timezone

NS = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"


@dataclass(frozen=True)
class ShareCredit:
    """One co-beneficiary's credit of a batch: its SettlementShare row, and its part of each item's
    payment by payment id (signed: a reversal item takes its part back)."""

    row: object
    name: str
    ledger_account: object
    parts: dict[int, Decimal] = field(default_factory=dict)

    @property
    def amount(self) -> Decimal:
        return self.row.amount


def _shared_of(credits, payment_id) -> Decimal:
    return sum((credit.parts.get(payment_id, Decimal("0.00")) for credit in credits), Decimal("0.00"))


def remittance_csv(batch, items, credits=()) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "H",
            "BILLPAY-REMITTANCE",
            "1",
            batch.reference,
            batch.biller.code,
            f"{batch.business_date:%Y-%m-%d}",
            f"{batch.value_date:%Y-%m-%d}" if batch.value_date else "",
        ]
    )
    writer.writerow(
        [
            "record_type",
            "receipt_no",
            "channel",
            "channel_ref",
            "account_no",
            "amount",
            "fee",
            "net",
            "posted_at",
            "kind",
            "business_date",
            "carried_from",
        ]
    )
    for item in items:
        payment = item.payment
        writer.writerow(
            [
                "D",
                payment.receipt_no,
                payment.channel,
                payment.channel_ref,
                payment.account.account_no if payment.account_id else "",
                f"{item.amount:.2f}",
                f"{item.fee:.2f}",
                f"{item.net:.2f}",
                timezone.localtime(payment.posted_at).isoformat(timespec="seconds"),
                item.kind,
                f"{item.business_date:%Y-%m-%d}",
                f"{item.business_date:%Y-%m-%d}" if item.business_date < batch.business_date else "",
            ]
        )
    for credit in credits:
        row = credit.row
        bank = [row.bank_name, row.account_name, row.account_no]
        writer.writerow(
            ["S", row.reference, row.share.code, credit.name, *bank, f"{row.amount:.2f}", len(credit.parts)]
        )
    totals = ["T", len(items), f"{batch.gross:.2f}", f"{batch.fees:.2f}", f"{batch.net:.2f}"]
    if credits:  # what goes to the biller's own account, after its co-beneficiaries' parts
        totals += [f"{batch.shared:.2f}", f"{batch.net - batch.shared:.2f}"]
    writer.writerow(totals)
    return out.getvalue()


def _credit_or_debit(amount) -> str:
    return "CRDT" if amount >= 0 else "DBIT"


def _sub(parent, tag, text=None, **attrs):
    element = ET.SubElement(parent, f"{{{NS}}}{tag}", attrs)
    if text is not None:
        element.text = str(text)
    return element


def remittance_camt054(batch, items, credits=()) -> str:
    ET.register_namespace("", NS)
    document = ET.Element(f"{{{NS}}}Document")
    message = _sub(document, "BkToCstmrDbtCdtNtfctn")
    header = _sub(message, "GrpHdr")
    _sub(header, "MsgId", batch.reference)
    _sub(header, "CreDtTm", timezone.localtime().isoformat(timespec="seconds"))
    own = [(item, item.net - _shared_of(credits, item.payment.pk), item.fee) for item in items]
    _notification(
        message,
        batch,
        reference=batch.reference,
        account_no=batch.biller.settlement_account_no or batch.biller.code,
        amount=batch.net - batch.shared,
        rows=own,
    )
    for credit in credits:
        rows = [
            (item, credit.parts[item.payment.pk], Decimal("0.00"))
            for item in items
            if credit.parts.get(item.payment.pk)
        ]
        _notification(
            message,
            batch,
            reference=credit.row.reference,
            account_no=credit.row.account_no,
            amount=credit.amount,
            rows=rows,
        )
    ET.indent(document)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(document, encoding="unicode") + "\n"


def _notification(message, batch, *, reference, account_no, amount, rows) -> None:
    """One account's credit (or debit) of the batch: rows are (item, its amount to this account, fee)."""
    notification = _sub(message, "Ntfctn")
    _sub(notification, "Id", reference)
    _sub(notification, "CreDtTm", timezone.localtime().isoformat(timespec="seconds"))
    account = _sub(_sub(_sub(notification, "Acct"), "Id"), "Othr")
    _sub(account, "Id", account_no)
    summary = _sub(notification, "TxsSummry")
    totals = _sub(summary, "TtlNtries")
    _sub(totals, "NbOfNtries", 1)
    _sub(totals, "Sum", f"{abs(amount):.2f}")
    net = _sub(totals, "TtlNetNtry")
    _sub(net, "Amt", f"{abs(amount):.2f}")
    _sub(net, "CdtDbtInd", _credit_or_debit(amount))
    entry = _sub(notification, "Ntry")
    _sub(entry, "NtryRef", reference)
    _sub(entry, "Amt", f"{abs(amount):.2f}", Ccy="CNY")
    _sub(entry, "CdtDbtInd", _credit_or_debit(amount))
    _sub(_sub(entry, "Sts"), "Cd", "BOOK")
    _sub(_sub(entry, "BookgDt"), "Dt", f"{batch.business_date:%Y-%m-%d}")
    if batch.value_date:
        _sub(_sub(entry, "ValDt"), "Dt", f"{batch.value_date:%Y-%m-%d}")
    details = _sub(entry, "NtryDtls")
    batch_info = _sub(details, "Btch")
    _sub(batch_info, "NbOfTxs", len(rows))
    _sub(batch_info, "TtlAmt", f"{abs(amount):.2f}", Ccy="CNY")
    _sub(batch_info, "CdtDbtInd", _credit_or_debit(amount))
    for item, item_amount, fee in rows:
        payment = item.payment
        tx = _sub(details, "TxDtls")
        refs = _sub(tx, "Refs")
        _sub(refs, "EndToEndId", payment.receipt_no)
        if payment.channel_ref:
            _sub(refs, "TxId", payment.channel_ref)
        _sub(tx, "Amt", f"{abs(item_amount):.2f}", Ccy="CNY")
        _sub(tx, "CdtDbtInd", _credit_or_debit(item_amount))
        charges = _sub(tx, "Chrgs")
        _sub(charges, "TtlChrgsAndTaxAmt", f"{abs(fee):.2f}", Ccy="CNY")
        remit = _sub(tx, "RmtInf")
        account_no = payment.account.account_no if payment.account_id else ""
        carried = (
            f" carried from {item.business_date:%Y-%m-%d}" if item.business_date < batch.business_date else ""
        )
        words = f"{payment.receipt_no} {payment.channel} {account_no}".strip()
        _sub(remit, "Ustrd", f"{words} {item.kind} {item.business_date:%Y-%m-%d}{carried}")
