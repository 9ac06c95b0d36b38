"""One cell at a time: a spreadsheet cell as text, a period, a date. (Amounts are `billing.money`'s
`parse_money_text`, shared with posting and the APIs.)"""

from __future__ import annotations

import datetime
import re
import unicodedata

# What `strip` removes from every cell, here and in the SQL path: spaces, tabs, line ends, the
# ideographic space and the no-break space Excel leaves behind.
BLANKS = " \t\r\n\u3000\u00a0"

# ASCII digits only, as PostgreSQL's `\d` in the SQL path (NFKC has made full-width digits ASCII already).
PERIOD_RE = re.compile(r"^(\d{4})[-/.]?(\d{1,2})$", re.ASCII)
DATE_RES = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$", re.ASCII),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$", re.ASCII),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$", re.ASCII),
)


def _text(value: object) -> str:
    """A cell as text. Spreadsheet numbers come as int or float: 1234.5 is written "1234.5"."""
    if type(value) is str:
        return value.strip(BLANKS)
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value).strip(BLANKS)


def parse_period_cell(text: str) -> str | None:
    match = PERIOD_RE.fullmatch(unicodedata.normalize("NFKC", text))
    if not match:
        return None
    year, month = int(match[1]), int(match[2])
    if not (1900 <= year <= 2999 and 1 <= month <= 12):
        return None
    return f"{year:04d}-{month:02d}"


def parse_date_cell(text: str) -> datetime.date | None:
    cleaned = unicodedata.normalize("NFKC", text)
    for pattern in DATE_RES:
        match = pattern.fullmatch(cleaned)
        if match:
            year, month, day = (int(part) for part in match.groups())
            if not 1900 <= year <= 2999:
                return None
            try:
                return datetime.date(year, month, day)
            except ValueError:
                return None
    return None
