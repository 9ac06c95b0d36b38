"""Settlement of card top-ups (issue 17, item 8): the channel's statement matches a held top-up as any
payment, but only a top-up confirmed as written is settled; one confirmed later is carried into a later
batch, and held money never leaves the hold account through settlement."""

import datetime
from decimal import Decimal

import pytest

from billing import topups
from billing.choices import Channel, PaymentMode
from billing.selectors import trial_balance, unbalanced_entry_ids
from billing.services import post_payment
from billing.topup_models import CardWriteRule, TopUpSource
from reconciliation import services
from reconciliation.choices import MatchClass
from reconciliation.models import MatchResult, SettlementBatch
from reconciliation.services import settlement
from tests.factories import BillerFactory, CustomerAccountFactory
from tests.reconciliation.conftest import CHANNEL, billpay_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def gas(db):
    biller = BillerFactory(code="GASCARD", payment_mode=PaymentMode.PREPAID)
    CardWriteRule.objects.create(biller=biller, timeout_minutes=30)
    return biller


def top_up(gas, n, amount):
    account = CustomerAccountFactory(biller=gas, account_no=f"6200000{n}")
    return post_payment(
        channel=Channel.ONLINE,
        idempotency_key=f"SANDBOX:TOP-{n}",
        biller_code=gas.code,
        account_no=account.account_no,
        amount=amount,
        channel_ref=f"SBX-TOP-{n}",
    ).payment


def test_only_written_top_ups_are_settled_and_held_ones_wait(gas, today, settle_on):
    written, held = top_up(gas, 1, "100.00"), top_up(gas, 2, "40.00")
    topups.confirm_topup(payment=written, source=TopUpSource.BILLER, write_ref="W-1")
    lines = [
        ("PAYMENT", written.channel_ref, "100.00", "", None),
        ("PAYMENT", held.channel_ref, "40.00", "", None),
    ]
    services.reconcile_file(
        channel_code=CHANNEL, business_date=today, data=billpay_csv(today, lines), file_name="s"
    )
    # the statement's lines match both payments, the held one included
    assert set(MatchResult.objects.filter(klass=MatchClass.MATCHED).values_list("payment_id", flat=True)) == {
        written.pk,
        held.pk,
    }
    assert list(settlement.settleable_payments(up_to=today, biller=gas)) == [written]
    services.settle_day(day=today, as_of=settle_on)
    batch = SettlementBatch.objects.get(biller=gas, business_date=today)
    assert set(batch.items.values_list("payment_id", flat=True)) == {written.pk}
    assert batch.gross == Decimal("100.00")
    balances = trial_balance()
    assert balances["PAYABLE:GASCARD"] == Decimal("0.00")
    assert balances["TOPUP:GASCARD"] == Decimal("-40.00")  # still held, not paid out

    # written the next day: carried into the next batch with its own business day
    topups.confirm_topup(payment=held, source=TopUpSource.BILLER, write_ref="W-2")
    next_day = today + datetime.timedelta(days=1)
    batch = settlement.build_settlement(biller=gas, day=next_day, as_of=settle_on)
    assert set(batch.items.values_list("payment_id", flat=True)) == {held.pk}
    balances = trial_balance()
    assert balances["PAYABLE:GASCARD"] == Decimal("0.00") and balances["TOPUP:GASCARD"] == Decimal("0.00")
    assert unbalanced_entry_ids() == []


def test_a_voided_top_up_is_never_settled(gas, today, settle_on):
    voided = top_up(gas, 3, "30.00")
    topups.void_topup(payment=voided, source=TopUpSource.TIMEOUT, reason="no answer")
    assert list(settlement.settleable_payments(up_to=today, biller=gas)) == []
    assert list(settlement.settleable_reversals(up_to=today, biller=gas)) == []
