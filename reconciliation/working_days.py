"""China's working calendar, which banks and billers settle by: public holidays and the swapped working
days (调休) from the `chinese-calendar` package, under the operator's overrides (WorkingDayOverride, kept
in the admin). The package ships the State Council's calendar only for the years it knows; for a later
year it is not guessed: weekends are the only days off until the operator (or a newer package) says
more, and `calendar_source` says so."""

import datetime
import logging

import chinese_calendar
from django.utils import timezone

logger = logging.getLogger(__name__)

FROM_PACKAGE = "chinese-calendar"
FROM_WEEKENDS = "weekends only"
FROM_OPERATOR = "operator"

# A run of holidays is never longer than this (Spring Festival and National Day are 8-9 days).
_MAX_DAYS_AHEAD = 40


def _override(day: datetime.date):
    from reconciliation.models import WorkingDayOverride

    return WorkingDayOverride.objects.filter(day=day).values_list("is_working_day", flat=True).first()


def calendar_source(day: datetime.date) -> str:
    """Where `is_working_day(day)` comes from: the operator, the package, or weekends alone."""
    if _override(day) is not None:
        return FROM_OPERATOR
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return FROM_WEEKENDS
    return FROM_PACKAGE


def is_working_day(day: datetime.date) -> bool:
    overridden = _override(day)
    if overridden is not None:
        return overridden
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        logger.warning("chinese-calendar has no data for %s: only weekends are days off", day.year)
        return day.weekday() < 5


def next_working_day(day: datetime.date) -> datetime.date:
    """The first working day after `day` (T+1 in working days)."""
    for ahead in range(1, _MAX_DAYS_AHEAD + 1):
        candidate = day + datetime.timedelta(days=ahead)
        if is_working_day(candidate):
            return candidate
    raise ValueError(f"no working day within {_MAX_DAYS_AHEAD} days after {day}")


def working_day_on_or_after(day: datetime.date) -> datetime.date:
    return day if is_working_day(day) else next_working_day(day)


def value_date(business_day: datetime.date, settled_on: datetime.date | None = None) -> datetime.date:
    """When the biller's bank credits a day's money: the next working day after it, or, for a day
    settled later than that, the first working day from the settlement on."""
    due = next_working_day(business_day)
    settled_on = settled_on or timezone.localdate()
    return due if settled_on <= due else working_day_on_or_after(settled_on)


def working_days_back(day: datetime.date, count: int) -> datetime.date:
    """The day `count` working days before `day`."""
    found = day
    for _ in range(count):
        found -= datetime.timedelta(days=1)
        while not is_working_day(found):
            found -= datetime.timedelta(days=1)
    return found
