"""The counter speaks Chinese by default and English on request (tests/test_i18n.py checks that every
catalogue, the branches app's too, is complete and compiled)."""

import pytest

from branches.exceptions import CounterError
from tests.support import log_in


def test_a_refusal_reads_in_chinese_by_default_and_in_english_on_request():
    from django.utils import translation

    error = CounterError("till_not_open")
    with translation.override("zh-hans"):
        assert error.message == "收取现金前请先开启钱箱。"
    with translation.override("en"):
        assert error.message == "Open your till before taking cash."


@pytest.mark.django_db
def test_the_receipt_says_change_in_the_cash_sense(client, dave, branch_x, bill):
    from branches import services

    till = services.open_till(clerk=dave, branch=branch_x, opening_float="0")
    taken = services.take_cash(
        clerk=dave,
        till_id=till.pk,
        biller_code="WATER",
        account_no="12345678",
        periods=["2026-10"],
        amount="86.50",
        tendered="100.00",
        form_key="i18n",
    )
    log_in(client, dave)
    page = client.get(f"/counter/receipt/{taken.counter_payment.payment.receipt_no}/")
    assert "找零" in page.text and "修改" not in page.text
