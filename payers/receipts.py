"""E-receipts as PDF and QR codes, with reportlab only.

The PDF embeds the platform's CJK TrueType font (billing.pdf_fonts, as the counter's slips do): a receipt is
kept and shown elsewhere, so it carries its own glyphs rather than relying on the reader's Asian font pack.
"""

import io
import itertools
import re
from collections.abc import Callable, Iterable

from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.graphics import renderSVG
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A5
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from billing.choices import AllocationKind
from billing.masking import mask_holder_name
from billing.money import ZERO, format_money
from billing.pdf_fonts import embedded_cjk_font
from billing.services import list_text


def mask_account_no(account_no: str) -> str:
    """31005678 → 31****78: enough to recognise, not enough to look the account up."""
    if len(account_no) <= 4:
        return "*" * len(account_no)
    return account_no[:2] + "*" * (len(account_no) - 4) + account_no[-2:]


def _qr_drawing(text: str, size: float) -> Drawing:
    """The QR code in a size × size box. The box is given, not measured: `getBounds` would encode the data a
    second time, and encoding is most of a receipt page's cost."""
    drawing = Drawing(size, size)
    drawing.add(QrCodeWidget(text, barLevel="M", barWidth=size, barHeight=size))
    return drawing


def _draw_qr(pdf, text: str, x: float, y: float, size: float) -> None:
    """The QR code straight onto the PDF canvas as one filled path of module runs: through renderPDF each
    module was a shape object, and a receipt page cost ~45 ms; this way ~4x less."""
    widget = QrCodeWidget(text, barLevel="M")
    widget.qr.make()
    modules = widget.qr.modules
    count = len(modules)
    border = widget.barBorder
    box = size / (count + 2 * border)
    path = pdf.beginPath()
    for row_index, row in enumerate(modules):
        top = y + size - (row_index + border + 1) * box
        column = 0
        for dark, run in itertools.groupby(bool(cell) for cell in row):
            length = len(list(run))
            if dark:
                path.rect(x + (column + border) * box, top, length * box, box)
            column += length
    pdf.drawPath(path, stroke=0, fill=1)


_SVG_STYLE = re.compile(r'\sstyle="([^"]*)"')


def _presentation_attributes(match: re.Match) -> str:
    """`style="fill: none; stroke: none"` as ` fill="none" stroke="none"`: the page's Content-Security-Policy
    allows no inline style, and without its fill the QR code's background rectangle would be painted black."""
    pairs = (item.split(":", 1) for item in match.group(1).split(";") if ":" in item)
    return "".join(f' {name.strip()}="{value.strip()}"' for name, value in pairs)


def qr_svg(text: str, size: float = 200) -> str:
    svg = renderSVG.drawToString(_qr_drawing(text, size))
    return _SVG_STYLE.sub(_presentation_attributes, svg[svg.index("<svg") :])


def receipt_lines(payment) -> list[tuple[str, str]]:
    """The facts printed on a receipt, labelled in the current language."""
    local = timezone.localtime(payment.posted_at)
    paid = [a for a in payment.allocations.all() if a.bill_id and not a.is_reversal]
    periods = list(dict.fromkeys(a.bill.period for a in paid))  # a bill's principal and late fee: once
    late_fee = sum((a.amount for a in paid if a.kind == AllocationKind.LATE_FEE), ZERO)
    discount = sum({a.bill_id: a.bill.discount_granted for a in paid}.values(), ZERO)
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
        rows.append((_("Bills paid"), list_text(periods)))
    notices = list(dict.fromkeys(a.bill.notice_no for a in paid if a.bill.notice_no))
    if notices:
        rows.append((_("Payment notice number"), list_text(notices)))
    beneficiaries = list(dict.fromkeys(a.bill.masked_beneficiary for a in paid if a.bill.beneficiary_name))
    if beneficiaries:
        rows.append((_("Who it is for"), list_text(beneficiaries)))
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
    rows.append((_("Amount"), f"¥{format_money(payment.amount)}"))
    if late_fee:
        rows.append((_("of which late fee"), f"¥{format_money(late_fee)}"))
    if discount:
        rows.append((_("Early-payment discount granted"), f"¥{format_money(discount)}"))
    rows += [
        (_("Paid at"), f"{local:%Y-%m-%d %H:%M:%S}"),
        (_("Channel"), payment.get_channel_display()),
        (_("Bank reference"), payment.channel_ref or "-"),
        (_("Status"), payment.get_status_display()),
    ]
    return rows


def receipts_pdf(
    items: Iterable[tuple[object, str, str]], on_page: Callable[[int], None] | None = None
) -> bytes:
    """One A5 page per payment. `items` holds (payment, verification URL, verification code); `on_page` hears
    the number of pages drawn so far after each one."""
    buffer = io.BytesIO()
    font = embedded_cjk_font()
    pdf = canvas.Canvas(buffer, pagesize=A5, pageCompression=1)
    pdf.setTitle(_("Electronic payment receipt"))
    width, height = A5
    for payment, verify_url, code in items:
        pdf.setFont(font, 16)
        pdf.drawCentredString(width / 2, height - 22 * mm, _("Electronic payment receipt"))
        pdf.setFont(font, 9)
        pdf.drawCentredString(width / 2, height - 29 * mm, _("Open Bill Payment Platform"))
        y = height - 42 * mm
        for label, value in receipt_lines(payment):
            pdf.setFont(font, 10)
            pdf.drawString(14 * mm, y, label)
            pdf.drawString(48 * mm, y, str(value)[:48])
            y -= 7 * mm
        qr_size = 32 * mm
        _draw_qr(pdf, verify_url, 14 * mm, 16 * mm, qr_size)
        pdf.setFont(font, 8)
        pdf.drawString(50 * mm, 40 * mm, _("Scan to check this receipt is genuine, or open:"))
        pdf.drawString(50 * mm, 35 * mm, verify_url[:70])
        pdf.drawString(50 * mm, 28 * mm, _("Verification code: %(code)s") % {"code": code})
        pdf.showPage()
        if on_page is not None:
            on_page(pdf.getPageNumber() - 1)
    pdf.save()
    return buffer.getvalue()
