"""payers/templatetags/bill_rows.py: the lookup page's rows of open bills, made in Python, are the markup the
template's loop made."""

import datetime
from decimal import Decimal

import pytest
from django.template import engines
from django.utils import translation

from billing.choices import BeneficiaryKind
from payers.selectors import mark_overdue
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

pytestmark = pytest.mark.django_db

# The loop of payers/templates/payers/biller.html that `{% bill_rows %}` replaced.
LOOP = engines["django"].from_string(
    """{% load i18n per_process %}{% for bill in bills %}
            <tr><td><input type="checkbox" name="bill" value="{{ bill.pk }}" id="bill-{{ bill.pk }}" checked aria-label="{{ bill.pay_label }}"></td>
              <td><label for="bill-{{ bill.pk }}">{{ bill.period }}</label>{% if bill.description %}<br><small>{{ bill.description }}</small>{% endif %}{% if bill.beneficiary_name %}{% include "partials/beneficiary.html" %}{% endif %}</td>
              <td>{{ bill.due_date.isoformat }}{% if bill.overdue %} {% per_process "overdue_tag" LANGUAGE_CODE %}<span class="tag tag-overdue">{% translate "Overdue" %}</span>{% endper_process %}{% endif %}{% if bill.autopay_on %}{% include "payers/partials/autopay_tag.html" %}{% endif %}</td>
              <td>¥{{ bill.outstanding }}{% if bill.quote.has_notes %}{% include "partials/amount_due.html" with quote=bill.quote %}{% endif %}</td>
              <td><a href="{{ bill.qr_url }}">{% per_process "print_qr_word" LANGUAGE_CODE %}{% translate "Print QR" %}{% endper_process %}</a></td></tr>
          {% endfor %}"""  # noqa: E501
)
ROWS = engines["django"].from_string("{% load bill_rows %}{% bill_rows bills %}")


@pytest.fixture
def bills():
    """Bills with each thing a row can show: none, a description to escape, who it is for, an auto-pay
    date, a late fee, an early-payment discount, an amount that holds until a date."""
    biller = BillerFactory(code="ROWS01", late_fee_daily_rate=Decimal("0.000500"))
    account = CustomerAccountFactory(biller=biller, account_no="31000001")
    made = [
        BillFactory(account=account, period="2026-09", due_date=datetime.date(2099, 1, 1)),
        BillFactory(
            account=account,
            period="2026-10",
            description='水费 "二期" <script>',
            amount_due=Decimal("1234567.80"),
            due_date=datetime.date(2020, 1, 20),
        ),
        BillFactory(
            account=account,
            period="2026-11",
            beneficiary_kind=BeneficiaryKind.STUDENT,
            beneficiary_name="张小明",
            due_date=datetime.date(2099, 2, 1),
        ),
        BillFactory(
            account=account,
            period="2026-12",
            early_discount=Decimal("5.00"),
            discount_until=datetime.date(2099, 1, 31),
            due_date=datetime.date(2099, 3, 1),
            late_fee=Decimal("1.50"),
        ),
    ]
    for number, bill in enumerate(made):
        bill.qr_url = f"/pay/TOKEN{number}&x=<1>/qr/"
        bill.pay_label = f"Pay <the bill> for {bill.period}"
        bill.autopay_on = datetime.date(2099, 1, 5) if number == 2 else None
    mark_overdue(made)
    return made


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_rows_are_the_markup_of_the_templates_loop(bills, language):
    with translation.override(language):
        context = {"bills": bills, "LANGUAGE_CODE": language}
        rows = ROWS.render(context)
        assert rows == LOOP.render(context)
    assert rows.count("<tr>") == 4
    assert "&lt;script&gt;" in rows and "<script>" not in rows
    assert "tag-overdue" in rows and "tag-autopay" in rows and "beneficiary" in rows
    assert "amount-note" in rows


def test_no_bills_no_rows():
    assert ROWS.render({"bills": []}) == ""
