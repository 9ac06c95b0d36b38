"""A day's settlement in chunks of billers: a chunk costs the same queries however many billers it holds,
and builds the batches the per-biller path builds."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.choices import Channel
from billing.models import Biller
from reconciliation import services
from reconciliation.models import SettlementBatch
from reconciliation.services import settlement
from tests.factories import BillerFactory, FeeScheduleFactory
from tests.reconciliation.conftest import CHANNEL, Shop, billpay_csv

pytestmark = pytest.mark.django_db


def _shops(today, *groups):
    """Billers with two online payments each, all reconciled by one statement; their ids, per group."""
    lines, found, counter = [], [], 0
    for codes in groups:
        found.append([])
        for code in codes:
            shop = Shop.__new__(Shop)
            shop.biller, shop.counter = BillerFactory(code=code), counter
            counter += 10
            FeeScheduleFactory(
                biller=shop.biller,
                channel=Channel.ONLINE,
                percentage=Decimal("0.0030"),
                min_fee=Decimal("0.10"),
            )
            for amount in ("100.00", "35.50"):
                lines.append(("PAYMENT", shop.pay(amount).channel_ref, amount, "", None))
            found[-1].append(shop.biller.pk)
    services.reconcile_file(
        channel_code=CHANNEL, business_date=today, data=billpay_csv(today, lines), file_name="s"
    )
    return found


def test_a_chunk_of_five_billers_costs_the_queries_of_a_chunk_of_two(today, settle_on):
    two, five = _shops(today, ["CA01", "CA02"], ["CB01", "CB02", "CB03", "CB04", "CB05"])
    with CaptureQueriesContext(connection) as of_two:
        settlement.build_settlements(biller_ids=two, day=today, as_of=settle_on)
    with CaptureQueriesContext(connection) as of_five:
        settlement.build_settlements(biller_ids=five, day=today, as_of=settle_on)
    assert SettlementBatch.objects.count() == 7
    assert len(of_five) == len(of_two)


def test_a_day_settled_in_chunks_builds_the_batches_biller_by_biller_would(today, settle_on, monkeypatch):
    (ids,) = _shops(today, ["CC01", "CC02", "CC03", "CC04", "CC05"])
    for biller_id in ids[:2]:  # built alone, as the admin's per-biller path would
        services.build_settlement(biller=Biller.objects.get(pk=biller_id), day=today, as_of=settle_on)
    monkeypatch.setattr(settlement, "SETTLE_CHUNK_BILLERS", 2)
    run = services.settle_day(day=today, as_of=settle_on)
    assert run.batches_built == 5 and run.billers_done == 3
    rows = SettlementBatch.objects.order_by("biller__code").values_list(
        "payment_count", "gross", "fees", "net", "journal_entry__lines__amount"
    )
    per_biller = {}
    for count, gross, fees, net, line in rows:
        per_biller.setdefault((count, gross, fees, net), []).append(line)
    assert list(per_biller) == [(2, Decimal("135.50"), Decimal("0.41"), Decimal("135.09"))]
    assert sorted(per_biller[(2, Decimal("135.50"), Decimal("0.41"), Decimal("135.09"))]) == sorted(
        [Decimal("135.50"), Decimal("-135.09"), Decimal("-0.41")] * 5
    )
