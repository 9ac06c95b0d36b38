"""The demo's clock: the history the demo writes happened on the days it says, not at the moment of the
seed. The posting service reads the time from `django.utils.timezone.now` (a payment's `posted_at` and its
business day); while the demo writes a past payment, that is the payment's moment. Only the demo, which
runs with DEBUG on and alone (`make run`, before the server starts), ever turns this clock back."""

import datetime
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.utils import timezone

OPENS, CLOSES = datetime.time(8), datetime.time(22)  # when the demo's citizens pay, in Beijing time


@contextmanager
def at(moment: datetime.datetime) -> Iterator[None]:
    """Within the block, `timezone.now()` answers `moment` (an aware datetime)."""
    if timezone.is_naive(moment):
        raise ValueError("the demo's clock takes an aware datetime")
    real_now = timezone.now
    timezone.now = lambda: moment
    try:
        yield
    finally:
        timezone.now = real_now


def moment_of(day: datetime.date, key: str) -> datetime.datetime:
    """A stable moment of `day` for the payment with this key, spread over the paying hours."""
    span = (CLOSES.hour - OPENS.hour) * 3600
    seconds = OPENS.hour * 3600 + zlib.crc32(key.encode()) % span
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time()))
    return start + datetime.timedelta(seconds=seconds)
