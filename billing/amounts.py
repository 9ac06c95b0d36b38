"""What a bill costs on a given payment day, in Beijing time: its principal, the late fee accrued after the
due date at the biller's daily rate (capped), less an early-payment discount while it holds. Every channel
reads a bill's amount through `amount_due` (the model's `Bill.quote` / `Bill.outstanding` for today), and
`billing.services.post_payment` prices the bills it pays with it, so the payer sees what is posted.

Rules (issue 17, item 2):
- Days late = payment day − due date (Beijing calendar days); day 0 (the due date itself) costs nothing.
- Late fee = principal × daily rate × days late, rounded to the fen half up, never above
  principal × cap rate (rounded likewise). A late fee the bill already carries (imported, or charged by
  an earlier payment) is a floor: a fee once charged is not taken back by the calendar.
- The discount holds up to and including `discount_until`; the day after it is gone. It applies only to a
  bill that is not yet paid; a paid bill keeps the discount its payment was granted.
- Paid and cancelled bills cost what their payments left them: the calendar no longer changes them.
- `holds_until` is the last day the total stays the same (None when nothing the calendar does changes it).
"""

import datetime
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from billing.choices import PAYABLE_BILL_STATUSES
from billing.money import ZERO, quantize_money

BEIJING = zoneinfo.ZoneInfo("Asia/Shanghai")
# How far ahead `holds_until` looks for the next change of the total (a fee too small to reach a fen for
# a long time is shown as holding until this horizon's end at most).
HORIZON_DAYS = 366


def beijing_today() -> datetime.date:
    """Today's date in Beijing (through `timezone.now`, which the demo's clock may set)."""
    return timezone.now().astimezone(BEIJING).date()


def beijing_date(moment: datetime.datetime) -> datetime.date:
    return moment.astimezone(BEIJING).date()


@dataclass(frozen=True)
class AmountDue:
    on: datetime.date
    principal: Decimal
    late_fee: Decimal
    discount: Decimal
    paid: Decimal
    late_days: int
    holds_until: datetime.date | None
    bill: object = field(default=None, compare=False, repr=False)

    @property
    def total(self) -> Decimal:
        return self.principal + self.late_fee - self.discount

    @property
    def outstanding(self) -> Decimal:
        return max(self.total - self.paid, ZERO)

    @property
    def changes_with_date(self) -> bool:
        return self.holds_until is not None

    @property
    def has_notes(self) -> bool:
        """Whether partials/amount_due.html has anything to say under the amount (a late fee, a discount, a
        date it holds until): a page with many bills skips the partial for the others."""
        return bool(self.late_fee or self.discount or self.holds_until)

    def split(self, share: Decimal) -> tuple[Decimal, Decimal]:
        """(principal part, late fee part) of a payment of `share` to this bill: the principal is paid
        first, the late fee with what is left."""
        principal_left = max(self.principal - self.discount - self.paid, ZERO)
        principal_part = min(share, principal_left)
        return principal_part, share - principal_part


def accrued_late_fee(*, principal: Decimal, due_date: datetime.date, on: datetime.date, rate, cap) -> Decimal:
    """The late fee the calendar alone puts on `principal` on day `on` (no floor)."""
    if not rate:
        return ZERO
    days = (on - due_date).days
    if days <= 0:
        return ZERO
    fee = quantize_money(principal * rate * days)
    if cap is not None:
        fee = min(fee, quantize_money(principal * cap))
    return fee


def _late_fee(bill, biller, on: datetime.date) -> Decimal:
    accrued = accrued_late_fee(
        principal=bill.amount_due,
        due_date=bill.due_date,
        on=on,
        rate=biller.late_fee_daily_rate,
        cap=biller.late_fee_cap_rate,
    )
    return max(bill.late_fee, accrued)


def _discount(bill, on: datetime.date) -> Decimal:
    if bill.early_discount and bill.discount_until is not None and on <= bill.discount_until:
        return bill.early_discount
    return ZERO


def _total(bill, biller, on: datetime.date) -> Decimal:
    return bill.amount_due + _late_fee(bill, biller, on) - _discount(bill, on)


def _holds_until(bill, biller, on: datetime.date, total: Decimal) -> datetime.date | None:
    """The last day from `on` on which the total is still `total`; None if it never changes."""
    changes = []
    if _discount(bill, on):
        changes.append(bill.discount_until + datetime.timedelta(days=1))
    if biller.late_fee_daily_rate:
        fee_now = _late_fee(bill, biller, on)
        cap = None
        if biller.late_fee_cap_rate is not None:
            cap = quantize_money(bill.amount_due * biller.late_fee_cap_rate)
        if cap is None or fee_now < cap:
            start = max(on, bill.due_date)
            for offset in range(1, HORIZON_DAYS + 1):
                day = start + datetime.timedelta(days=offset)
                if _late_fee(bill, biller, day) != fee_now:
                    changes.append(day)
                    break
            else:
                changes.append(start + datetime.timedelta(days=HORIZON_DAYS + 1))
    changes = [day for day in changes if day > on]
    if not changes:
        return None
    first = min(changes)
    # The day before the first change, unless the changes cancel out on that day (they do not, but
    # check the total rather than trust it).
    if _total(bill, biller, first) == total:
        return None if first > on + datetime.timedelta(days=HORIZON_DAYS) else first
    return first - datetime.timedelta(days=1)


def amount_due(bill, on: datetime.date | None = None) -> AmountDue:
    """What `bill` costs when paid on Beijing day `on` (today by default)."""
    on = on or beijing_today()
    if bill.status not in PAYABLE_BILL_STATUSES:
        return AmountDue(
            on=on,
            principal=bill.amount_due,
            late_fee=bill.late_fee,
            discount=bill.discount_granted,
            paid=bill.amount_paid,
            late_days=0,
            holds_until=None,
        )
    biller = bill.biller
    late_fee = _late_fee(bill, biller, on)
    discount = _discount(bill, on)
    total = bill.amount_due + late_fee - discount
    return AmountDue(
        on=on,
        principal=bill.amount_due,
        late_fee=late_fee,
        discount=discount,
        paid=bill.amount_paid,
        late_days=max((on - bill.due_date).days, 0) if late_fee else 0,
        holds_until=_holds_until(bill, biller, on, total),
        bill=bill,
    )


def requote(quote: AmountDue, *, on: datetime.date) -> AmountDue:
    return amount_due(quote.bill, on=on)


def holds_until_of(quotes: Sequence[AmountDue]) -> datetime.date | None:
    """The last day on which all of these bills keep today's amount (None: the date changes none)."""
    days = [quote.holds_until for quote in quotes if quote.holds_until is not None]
    return min(days) if days else None


def holds_text(quotes: Sequence[AmountDue]) -> str:
    """ "holds until 2026-12-31" (Beijing time), or that the date does not change it."""
    day = holds_until_of(quotes)
    if day is None:
        return _("the date does not change it")
    return _("holds until the end of %(day)s, Beijing time") % {"day": formats.date_format(day, "Y-m-d")}


def price_bill(bill, quote: AmountDue) -> None:
    """Put the quote's late fee and discount on a locked bill before a payment advances it (in memory;
    `billing.posting` writes them with the payment)."""
    bill.late_fee = quote.late_fee
    bill.discount_granted = quote.discount
