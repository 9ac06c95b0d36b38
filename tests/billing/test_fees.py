"""Fees: fixed plus a percentage of the amount, kept within the schedule's bounds, rounded half up."""

import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.choices import Channel
from billing.exceptions import BillingError
from billing.fees import compute_fee, fee_for
from billing.models import AuditEvent, FeeSchedule
from billing.money import CENT
from billing.services import set_fee_schedule
from tests.factories import BillerFactory, FeeScheduleFactory

cents = st.integers(min_value=0, max_value=100_000_000_000).map(lambda c: Decimal(c) / 100)
amounts = st.integers(min_value=1, max_value=99_999_999_999_999).map(lambda c: Decimal(c) / 100)
percentages = st.integers(min_value=0, max_value=9_999).map(lambda p: Decimal(p) / 10_000)


@st.composite
def bounds(draw):
    min_fee = draw(cents)
    max_fee = draw(st.none() | cents.map(lambda extra: min_fee + extra))
    return min_fee, max_fee


@given(amount=amounts, fixed=cents, percentage=percentages, limits=bounds())
def test_a_fee_is_never_negative_stays_within_its_bounds_and_has_two_decimals(
    amount, fixed, percentage, limits
):
    min_fee, max_fee = limits
    fee = compute_fee(amount=amount, fixed=fixed, percentage=percentage, min_fee=min_fee, max_fee=max_fee)
    assert fee >= 0
    assert fee >= min_fee
    assert max_fee is None or fee <= max_fee
    assert fee == fee.quantize(CENT)
    assert fee.as_tuple().exponent == -2


@given(amount=amounts, fixed=cents, percentage=percentages)
def test_without_bounds_the_fee_is_the_rounded_formula(amount, fixed, percentage):
    fee = compute_fee(amount=amount, fixed=fixed, percentage=percentage, min_fee=Decimal(0), max_fee=None)
    assert abs(fee - (fixed + amount * percentage)) <= Decimal("0.005")


def test_a_fee_is_fixed_plus_the_percentage_of_the_amount():
    fee = compute_fee(
        amount=Decimal("1000.00"),
        fixed=Decimal("0.50"),
        percentage=Decimal("0.0030"),
        min_fee=Decimal(0),
        max_fee=None,
    )
    assert fee == Decimal("3.50")


def test_half_a_fen_rounds_up():
    fee = compute_fee(
        amount=Decimal("1.00"),
        fixed=Decimal(0),
        percentage=Decimal("0.0050"),
        min_fee=Decimal(0),
        max_fee=None,
    )
    assert fee == Decimal("0.01")


def test_a_small_payment_pays_the_least_fee():
    fee = compute_fee(
        amount=Decimal("10.00"),
        fixed=Decimal(0),
        percentage=Decimal("0.0030"),
        min_fee=Decimal("0.10"),
        max_fee=Decimal("5.00"),
    )
    assert fee == Decimal("0.10")


def test_a_large_payment_pays_no_more_than_the_most_fee():
    fee = compute_fee(
        amount=Decimal("100000.00"),
        fixed=Decimal(0),
        percentage=Decimal("0.0030"),
        min_fee=Decimal("0.10"),
        max_fee=Decimal("5.00"),
    )
    assert fee == Decimal("5.00")


@pytest.mark.django_db
def test_a_biller_without_a_schedule_costs_nothing():
    fee = fee_for(
        biller=BillerFactory(),
        channel=Channel.ONLINE,
        amount=Decimal("100.00"),
        on_date=datetime.date(2026, 6, 1),
    )
    assert fee == Decimal("0.00")


@pytest.mark.django_db
def test_the_schedule_in_force_is_the_latest_that_started_on_or_before_the_day():
    biller = BillerFactory()
    FeeScheduleFactory(
        biller=biller,
        fixed_fee=Decimal("1.00"),
        percentage=0,
        min_fee=0,
        max_fee=None,
        valid_from=datetime.date(2026, 1, 1),
    )
    FeeScheduleFactory(
        biller=biller,
        fixed_fee=Decimal("2.00"),
        percentage=0,
        min_fee=0,
        max_fee=None,
        valid_from=datetime.date(2026, 7, 1),
    )
    FeeScheduleFactory(
        biller=biller,
        fixed_fee=Decimal("3.00"),
        percentage=0,
        min_fee=0,
        max_fee=None,
        valid_from=datetime.date(2027, 1, 1),
    )

    def fee_on(day):
        return fee_for(biller=biller, channel=Channel.ONLINE, amount=Decimal("100.00"), on_date=day)

    assert fee_on(datetime.date(2025, 12, 31)) == Decimal("0.00")
    assert fee_on(datetime.date(2026, 6, 30)) == Decimal("1.00")
    assert fee_on(datetime.date(2026, 7, 1)) == Decimal("2.00")
    assert fee_on(datetime.date(2026, 12, 31)) == Decimal("2.00")


@pytest.mark.django_db
def test_each_channel_has_its_own_schedule():
    biller = BillerFactory()
    FeeScheduleFactory(
        biller=biller,
        channel=Channel.COUNTER,
        fixed_fee=Decimal("2.00"),
        percentage=0,
        min_fee=0,
        max_fee=None,
    )
    day = datetime.date(2026, 6, 1)
    assert fee_for(biller=biller, channel=Channel.COUNTER, amount=Decimal("50.00"), on_date=day) == Decimal(
        "2.00"
    )
    assert fee_for(biller=biller, channel=Channel.ONLINE, amount=Decimal("50.00"), on_date=day) == Decimal(
        "0.00"
    )


@pytest.mark.django_db
def test_setting_a_fee_schedule_stores_it_and_audits_who_set_it(admin_user):
    biller = BillerFactory()
    schedule = set_fee_schedule(
        biller=biller,
        channel=Channel.PARTNER,
        fixed=Decimal("0.20"),
        percentage=Decimal("0.0025"),
        min_fee=Decimal("0.30"),
        max_fee=Decimal("8.00"),
        payer_pays=True,
        valid_from=datetime.date(2026, 12, 1),
        actor=admin_user,
    )
    schedule.refresh_from_db()
    assert (schedule.fixed_fee, schedule.percentage, schedule.max_fee) == (
        Decimal("0.20"),
        Decimal("0.0025"),
        Decimal("8.00"),
    )
    assert schedule.payer_pays
    event = AuditEvent.objects.get(action="fee_schedule.set")
    assert event.actor == admin_user
    assert event.target_id == str(biller.pk)
    assert event.data["percentage"] == "0.0025"
    assert event.data["valid_from"] == "2026-12-01"


@pytest.mark.django_db
def test_a_most_fee_below_the_least_fee_is_refused(admin_user):
    with pytest.raises(BillingError) as refused:
        set_fee_schedule(
            biller=BillerFactory(),
            channel=Channel.ONLINE,
            fixed=Decimal(0),
            percentage=Decimal("0.0030"),
            min_fee=Decimal("1.00"),
            max_fee=Decimal("0.50"),
            payer_pays=False,
            valid_from=datetime.date(2026, 12, 1),
            actor=admin_user,
        )
    assert refused.value.code == "fee_max_below_min"
    assert not FeeSchedule.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_a_negative_fee_is_refused(admin_user):
    with pytest.raises(BillingError) as refused:
        set_fee_schedule(
            biller=BillerFactory(),
            channel=Channel.ONLINE,
            fixed=Decimal("-0.01"),
            percentage=Decimal(0),
            min_fee=Decimal(0),
            max_fee=None,
            payer_pays=False,
            valid_from=datetime.date(2026, 12, 1),
            actor=admin_user,
        )
    assert refused.value.code == "fee_negative"


@pytest.mark.django_db
def test_a_second_schedule_for_the_same_day_and_channel_is_refused(admin_user):
    existing = FeeScheduleFactory()
    with pytest.raises(BillingError) as refused:
        set_fee_schedule(
            biller=existing.biller,
            channel=existing.channel,
            fixed=Decimal(0),
            percentage=Decimal("0.0010"),
            min_fee=Decimal(0),
            max_fee=None,
            payer_pays=False,
            valid_from=existing.valid_from,
            actor=admin_user,
        )
    assert refused.value.code == "fee_schedule_exists"
    assert FeeSchedule.objects.count() == 1
