"""The remittance files a biller receives with its settlement: CSV, and a camt.054-style XML listing
each item (a payment, or a reversal taken back) with its own business day, the ones carried from an
earlier day marked, and the value date on which the bank credits the batch."""

import csv
import io
from xml.etree import ElementTree as ET

from django.utils import timezone

NS = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"


def remittance_csv(batch, items) -> str:
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
    writer.writerow(["T", len(items), f"{batch.gross:.2f}", f"{batch.fees:.2f}", f"{batch.net:.2f}"])
    return out.getvalue()


def _credit_or_debit(amount) -> str:
    return "CRDT" if amount >= 0 else "DBIT"


def _sub(parent, tag, text=None, **attrs):
    element = ET.SubElement(parent, f"{{{NS}}}{tag}", attrs)
    if text is not None:
        element.text = str(text)
    return element


def remittance_camt054(batch, items) -> str:
    ET.register_namespace("", NS)
    document = ET.Element(f"{{{NS}}}Document")
    message = _sub(document, "BkToCstmrDbtCdtNtfctn")
    header = _sub(message, "GrpHdr")
    _sub(header, "MsgId", batch.reference)
    _sub(header, "CreDtTm", timezone.localtime().isoformat(timespec="seconds"))
    notification = _sub(message, "Ntfctn")
    _sub(notification, "Id", batch.reference)
    _sub(notification, "CreDtTm", timezone.localtime().isoformat(timespec="seconds"))
    account = _sub(_sub(_sub(notification, "Acct"), "Id"), "Othr")
    _sub(account, "Id", batch.biller.settlement_account_no or batch.biller.code)
    summary = _sub(notification, "TxsSummry")
    totals = _sub(summary, "TtlNtries")
    _sub(totals, "NbOfNtries", 1)
    _sub(totals, "Sum", f"{abs(batch.net):.2f}")
    net = _sub(totals, "TtlNetNtry")
    _sub(net, "Amt", f"{abs(batch.net):.2f}")
    _sub(net, "CdtDbtInd", _credit_or_debit(batch.net))
    entry = _sub(notification, "Ntry")
    _sub(entry, "NtryRef", batch.reference)
    _sub(entry, "Amt", f"{abs(batch.net):.2f}", Ccy="CNY")
    _sub(entry, "CdtDbtInd", _credit_or_debit(batch.net))
    _sub(_sub(entry, "Sts"), "Cd", "BOOK")
    _sub(_sub(entry, "BookgDt"), "Dt", f"{batch.business_date:%Y-%m-%d}")
    if batch.value_date:
        _sub(_sub(entry, "ValDt"), "Dt", f"{batch.value_date:%Y-%m-%d}")
    details = _sub(entry, "NtryDtls")
    batch_info = _sub(details, "Btch")
    _sub(batch_info, "NbOfTxs", len(items))
    _sub(batch_info, "TtlAmt", f"{abs(batch.net):.2f}", Ccy="CNY")
    _sub(batch_info, "CdtDbtInd", _credit_or_debit(batch.net))
    for item in items:
        payment = item.payment
        tx = _sub(details, "TxDtls")
        refs = _sub(tx, "Refs")
        _sub(refs, "EndToEndId", payment.receipt_no)
        if payment.channel_ref:
            _sub(refs, "TxId", payment.channel_ref)
        _sub(tx, "Amt", f"{abs(item.net):.2f}", Ccy="CNY")
        _sub(tx, "CdtDbtInd", _credit_or_debit(item.net))
        charges = _sub(tx, "Chrgs")
        _sub(charges, "TtlChrgsAndTaxAmt", f"{abs(item.fee):.2f}", Ccy="CNY")
        remit = _sub(tx, "RmtInf")
        account_no = payment.account.account_no if payment.account_id else ""
        carried = (
            f" carried from {item.business_date:%Y-%m-%d}" if item.business_date < batch.business_date else ""
        )
        words = f"{payment.receipt_no} {payment.channel} {account_no}".strip()
        _sub(remit, "Ustrd", f"{words} {item.kind} {item.business_date:%Y-%m-%d}{carried}")
    ET.indent(document)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(document, encoding="unicode") + "\n"
