"""The busy pages run the same number of queries whatever the number of rows they show."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from branches import services
from tests.factories import BillFactory, BranchFactory, CustomerAccountFactory
from tests.support import log_in, take_cash

pytestmark = pytest.mark.django_db


def count_queries(client, url, params=None):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params or {}).status_code == 200
    return len(queries)


def pay_one(clerk, till, water, n):
    bill = BillFactory(
        account=CustomerAccountFactory(biller=water),
        amount_due=Decimal("10.00"),
        due_date=timezone.localdate(),
    )
    take_cash(clerk, till, bill, f"q{n}", tendered="10.00")


def test_the_counter_home_and_day_report_do_not_grow_with_payments(client, dave, branch_x, water):
    till = services.open_till(clerk=dave, branch=branch_x, opening_float="0")
    pay_one(dave, till, water, 0)
    log_in(client, dave)
    home, report = (
        count_queries(client, reverse("counter:home")),
        count_queries(client, reverse("counter:day_report")),
    )
    for n in range(1, 6):
        pay_one(dave, till, water, n)
    assert count_queries(client, reverse("counter:home")) == home
    assert count_queries(client, reverse("counter:day_report")) == report


def test_the_finder_does_not_grow_with_outlets(client, branch_x, water):
    params = {"biller": water.code, "lat": "30.2", "lng": "120.2"}
    before = count_queries(client, reverse("outlets:finder"), params)
    for n in range(8):
        BranchFactory(latitude=Decimal("30.2") + n, longitude=Decimal("120.2"))
    services.plan_closure(
        branch=branch_x,
        to_status="closed",
        reason="撤点",
        actor=None,
        starts_on=timezone.localdate() + datetime.timedelta(days=30),
    )
    assert count_queries(client, reverse("outlets:finder"), params) == before


def test_the_reports_do_not_grow_with_payments(client, dave, sam, branch_x, water):
    till = services.open_till(clerk=dave, branch=branch_x, opening_float="0")
    pay_one(dave, till, water, 0)
    log_in(client, sam)
    before = count_queries(client, reverse("counter:reports"))
    for n in range(1, 6):
        pay_one(dave, till, water, n)
    assert count_queries(client, reverse("counter:reports")) == before
