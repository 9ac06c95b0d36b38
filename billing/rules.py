"""Biller rules as pure functions: is this account number valid, and where does this amount go.

Nothing here touches the database, so the rules are tested exhaustively with hypothesis.
"""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from billing.choices import AmountRule, CheckDigit
from billing.exceptions import PaymentRefused
from billing.money import ZERO, format_money


def normalize_account_no(raw: str) -> str:
    """Full-width digits typed on a Chinese keyboard become ASCII; spaces and dashes between groups go."""
    text = unicodedata.normalize("NFKC", raw or "")
    return re.sub(r"[\s-]+", "", text).upper()


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def luhn_is_valid(number: str) -> bool:
    if not number.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def mod11_2_is_valid(number: str) -> bool:
    """ISO 7064 MOD 11-2, the check character of resident ID numbers: the last character is 0-9 or X."""
    if len(number) < 2 or not number[:-1].isdigit() or number[-1] not in "0123456789X":
        return False
    total = 0
    for char in number[:-1]:
        total = (total + int(char)) * 2 % 11
    check = (12 - total) % 11
    return number[-1] == ("X" if check == 10 else str(check))


CHECK_DIGIT_VALIDATORS = {
    CheckDigit.NONE: lambda number: True,
    CheckDigit.LUHN: luhn_is_valid,
    CheckDigit.MOD11_2: mod11_2_is_valid,
}


def account_no_is_valid(account_no: str, *, pattern: str, check_digit: str) -> bool:
    return bool(_compiled(pattern).fullmatch(account_no)) and CHECK_DIGIT_VALIDATORS[check_digit](account_no)


@dataclass(frozen=True)
class StatementAllocation:
    """How a payment splits over an account's bills (aligned with the bills given), and what is left as
    credit on the account."""

    bill_amounts: tuple[Decimal, ...]
    credit: Decimal


def allocate_statement_payment(
    *, rule: str, outstanding: Sequence[Decimal], amount: Decimal, bills_named: bool, biller: str
) -> StatementAllocation:
    """Split `amount` over bills, oldest first, as the biller's amount rule allows.

    `outstanding` is what each bill still owes, oldest first. Named bills must all be paid in full
    (EXACT, EXACT_UP) or up to their total (EXACT_DOWN). Unnamed, EXACT takes the oldest bill or the
    oldest several, whole; EXACT_DOWN fills bills oldest first and may leave the last one partly paid;
    EXACT_UP pays whole bills oldest first and keeps the rest as credit.
    """
    total = sum(outstanding, ZERO)
    if rule == AmountRule.EXACT:
        if bills_named:
            if amount != total:
                raise PaymentRefused("amount_not_exact", biller=biller, expected=f"¥{format_money(total)}")
            return StatementAllocation(tuple(outstanding), ZERO)
        running = ZERO
        for count, owed in enumerate(outstanding, start=1):
            running += owed
            if running == amount:
                return StatementAllocation(
                    tuple(outstanding[:count]) + (ZERO,) * (len(outstanding) - count), ZERO
                )
        raise PaymentRefused("amount_not_exact", biller=biller, expected=_exact_choices(outstanding))
    if rule == AmountRule.EXACT_DOWN:
        if amount > total:
            raise PaymentRefused("amount_exceeds_due", biller=biller, due=format_money(total))
        return StatementAllocation(_fill_oldest_first(outstanding, amount, partial=True), ZERO)
    if rule == AmountRule.EXACT_UP:
        required = total if bills_named else (outstanding[0] if outstanding else ZERO)
        if amount < required:
            raise PaymentRefused("amount_below_due", biller=biller, due=format_money(required))
        bill_amounts = _fill_oldest_first(outstanding, amount, partial=False)
        return StatementAllocation(bill_amounts, amount - sum(bill_amounts, ZERO))
    raise ValueError(f"unknown amount rule {rule!r}")


def _fill_oldest_first(
    outstanding: Sequence[Decimal], amount: Decimal, *, partial: bool
) -> tuple[Decimal, ...]:
    remaining = amount
    amounts = []
    for owed in outstanding:
        if remaining >= owed:
            share = owed
        elif partial:
            share = remaining
        else:
            share = ZERO
        amounts.append(share)
        remaining -= share
    return tuple(amounts)


def _exact_choices(outstanding: Sequence[Decimal]) -> str:
    oldest = format_money(outstanding[0])
    if len(outstanding) == 1:
        return f"¥{oldest}"
    return f"¥{oldest} / ¥{format_money(sum(outstanding, ZERO))}"
