"""Payment slips: what the Code 128 barcode carries, its check digit, and the printable PDF.

The barcode text is `BP|<biller>|<account>|<YYYYMM>|<amount in fen>|<due YYYYMMDD>|<check digit>`, in the
spirit of the GS1-128 convenience-store slips used in Japan: a counter scanner types it followed by Enter,
and the counter refuses the slip if the check digit is wrong, the due date has passed or the bill no
longer owes the printed amount. The QR code carries the bill's signed pay link (`billing.paylinks`).
"""

import datetime
import io
import re
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode import code128, qr
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from billing import amounts, instalments
from billing.money import CENT, format_money
from billing.paylinks import pay_path
from billing.pdf_fonts import EMBEDDED_FONT, embedded_cjk_font

PREFIX = "BP"
SLIP_RE = re.compile(
    r"^BP\|(?P<biller>[A-Z0-9_-]{2,32})\|(?P<account>[0-9A-Za-z-]{1,40})\|(?P<period>\d{6})\|"
    r"(?P<fen>\d{1,14})\|(?P<due>\d{8})\|(?P<check>\d)$"
)
FONT = EMBEDDED_FONT  # registered by render_slip_pdf
TEAR_OFF_SIZE = (210 * mm, 99 * mm)  # a third of an A4 sheet: the size of a utility bill's stub


def check_digit(payload: str) -> str:
    """GS1-style mod 10 over the characters' code points, weights 3 and 1 from the right."""
    total = sum(ord(char) * (3 if index % 2 == 0 else 1) for index, char in enumerate(reversed(payload)))
    return str((10 - total % 10) % 10)


@dataclass(frozen=True)
class SlipCode:
    biller_code: str
    account_no: str
    period: str  # YYYY-MM
    amount: Decimal
    due_date: datetime.date

    @property
    def text(self) -> str:
        fen = int((self.amount / CENT).to_integral_value())
        payload = "|".join(
            [
                PREFIX,
                self.biller_code,
                self.account_no,
                self.period.replace("-", ""),
                str(fen),
                f"{self.due_date:%Y%m%d}",
            ]
        )
        return f"{payload}|{check_digit(payload)}"


def slip_valid_until(bill) -> datetime.date:
    """The last day a slip printed today may be paid: the due date, or sooner the last day the printed
    amount holds when the bill's amount changes with the date (a late fee, an early discount)."""
    holds_until = bill.quote.holds_until
    return holds_until if holds_until is not None else bill.due_date


def slip_code_for(bill) -> SlipCode:
    """The slip of a bill: its amount today and until when that holds; for a bill offered in
    instalments (billing.instalments), its next open instalment's amount and due date."""
    upcoming = instalments.next_open(bill) if bill.status in ("open", "partly_paid") else None
    if upcoming is not None:
        return SlipCode(
            biller_code=bill.biller.code,
            account_no=bill.account.account_no,
            period=bill.period,
            amount=upcoming.remaining,
            due_date=upcoming.due_date,
        )
    return SlipCode(
        biller_code=bill.biller.code,
        account_no=bill.account.account_no,
        period=bill.period,
        amount=bill.outstanding,
        due_date=slip_valid_until(bill),
    )


def parse_slip_code(text: str) -> SlipCode | None:
    """The slip the scanned text describes, or None when it is not one or its check digit is wrong."""
    match = SLIP_RE.fullmatch(text.strip())
    if match is None:
        return None
    payload = text.strip().rsplit("|", 1)[0]
    if check_digit(payload) != match["check"]:
        return None
    try:
        due = datetime.datetime.strptime(match["due"], "%Y%m%d").date()  # noqa: DTZ007 (a date)
    except ValueError:
        return None
    period = f"{match['period'][:4]}-{match['period'][4:]}"
    return SlipCode(
        biller_code=match["biller"],
        account_no=match["account"],
        period=period,
        amount=(Decimal(match["fen"]) * CENT).quantize(CENT),
        due_date=due,
    )


def looks_like_slip(text: str) -> bool:
    return text.strip().upper().startswith(PREFIX + "|")


def _barcode(text: str, *, width: float, height: float) -> code128.Code128:
    # Bar width chosen so the whole symbol fits `width`; never below 0.25 mm, what scanners still read.
    probe = code128.Code128(text, barWidth=1, barHeight=height, humanReadable=False, quiet=True)
    bar_width = max(0.25 * mm, min(0.5 * mm, width / probe.width))
    return code128.Code128(text, barWidth=bar_width, barHeight=height, humanReadable=False, quiet=True)


def _qr(url: str, size: float) -> Drawing:
    widget = qr.QrCodeWidget(url, barLevel="M")
    x1, y1, x2, y2 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x2 - x1), 0, 0, size / (y2 - y1), 0, 0])
    drawing.add(widget)
    return drawing


def _stub(pdf: canvas.Canvas, bill, *, pay_url: str, left: float, bottom: float, width: float) -> None:
    """The part a counter scans: who is paid, how much, by when, the barcode and the QR pay link."""
    code = slip_code_for(bill)
    height = 90 * mm
    pdf.setFont(FONT, 13)
    pdf.drawString(left, bottom + height - 10 * mm, _("Payment slip") + f" · {bill.biller.name}")
    pdf.setFont(FONT, 10)
    lines = [
        (_("Account number"), bill.account.account_no),
        (_("Account holder"), bill.account.masked_holder_name),
        *([(_("Who it is for"), bill.masked_beneficiary)] if bill.beneficiary_name else []),
        (_("Period"), bill.period),
        (_("Amount to pay"), "¥" + format_money(code.amount)),
        (_("Pay by"), f"{code.due_date:%Y-%m-%d}"),
    ]
    upcoming = instalments.next_open(bill) if bill.status in ("open", "partly_paid") else None
    if upcoming is not None:
        lines.insert(
            3,
            (
                _("Instalment"),
                _("%(number)s of %(total)s") % {"number": upcoming.number, "total": upcoming.count},
            ),
        )
    elif bill.quote.changes_with_date:
        lines[-1] = (_("Amount holds until"), _holds_text(code.due_date))
    y = bottom + height - 20 * mm
    for label, value in lines:
        pdf.drawString(left, y, f"{label}：{value}")
        y -= 6 * mm
    qr_size = 32 * mm
    renderPDF.draw(_qr(pay_url, qr_size), pdf, left + width - qr_size, bottom + height - 12 * mm - qr_size)
    pdf.setFont(FONT, 8)
    pdf.drawCentredString(
        left + width - qr_size / 2, bottom + height - 15 * mm - qr_size, _("Scan to pay online")
    )
    barcode = _barcode(code.text, width=width, height=14 * mm)
    barcode.drawOn(pdf, left, bottom + 12 * mm)
    pdf.setFont("Courier", 8)
    pdf.drawString(left, bottom + 8 * mm, code.text)
    pdf.setFont(FONT, 8)
    pdf.drawString(
        left,
        bottom + 3 * mm,
        _("Pay in cash at any outlet that takes %(biller)s. The slip is not accepted after its due date.")
        % {"biller": bill.biller.name},
    )


def _holds_text(day: datetime.date) -> str:
    return _("%(day)s, end of day, Beijing time") % {"day": f"{day:%Y-%m-%d}"}


def render_slip_pdf(bill, *, layout: str, base_url: str) -> bytes:
    """A4: the bill with the tear-off stub at the bottom; "tearoff": the stub alone, bill-sized."""
    embedded_cjk_font()
    buffer = io.BytesIO()
    pay_url = base_url.rstrip("/") + pay_path(bill)
    if layout == "tearoff":
        pdf = canvas.Canvas(buffer, pagesize=TEAR_OFF_SIZE)
        pdf.setTitle(f"{bill.biller.code} {bill.account.account_no} {bill.period}")
        _stub(pdf, bill, pay_url=pay_url, left=12 * mm, bottom=5 * mm, width=TEAR_OFF_SIZE[0] - 24 * mm)
    else:
        pdf = canvas.Canvas(buffer, pagesize=A4)
        pdf.setTitle(f"{bill.biller.code} {bill.account.account_no} {bill.period}")
        page_width, page_height = A4
        left = 18 * mm
        pdf.setFont(FONT, 16)
        pdf.drawString(left, page_height - 25 * mm, str(settings.PLATFORM_NAME))
        pdf.setFont(FONT, 14)
        pdf.drawString(left, page_height - 35 * mm, f"{bill.biller.name} · {_('Bill')} {bill.period}")
        pdf.setFont(FONT, 11)
        rows = [
            (_("Account number"), bill.account.account_no),
            (_("Account holder"), bill.account.masked_holder_name),
            *([(_("Who it is for"), bill.masked_beneficiary)] if bill.beneficiary_name else []),
            (_("Address"), bill.account.address or "—"),
            (_("What for"), bill.description or bill.period),
            *([(_("Payment notice number"), bill.notice_no)] if bill.notice_no else []),
            (_("Amount due"), "¥" + format_money(bill.amount_due)),
            (_("Late fee"), "¥" + format_money(bill.quote.late_fee)),
            *(
                [(_("Early-payment discount"), "−¥" + format_money(bill.quote.discount))]
                if bill.quote.discount
                else []
            ),
            (_("Already paid"), "¥" + format_money(bill.amount_paid)),
            (_("Amount to pay"), "¥" + format_money(bill.outstanding)),
            (_("Pay by"), f"{bill.due_date:%Y-%m-%d}"),
            *(
                [(_("Amount holds until"), _holds_text(slip_valid_until(bill)))]
                if bill.quote.changes_with_date
                else []
            ),
            (_("Printed"), f"{timezone.localtime(timezone.now(), amounts.BEIJING):%Y-%m-%d %H:%M}"),
        ]
        y = page_height - 50 * mm
        for label, value in rows:
            pdf.drawString(left, y, f"{label}：{value}")
            y -= 8 * mm
        pdf.setFont(FONT, 9)
        pdf.drawString(
            left,
            y - 4 * mm,
            _("Pay online with the QR code, or in cash at a post office, bank or convenience store counter."),
        )
        cut = 110 * mm
        pdf.setDash(3, 3)
        pdf.line(8 * mm, cut, page_width - 8 * mm, cut)
        pdf.setDash()
        pdf.setFont(FONT, 8)
        pdf.drawString(8 * mm, cut + 2 * mm, _("Tear off here and bring this part to the counter"))
        _stub(pdf, bill, pay_url=pay_url, left=left, bottom=12 * mm, width=page_width - 2 * left)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
