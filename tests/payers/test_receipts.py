import csv
import io
import re

import pytest
from pypdf import PdfReader

from billing.models import Payment
from payers import selectors
from payers.views import csv_safe
from tests.factories import PayerFactory
from tests.pdf import embedded_fonts
from tests.support import log_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(bank, water):
    order = bank.checkout({"biller": "WATER01", "account_no": "31005678", "bill": [water["bills"][0].pk]})
    bank.pay(order)
    bank.notify(order)
    payment = Payment.objects.get()
    return payment, selectors.receipt_token(payment)


def test_the_receipt_page_shows_the_payment_with_a_masked_holder(client, paid):
    payment, token = paid
    page = client.get(f"/receipts/{token}/").content.decode()
    assert payment.receipt_no in page and "张*明" in page and "张小明" not in page


def test_a_receipt_url_cannot_be_made_from_the_receipt_number(client, paid):
    payment, _token = paid
    assert client.get(f"/receipts/{payment.receipt_no}/").status_code == 404


def test_the_pdf_embeds_its_chinese_font_and_its_text_reads_back(client, paid):
    """Issue 14: PDFs carried no font, so a reader without an Asian font pack showed boxes."""
    payment, token = paid
    response = client.get(f"/receipts/{token}/pdf/")
    body = response.content
    assert response["Content-Type"] == "application/pdf"
    assert body.startswith(b"%PDF")
    fonts = embedded_fonts(body)
    assert fonts and all(fonts.values()), fonts
    text = PdfReader(io.BytesIO(body)).pages[0].extract_text()
    assert payment.receipt_no in text and "张*明" in text


def test_the_verification_page_confirms_a_genuine_receipt_and_reveals_nothing_else(client, paid):
    payment, _token = paid
    code = selectors.verification_code(payment.receipt_no)
    page = client.get(f"/verify/{payment.receipt_no}/{code}/").content.decode()
    assert "✔" in page
    assert "31****78" in page
    assert "31005678" not in page and "张" not in page


def test_a_wrong_verification_code_is_not_confirmed(client, paid):
    payment, _token = paid
    page = client.get(f"/verify/{payment.receipt_no}/AAAAAAAAAA/").content.decode()
    assert "✘" in page and "¥" not in page.split("<main")[1]


def test_csv_cells_that_look_like_formulas_are_defused():
    assert csv_safe("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert csv_safe("-1+2") == "'-1+2"
    assert csv_safe("@SUM") == "'@SUM"
    assert csv_safe("张小明") == "张小明"


def test_history_and_its_csv_hold_only_the_citizens_own_payments(client, django_user_model, bank, water):
    citizen = django_user_model.objects.create_user("c1", "c1@example.com", "pw-c1-1234xyz")
    log_in(client, citizen)
    order = bank.checkout({"biller": "WATER01", "account_no": "31005678", "bill": [water["bills"][0].pk]})
    bank.pay(order)
    bank.notify(order)
    other = PayerFactory(display_name="=cmd|' /C calc'!A0")
    from billing.services import post_payment

    post_payment(
        channel="online",
        idempotency_key="other-1",
        biller_code="WATER01",
        account_no="31005678",
        amount="80.00",
        payer=other,
    )
    page = client.get("/me/history/").content.decode()
    mine = Payment.objects.get(payer__user=citizen)
    assert mine.receipt_no in page
    assert Payment.objects.exclude(pk=mine.pk).get().receipt_no not in page
    body = b"".join(client.get("/me/history.csv").streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert len(rows) == 2 and rows[1][0] == mine.receipt_no and re.match(r"\d{4}-", rows[1][1])


def test_history_needs_a_sign_in(client):
    response = client.get("/me/history/")
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_a_citizen_finds_a_pending_checkout_again_in_the_history(client, django_user_model, bank, water):
    citizen = django_user_model.objects.create_user("c2", "c2@example.com", "x")
    log_in(client, citizen)
    order = bank.checkout({"biller": "WATER01", "account_no": "31005678", "bill": [water["bills"][0].pk]})
    page = client.get("/me/history/").content.decode()
    assert f"/orders/{order.access_token}/" in page
