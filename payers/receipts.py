"""E-receipts as PDF and QR codes, with reportlab only.

The PDF uses reportlab's built-in CID font STSong-Light (Adobe's Asian font pack names it; PDF readers
bring the glyphs), so Chinese renders on a fresh machine without any system CJK font.
"""

import io
from collections.abc import Iterable

from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.graphics import renderPDF, renderSVG
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A5
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from billing.choices import AllocationKind
from billing.masking import mask_holder_name
from billing.money import format_money

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def mask_account_no(account_no: str) -> str:
    """31005678 → 31****78: enough to recognise, not enough to look the account up."""
    if len(account_no) <= 4:
        return "*" * len(account_no)
    return account_no[:2] + "*" * (len(account_no) - 4) + account_no[-2:]


def _qr_drawing(text: str, size: float) -> Drawing:
    widget = QrCodeWidget(text, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def qr_svg(text: str, size: float = 200) -> str:
    svg = renderSVG.drawToString(_qr_drawing(text, size))
    return svg[svg.index("<svg") :]


def receipt_lines(payment) -> list[tuple[str, str]]:
    """The facts printed on a receipt, labelled in the current language."""
    local = timezone.localtime(payment.posted_at)
    periods = [a.bill.period for a in payment.allocations.all() if a.bill_id and not a.is_reversal]
    line = getattr(payment, "order_line", None)
    anonymous = bool(line and line.anonymous)
    rows = [
        (_("Receipt number"), payment.receipt_no),
        (_("Biller"), payment.biller.display_name),
    ]
    if payment.account_id:
        rows += [
            (_("Account number"), payment.account.account_no),
            (_("Account holder"), mask_holder_name(payment.account.holder_name)),
        ]
    if periods:
        rows.append((_("Bills paid"), "、".join(periods)))
    kinds = {a.kind for a in payment.allocations.all() if not a.is_reversal}
    if AllocationKind.CREDIT in kinds:
        rows.append((_("Kept as credit"), _("yes")))
    if AllocationKind.DONATION in kinds:
        rows.append(
            (
                _("Donor"),
                _("anonymous") if anonymous else (str(payment.payer) if payment.payer else _("guest")),
            )
        )
    rows += [
        (_("Amount"), f"¥{format_money(payment.amount)}"),
        (_("Paid at"), f"{local:%Y-%m-%d %H:%M:%S}"),
        (_("Channel"), payment.get_channel_display()),
        (_("Bank reference"), payment.channel_ref or "-"),
        (_("Status"), payment.get_status_display()),
    ]
    return rows


def receipts_pdf(items: Iterable[tuple[object, str, str]]) -> bytes:
    """One A5 page per payment. `items` holds (payment, verification URL, verification code)."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A5, pageCompression=1)
    pdf.setTitle(_("Electronic payment receipt"))
    width, height = A5
    for payment, verify_url, code in items:
        pdf.setFont(FONT, 16)
        pdf.drawCentredString(width / 2, height - 22 * mm, _("Electronic payment receipt"))
        pdf.setFont(FONT, 9)
        pdf.drawCentredString(width / 2, height - 29 * mm, _("Open Bill Payment Platform"))
        y = height - 42 * mm
        for label, value in receipt_lines(payment):
            pdf.setFont(FONT, 10)
            pdf.drawString(14 * mm, y, label)
            pdf.drawString(48 * mm, y, str(value)[:48])
            y -= 7 * mm
        qr_size = 32 * mm
        renderPDF.draw(_qr_drawing(verify_url, qr_size), pdf, 14 * mm, 16 * mm)
        pdf.setFont(FONT, 8)
        pdf.drawString(50 * mm, 40 * mm, _("Scan to check this receipt is genuine, or open:"))
        pdf.drawString(50 * mm, 35 * mm, verify_url[:70])
        pdf.drawString(50 * mm, 28 * mm, _("Verification code: %(code)s") % {"code": code})
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()
