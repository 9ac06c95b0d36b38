"""Opening hours written the way staff write them in a spreadsheet, e.g.
"mon-fri 08:30-17:30; sat 09:00-12:00,13:00-16:00", stored as {"mon": "08:30-17:30", ...}."""

import re

from branches.choices import WEEKDAYS

SPAN_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)$")
DAY_NAMES_ZH = dict(zip(WEEKDAYS, ("周一", "周二", "周三", "周四", "周五", "周六", "周日"), strict=True))


class HoursError(ValueError):
    pass


def _days(token: str) -> list[str]:
    token = token.strip().lower()
    if token in ("daily", "every day"):
        return list(WEEKDAYS)
    if "-" in token:
        first, last = (part.strip() for part in token.split("-", 1))
        if first not in WEEKDAYS or last not in WEEKDAYS:
            raise HoursError(f"unknown day range {token!r}")
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last)
        if end < start:
            raise HoursError(f"day range {token!r} runs backwards")
        return list(WEEKDAYS[start : end + 1])
    if token not in WEEKDAYS:
        raise HoursError(f"unknown day {token!r} (use mon, tue, wed, thu, fri, sat, sun)")
    return [token]


def parse_weekly_hours(text: str) -> dict[str, str]:
    """{"mon": "08:30-17:30", ...}; days not named are closed. Raises HoursError on anything unclear."""
    result: dict[str, str] = {}
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        if " " not in part:
            raise HoursError(f"{part!r}: write the days, a space, then the hours, e.g. 'mon-fri 08:30-17:30'")
        days, spans = part.split(None, 1)
        spans = spans.replace(" ", "")
        if spans.lower() != "closed":
            for span in spans.split(","):
                if not SPAN_RE.fullmatch(span) or span[:5] >= span[6:]:
                    raise HoursError(f"{span!r} is not a time span like 08:30-17:30")
        for day in _days(days):
            result[day] = "" if spans.lower() == "closed" else spans
    return {day: hours for day, hours in result.items() if hours}


def format_weekly_hours(hours: dict[str, str]) -> str:
    """The compact text form, grouping consecutive days with the same hours: "mon-fri 08:30-17:30"."""
    parts = []
    index = 0
    while index < len(WEEKDAYS):
        day = WEEKDAYS[index]
        value = hours.get(day, "")
        end = index
        while end + 1 < len(WEEKDAYS) and hours.get(WEEKDAYS[end + 1], "") == value:
            end += 1
        if value:
            label = day if end == index else f"{day}-{WEEKDAYS[end]}"
            parts.append(f"{label} {value}")
        index = end + 1
    return "; ".join(parts)
