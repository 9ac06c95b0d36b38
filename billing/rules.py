"""Biller rules as pure functions: is this account number valid, and where does this amount go.

Nothing here touches the database, so the rules are tested exhaustively with hypothesis.
"""

import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from billing.choices import AmountRule, CheckDigit
from billing.exceptions import PaymentRefused
from billing.money import ZERO, format_money

logger = logging.getLogger(__name__)


# What separates groups of digits in an account number as people write it ("2010 0034-5"): dropped. The
# SQL import path uses the same text in PostgreSQL (`billing.bill_import.sql_path`); both engines read
# `\s` and `-` inside a bracket alike, which `tests/billing/test_import_differential.py` checks.
ACCOUNT_SEPARATORS = r"[\s-]+"
_ACCOUNT_SEPARATORS_RE = re.compile(ACCOUNT_SEPARATORS)


def normalize_account_no(raw: object) -> str:
    """THE normal form of an account number (户号), wherever one arrives: a form, the counter, an API, a
    bill file. Full-width digits typed on a Chinese keyboard become ASCII (NFKC); spaces and dashes
    between groups go; letters are upper case."""
    text = unicodedata.normalize("NFKC", raw if isinstance(raw, str) else str(raw or ""))
    return _ACCOUNT_SEPARATORS_RE.sub("", text).upper()


def normalize_notice_no(raw: str | None) -> str:
    """The normal form of a payment notice number (缴款书号) as bills store it and lookups compare it: no
    spaces, upper case."""
    return "".join((raw or "").split()).upper()


def normalize_code(raw: str | None) -> str:
    """A biller code or receipt number as typed: surrounding blanks go, letters are upper case."""
    return (raw or "").strip().upper()


# The biller's account pattern runs in two engines: Python's `re` (forms, APIs, posting, the Python import)
# and PostgreSQL's `~` (the COPY import). Their syntaxes differ (`\b` is a word boundary in one and a
# backspace in the other; `(?P<name>…)` exists only in Python; `\d` is Unicode in Python's default mode),
# so a pattern is held to a subset both read the same way, and compiled by both when it is saved:
#   ASCII letters and digits, `.`, `^` and `$`, groups `(…)` and `(?:…)`, `|`, the quantifiers `*`, `+`,
#   `?`, `{m}`, `{m,}`, `{m,n}` (and their lazy forms), bracket classes of letters, digits, ranges and
#   `\d`, the escape `\d`, and a backslash before punctuation (`\.`, `\-`, `\(`…) for the character
#   itself.
# Python compiles it with re.ASCII, so `\d` is 0-9 in both engines.
ACCOUNT_PATTERN_MAX_LENGTH = 200
_PATTERN_PUNCTUATION = ".-()[]{}|*+?^$\\/"


def account_pattern_problem(pattern: str) -> tuple[str, dict] | None:
    """Why `pattern` is not a usable account pattern in both engines' common subset: (error code, params),
    or None.

    Only the Python side: `billing.account_patterns.check_account_pattern` adds PostgreSQL's compiler."""
    if not isinstance(pattern, str) or not pattern:
        return "account_pattern_empty", {}
    if len(pattern) > ACCOUNT_PATTERN_MAX_LENGTH:
        return "account_pattern_too_long", {}
    if not pattern.isascii() or not pattern.isprintable():
        return "account_pattern_unsupported", {}
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            following = pattern[index + 1 : index + 2]
            if following != "d" and (not following or following not in _PATTERN_PUNCTUATION):
                return "account_pattern_unsupported", {}
            index += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
            elif char == "[":
                return "account_pattern_unsupported", {}  # [[:digit:]] and nested classes: PostgreSQL only
            index += 1
            continue
        if char == "[":
            in_class = True
            index += 1
            # a ] or ^] right after the opening bracket is a literal in both; keep it simple: refuse it
            if pattern[index : index + 1] == "]" or pattern[index : index + 2] == "^]":
                return "account_pattern_unsupported", {}
            continue
        if char == "(" and pattern[index + 1 : index + 2] == "?":
            if pattern[index + 2 : index + 3] != ":":
                return "account_pattern_unsupported", {}  # (?P<…>), (?i), look-arounds: engine-specific
            index += 3
            continue
        if not (char.isalnum() or char in "_^$.()|*+?{},-"):
            return "account_pattern_unsupported", {}
        index += 1
    if in_class:
        return "account_pattern_invalid", {"detail": "["}
    try:
        re.compile(pattern, re.ASCII)
    except re.error as error:
        return "account_pattern_invalid", {"detail": str(error)}
    return None


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern, re.ASCII)
    except re.error:
        # Saved before patterns were checked, or written past the checks: a refusal, never a 500.
        logger.error("biller account pattern does not compile: %r", pattern)
        raise PaymentRefused("account_rule_broken") from None


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


def account_rule(*, pattern: str, check_digit: str) -> Callable[[str], bool]:
    """`account_no_is_valid` for one biller, its pattern compiled once: for a file's many numbers."""
    matches = _compiled(pattern).fullmatch
    if check_digit == CheckDigit.NONE:
        return lambda account_no: matches(account_no) is not None
    check = CHECK_DIGIT_VALIDATORS[check_digit]
    return lambda account_no: matches(account_no) is not None and check(account_no)


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
