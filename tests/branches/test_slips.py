import datetime
import io
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone, translation
from pypdf import PdfReader
from reportlab.pdfbase import pdfmetrics

from billing.paylinks import pay_path
from billing.pdf_fonts import EMBEDDED_FONT
from branches import selectors
from branches.exceptions import CounterError
from branches.slips import check_digit, parse_slip_code, render_slip_pdf, slip_code_for
from tests.pdf import embedded_fonts

pytestmark = pytest.mark.django_db


def test_the_slip_code_carries_biller_account_period_amount_due_date_and_a_check_digit(bill):
    code = slip_code_for(bill).text
    assert code == f"BP|WATER|12345678|202610|8650|{bill.due_date:%Y%m%d}|{code[-1]}"
    assert code[-1] == check_digit(code.rsplit("|", 1)[0])
    parsed = parse_slip_code(code)
    assert (parsed.biller_code, parsed.account_no, parsed.period, parsed.amount, parsed.due_date) == (
        "WATER",
        "12345678",
        "2026-10",
        Decimal("86.50"),
        bill.due_date,
    )


def test_a_mistyped_slip_code_fails_its_check_digit(bill):
    code = slip_code_for(bill).text
    damaged = code.replace("|8650|", "|8560|")
    assert parse_slip_code(damaged) is None


def test_the_counter_refuses_a_slip_past_its_due_date(bill):
    slip = slip_code_for(bill)
    with pytest.raises(CounterError) as refused:
        selectors.bill_for_slip(slip, today=bill.due_date + datetime.timedelta(days=1))
    assert refused.value.code == "slip_expired"
    assert f"{bill.due_date:%Y-%m-%d}" in refused.value.message


def test_the_counter_refuses_a_slip_whose_amount_changed(bill):
    slip = slip_code_for(bill)
    bill.late_fee = Decimal("2.00")
    bill.save()
    with pytest.raises(CounterError) as refused:
        selectors.bill_for_slip(slip)
    assert refused.value.code == "slip_amount_changed"
    assert "86.50" in refused.value.message and "88.50" in refused.value.message


@pytest.mark.parametrize("layout", ["a4", "tearoff"])
def test_the_slip_pdf_has_the_chinese_font_the_barcode_and_the_qr_link(client, bill, layout):
    token = pay_path(bill).split("/")[2]
    response = client.get(f"/slips/{token}/{layout}.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    fonts = embedded_fonts(response.content)
    assert fonts and all(fonts.values()), fonts  # every font on the page carries its glyphs (/FontFile2)


def test_the_slip_embeds_its_font_and_its_text_reads_back_middle_dot_included(bill, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    bill.biller.name = "滨江燃气公司"
    bill.biller.save()
    with translation.override("zh-hans"):
        pdf = render_slip_pdf(bill, layout="a4", base_url="https://pay.example.com")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "滨江燃气公司 · 账单" in text
    assert "\ufffd" not in text
    assert embedded_fonts(pdf) and all(embedded_fonts(pdf).values())


def test_a_missing_font_file_is_a_clear_error_naming_the_setting_and_the_package(bill, settings, monkeypatch):
    monkeypatch.setattr(
        pdfmetrics, "_fonts", {k: v for k, v in pdfmetrics._fonts.items() if k != EMBEDDED_FONT}
    )
    settings.PDF_FONT_PATH = "/nonexistent/font.ttc"
    with pytest.raises(ImproperlyConfigured, match="fonts-wqy-microhei") as error:
        render_slip_pdf(bill, layout="a4", base_url="https://pay.example.com")
    assert "PDF_FONT_PATH" in str(error.value)


def test_a_forged_slip_link_is_not_found(client, bill):
    assert client.get("/slips/forged-token/a4.pdf").status_code == 404


def test_the_pdf_renders_for_a_bill_in_memory(bill):
    pdf = render_slip_pdf(bill, layout="a4", base_url="https://pay.example.com")
    assert len(pdf) > 2000
    assert timezone.localdate() <= bill.due_date


def test_a_payment_notice_prints_its_notice_number(bill):
    bill.notice_no = "3301002026000101"
    bill.save()
    with translation.override("zh-hans"):
        pdf = render_slip_pdf(bill, layout="a4", base_url="https://pay.example.com")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "缴款书号：3301002026000101" in text
