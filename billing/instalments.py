"""Bills offered in full or in N instalments (issue 17, item 3), each with its own amount and due date.

A bill's payments cover its instalments in order (the first instalment first): an instalment is paid once
the bill's amount paid reaches the running total up to it. Nothing about an instalment is stored but its
amount and due date (`Instalment`), so paying every instalment pays the bill and paying the bill in full
closes every open instalment, whatever channel took the money. `billing.services.post_payment` accepts
the next open instalment's amount for a bill that has a plan, even where the biller takes only exact
amounts; `offer_instalments` (in billing.services) sets a plan up, audited.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from billing.money import ZERO

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
