"""The sandbox issuer's e-receipt file: an A5 PDF laid out like a non-tax e-receipt
(非税收入统一票据（电子）), with the platform's embedded CJK font (billing.pdf_fonts) and a QR code of
its code, number, verification code and amount, as the real ones carry."""

import io

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A5, landscape
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from billing.pdf_fonts import embedded_cjk_font


def e_receipt_pdf(receipt: dict) -> bytes:
    """`receipt`: the issue request (payer, amount, items, notice_no) and what the issuer gave it."""
    buffer = io.BytesIO()
    font = embedded_cjk_font()
    width, height = landscape(A5)
    pdf = canvas.Canvas(buffer, pagesize=(width, height), pageCompression=1)
    pdf.setTitle("非税收入统一票据（电子）")
    pdf.setFont(font, 15)
    pdf.drawCentredString(width / 2, height - 16 * mm, "非税收入统一票据（电子）")
    pdf.setFont(font, 8)
    pdf.drawCentredString(width / 2, height - 21 * mm, "沙箱开具 · 仅供演示 / Sandbox issuer, demo only")
    rows = [
        ("票据代码", receipt["invoice_code"]),
        ("票据号码", receipt["invoice_no"]),
        ("校验码", receipt["check_code"]),
        ("开票日期", receipt["issued_at"][:10]),
        ("执收单位编码", receipt.get("agency_code", "")),
        ("缴款书号", receipt.get("notice_no") or "-"),
        ("交款人", receipt.get("payer") or "-"),
        ("业务流水号", receipt["business_no"]),
    ]
    y = height - 32 * mm
    for label, value in rows:
        pdf.setFont(font, 9)
        pdf.drawString(14 * mm, y, label)
        pdf.drawString(44 * mm, y, str(value)[:40])
        y -= 6 * mm
    y -= 2 * mm
    pdf.setFont(font, 9)
    pdf.drawString(14 * mm, y, "项目")
    pdf.drawString(110 * mm, y, "金额（元）")
    for item in receipt.get("items", [])[:6]:
        y -= 6 * mm
        name = f"{item.get('name', '')} {item.get('period', '')}".strip()
        pdf.drawString(14 * mm, y, name[:40])
        pdf.drawRightString(135 * mm, y, str(item.get("amount", "")))
    y -= 8 * mm
    pdf.setFont(font, 11)
    pdf.drawString(14 * mm, y, "合计（小写）")
    pdf.drawRightString(135 * mm, y, f"¥{receipt.get('amount', '')}")
    code = ",".join(
        [
            receipt["invoice_code"],
            receipt["invoice_no"],
            receipt["check_code"],
            str(receipt.get("amount", "")),
        ]
    )
    size = 34 * mm
    drawing = Drawing(size, size)
    drawing.add(QrCodeWidget(code, barLevel="M", barWidth=size, barHeight=size))
    renderPDF.draw(drawing, pdf, width - size - 12 * mm, height - size - 28 * mm)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
