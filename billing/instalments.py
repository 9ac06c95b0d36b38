"""Bills offered in full or in N instalments (issue 17, item 3), each with its own amount and due date.

A bill's payments cover its instalments in order (the first instalment first): an instalment is paid once
the bill's amount paid reaches the running total up to it. Nothing about an instalment is stored but its
amount and due date (`Instalment`), so paying every instalment pays the bill and paying the bill in full
closes every open instalment, whatever channel took the money. `billing.services.post_payment` accepts
the next open instalment's amount for a bill that has a plan, even where the biller takes only exact
amounts; `offer_instalments` (in billing.services) sets a plan up, audited.
"""

import calendar
import datetime
from dataclasses import dataclass
from decimal import Decimal

from billing.money import ZERO, quantize_money

MIN_INSTALMENTS, MAX_INSTALMENTS = 2, 12


@dataclass(frozen=True)
class InstalmentState:
    number: int
    count: int
    amount: Decimal
    due_date: datetime.date
    paid: Decimal

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.paid

    @property
    def is_paid(self) -> bool:
        return self.remaining <= ZERO


def states(bill, instalments=None) -> list[InstalmentState]:
    """Each instalment of the bill with what the bill's payments cover of it, first first."""
    rows = sorted(instalments if instalments is not None else bill.instalments.all(), key=lambda i: i.number)
    left = bill.amount_paid
    result = []
    for row in rows:
        covered = min(max(left, ZERO), row.amount)
        left -= covered
        result.append(InstalmentState(row.number, len(rows), row.amount, row.due_date, covered))
    if bill.status == "paid":  # paid in full (or with a discount): nothing of any instalment is open
        result = [InstalmentState(s.number, s.count, s.amount, s.due_date, s.amount) for s in result]
    return result


def next_open(bill, instalments=None) -> InstalmentState | None:
    return next((state for state in states(bill, instalments) if not state.is_paid), None)


def equal_parts(
    total: Decimal, *, count: int, first_due: datetime.date, months_apart: int = 1
) -> list[tuple[Decimal, datetime.date]]:
    """A plan of `count` instalments of one amount each, a month (or `months_apart`) after each other from
    `first_due`: the fen that do not divide go to the first instalment, so the parts add up exactly. A
    due day past the end of a shorter month falls on its last day (31 January, then 28 February)."""
    fen = int((total * 100).to_integral_value())
    share, left = divmod(fen, count) if count > 0 else (0, 0)
    return [
        (
            quantize_money(Decimal(share + (left if number == 0 else 0)) / 100),
            _months_after(first_due, number * months_apart),
        )
        for number in range(count)
    ]


def _months_after(day: datetime.date, months: int) -> datetime.date:
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
