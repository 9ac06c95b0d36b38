import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.paylinks import pay_path
from branches import selectors
from branches.exceptions import CounterError
from branches.slips import check_digit, parse_slip_code, render_slip_pdf, slip_code_for

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
    assert b"STSong-Light" in response.content


def test_a_forged_slip_link_is_not_found(client, bill):
    assert client.get("/slips/forged-token/a4.pdf").status_code == 404


def test_the_pdf_renders_for_a_bill_in_memory(bill):
    pdf = render_slip_pdf(bill, layout="a4", base_url="https://pay.example.com")
    assert len(pdf) > 2000
    assert timezone.localdate() <= bill.due_date
