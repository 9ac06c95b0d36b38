"""What the platform charges for a payment: the biller's fee schedule for the channel, on the day."""

import datetime
from decimal import Decimal

from billing.models import Biller, FeeSchedule
from billing.money import ZERO, quantize_money


def compute_fee(
    *,
    amount: Decimal,
    fixed: Decimal,
    percentage: Decimal,
    min_fee: Decimal,
    max_fee: Decimal | None,
) -> Decimal:
    """fixed + amount × percentage, kept within [min_fee, max_fee], rounded to the fen half up.

    Rounding comes last, so a fee is never rounded twice; the bounds are whole fen already.
    """
    fee = fixed + amount * percentage
    fee = max(fee, min_fee)
    if max_fee is not None:
        fee = min(fee, max_fee)
    return quantize_money(fee)


def schedule_on(*, biller: Biller, channel: str, on_date: datetime.date) -> FeeSchedule | None:
    """The schedule in force on `on_date`: the one with the latest `valid_from` not after it."""
    return (
        FeeSchedule.objects.filter(biller=biller, channel=channel, valid_from__lte=on_date)
        .order_by("-valid_from")
        .first()
    )


def fee_for(*, biller: Biller, channel: str, amount: Decimal, on_date: datetime.date) -> Decimal:
    """The fee for a payment of `amount` to `biller` through `channel` on `on_date`; ¥0.00 without a
    schedule."""
    schedule = schedule_on(biller=biller, channel=channel, on_date=on_date)
    if schedule is None:
        return ZERO
    return compute_fee(
        amount=amount,
        fixed=schedule.fixed_fee,
        percentage=schedule.percentage,
        min_fee=schedule.min_fee,
        max_fee=schedule.max_fee,
    )
