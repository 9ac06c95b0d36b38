"""Shared collections (issue 17, item 4): how one payment to a biller is split among its co-beneficiaries
(billing.CollectionShare). Pure rules, read by `billing.services.post_payment` (`split_payment`)
and by the configuration service (what a biller may declare).

The split of a payment, in this order:
- The late fee stays with the biller (its LATEFEE account): it is the biller's penalty for paying its own
  bill late, charged at its own rate, and the parts below are declared on the bill's face amount.
- A fixed share takes its amount per bill from the bill's principal, in the parts' order: the first fixed
  part takes the bill's first yuan up to its amount, the next the yuan after that. A bill paid in parts
  pays the fixed parts first; a fixed part never takes more than the bill, and over all of a bill's
  payments it takes exactly its amount (or the bill, when smaller).
- Percentage shares take their percent of what is left (the rest of the principal, and credit, top-ups
  and donations); the biller keeps the remainder. Each part is rounded to the fen by the largest
  remainder (ties to the earlier part, the biller last), so the parts always add up to the payment.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from billing.choices import PaymentMode, ShareRule
from billing.exceptions import BillingError
from billing.money import CENT, ZERO

SHARE_CODE_RE = re.compile(r"^[A-Z0-9]{2,16}$")
HUNDRED = Decimal("100")


@dataclass(frozen=True)
class BillPart:
    """The principal a payment puts on one bill, and the principal that bill had paid before it."""

    paid_before: Decimal
    amount: Decimal


def principal_paid_before(quote) -> Decimal:
    """What a bill's earlier payments put on its principal (billing.amounts pays the principal first)."""
    return min(quote.paid, max(quote.principal - quote.discount, ZERO))


def split_payment(
    shares: Sequence, *, principal: Decimal, bill_parts: Sequence[BillPart]
) -> list[tuple[object, Decimal]]:
    """Each share's part of `principal` (the payment less its late fee), in the shares' order, parts of
    zero left out. `shares` are the biller's active CollectionShare rows (or anything with rule,
    fixed_amount and percentage); the biller keeps `principal` less their sum."""
    fixed = [share for share in shares if share.rule == ShareRule.FIXED]
    percent = [share for share in shares if share.rule == ShareRule.PERCENT]
    parts: dict[int, Decimal] = {}
    for bill in bill_parts:
        low = ZERO
        start, end = bill.paid_before, bill.paid_before + bill.amount
        for index, share in enumerate(fixed):
            high = low + share.fixed_amount
            overlap = min(high, end) - max(low, start)
            if overlap > 0:
                parts[index] = parts.get(index, ZERO) + overlap
            low = high
    taken = sum(parts.values(), ZERO)
    result = [(share, parts[index]) for index, share in enumerate(fixed) if index in parts]
    left = principal - taken
    if percent and left > 0:
        amounts = largest_remainder(left, [share.percentage for share in percent])
        result += [(share, amount) for share, amount in zip(percent, amounts, strict=True) if amount]
    order = {id(share): index for index, share in enumerate(shares)}
    return sorted(result, key=lambda pair: order[id(pair[0])])


def largest_remainder(amount: Decimal, percentages: Sequence[Decimal]) -> list[Decimal]:
    """`amount` shared by `percentages` (which add up to at most 100; the rest is the keeper's), each part
    rounded to the fen so that the parts and the keeper's add up to `amount` exactly: every part gets its
    share rounded down, and the fens left go one each to the largest remainders (ties to the earlier
    part, the keeper last). Returns the parts of `percentages`, not the keeper's."""
    fens = int(amount / CENT)
    weights = [int(p * HUNDRED) for p in percentages]  # hundredths of a percent
    weights.append(10000 - sum(weights))
    floors = [fens * w // 10000 for w in weights]
    remainders = [fens * w % 10000 for w in weights]
    left = fens - sum(floors)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        floors[index] += 1
    return [Decimal(f) * CENT for f in floors[:-1]]


def check_shares(*, biller, shares: Sequence) -> None:
    """Refuse a configuration that cannot be split: a code used twice or malformed, a rule without its
    value (or with the other rule's), percentages above 100 in all, a fixed amount per bill on a biller
    without bills, or a part without the bank account its money is remitted to. Inactive parts are
    checked for their code and bank account only (settlement still pays what they hold)."""
    seen = set()
    for share in shares:
        name = share.name or share.code
        if not SHARE_CODE_RE.fullmatch(share.code or ""):
            raise BillingError("share_code_invalid", share_code=share.code)
        if share.code in seen:
            raise BillingError("share_code_twice", share_code=share.code)
        seen.add(share.code)
        if not (share.settlement_bank_name and share.settlement_account_name and share.settlement_account_no):
            raise BillingError("share_bank_account_required", share=name)
        if not share.active:
            continue
        if share.rule == ShareRule.FIXED:
            good = share.fixed_amount is not None and share.fixed_amount > 0 and share.percentage is None
            good = good and share.fixed_amount == share.fixed_amount.quantize(CENT)
        else:
            good = share.rule == ShareRule.PERCENT and share.fixed_amount is None
            good = good and share.percentage is not None and ZERO < share.percentage <= HUNDRED
            good = good and share.percentage == share.percentage.quantize(CENT)
        if not good:
            raise BillingError("share_rule_value", share=name)
        if share.rule == ShareRule.FIXED and biller.payment_mode != PaymentMode.STATEMENT:
            raise BillingError("share_fixed_needs_bills", share=name, biller=biller.display_name)
    total = sum((s.percentage for s in shares if s.active and s.rule == ShareRule.PERCENT), ZERO)
    if total > HUNDRED:
        raise BillingError("share_percentages_over_100", biller=biller.display_name, total=f"{total:.2f}")
