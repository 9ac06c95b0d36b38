"""Issue 14 on the counter: money printed to the fen, every outlet of a district listed, the till close
worded for takings, and a staff header on counter pages."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.choices import Channel
from branches import services
from tests.factories import BillFactory, CustomerAccountFactory, FeeScheduleFactory
from tests.support import log_in

pytestmark = pytest.mark.django_db


def pay_cash(clerk, till, biller, amount, key):
    account = CustomerAccountFactory(biller=biller)
    BillFactory(account=account, amount_due=Decimal(amount), due_date=timezone.localdate())
    services.take_cash(
        clerk=clerk,
        till_id=till.pk,
        biller_code=biller.code,
        account_no=account.account_no,
        periods=["2026-09"],
        amount=amount,
        tendered=amount,
        form_key=key,
    )


def test_the_counter_report_prints_takings_and_commission_to_the_fen(client, dave, sam, branch_x, water):
    FeeScheduleFactory(
        biller=water,
        channel=Channel.COUNTER,
        fixed_fee=Decimal("0.00"),
        percentage=Decimal("0.0033"),
        min_fee=Decimal("0"),
        max_fee=None,
        valid_from=datetime.date(2026, 1, 1),
    )
    till = services.open_till(clerk=dave, branch=branch_x, opening_float="0")
    for n, amount in enumerate(["207101.53", "207101.54"]):
        pay_cash(dave, till, water, amount, f"m{n}")
    log_in(client, sam)
    for by in ("branch", "biller", "clerk"):
        page = client.get(reverse("counter:reports"), {"by": by}).text
        assert "¥414,203.07" in page
        assert "414203.07" not in page  # neither unseparated nor with trailing places
    page = client.get(reverse("counter:reports")).text
    # 0.33% of 207101.53 and of 207101.54, each rounded to the fen: 683.44 + 683.44
    assert "¥1,366.88" in page
