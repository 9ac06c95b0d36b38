"""Response-time rules: a reason's answer is due at the end (Beijing time) of its Nth working day after the
day it was raised.

Working days are China's calendar, which reconciliation keeps (reconciliation/working_days.py: the
`chinese-calendar` package under the operator's overrides). Reconciliation sits above this app, so it
hands its calendar in when it loads (`use_calendar`, from ReconciliationConfig.ready); until then, and in
a process without reconciliation, weekends are the only days off."""

import datetime
from collections.abc import Callable

from django.utils import timezone

from disputes import taxonomy


def _weekends_only(day: datetime.date) -> datetime.date:
    day += datetime.timedelta(days=1)
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    return day


_next_working_day: Callable[[datetime.date], datetime.date] = _weekends_only


def use_calendar(next_working_day: Callable[[datetime.date], datetime.date]) -> None:
    global _next_working_day
    _next_working_day = next_working_day


def working_days_after(day: datetime.date, count: int) -> datetime.date:
    for _ in range(count):
        day = _next_working_day(day)
    return day


def due_at(reason_code: str, raised_at: datetime.datetime) -> datetime.datetime:
    """When the answer to a dispute of `reason_code` raised at `raised_at` is due: the last moment of
    the reason's Nth working day after the day it was raised (Beijing time)."""
    rule = taxonomy.BY_CODE[reason_code]
    day = working_days_after(timezone.localdate(raised_at), rule.working_days)
    end = datetime.datetime.combine(day, datetime.time(23, 59, 59))
    return timezone.make_aware(end)
