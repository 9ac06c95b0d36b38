"""A refund writes one money line (issue 15): amount, channel, ids; the payer's name and account never."""

import json

import pytest

from payers.choices import LineOutcome
from payers.models import OrderLine
from tests.payers.test_gateway_flow import paid_online_while_the_counter_takes_it

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_bank")]


def test_a_refund_writes_one_money_line(bank, water, django_capture_on_commit_callbacks, log_lines):
    order = paid_online_while_the_counter_takes_it(bank, water)
    with django_capture_on_commit_callbacks(execute=True):
        bank.notify(order)
    line = OrderLine.objects.get()
    assert line.outcome == LineOutcome.REFUNDED
    (refund,) = [entry for entry in log_lines() if entry["event"] == "money.refund"]
    assert refund["amount"] == str(line.amount) and refund["channel"] == "online"
    assert refund["outcome"] == "refunded" and refund["refund_no"] == line.refund_no
    assert refund["order_line_id"] == line.pk and refund["order_id"] == order.pk
    assert "31005678" not in json.dumps(refund)
