"""Money: Decimal yuan with two places, parsed and rounded here and nowhere else."""

import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from billing.exceptions import PaymentRefused

MONEY_MAX_DIGITS = 14
MONEY_DECIMAL_PLACES = 2
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("999999999999.99")
MAX_WHOLE_DIGITS = MONEY_MAX_DIGITS - MONEY_DECIMAL_PLACES

# Amounts as written in a biller's file ("1,234.50", "¥1234.5", "￥88", "88元"): after NFKC, these
# characters are dropped and what is left must be a plain decimal. The SQL import path builds its checks
# from the same two texts (`billing.bill_import_copy`); both engines read them alike (ASCII digits only).
MONEY_TEXT_DECORATIONS = r"[\s,¥元]"
MONEY_TEXT = r"-?\d+(\.\d+)?"
# An amount as a channel sends it over the API ("128.50"): the shape its schema documents and checks;
# `parse_amount` then applies the money rules (more than zero, within the column).
CHANNEL_AMOUNT_PATTERN = rf"^[0-9]{{1,{MAX_WHOLE_DIGITS}}}(\.[0-9]{{1,{MONEY_DECIMAL_PLACES}}})?$"
_MONEY_TEXT_DECORATIONS_RE = re.compile(MONEY_TEXT_DECORATIONS)
_MONEY_TEXT_RE = re.compile(MONEY_TEXT, re.ASCII)


def money_field_kwargs() -> dict:
    """The one definition of a money column, for every model that stores yuan."""
    return {"max_digits": MONEY_MAX_DIGITS, "decimal_places": MONEY_DECIMAL_PLACES}


def quantize_money(value: Decimal) -> Decimal:
    """Round to the fen, half up, as Chinese receipts do."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_amount(value: object) -> Decimal:
    """Turn what a channel sent into yuan, refusing anything that is not exactly representable.

    Floats are refused outright (0.1 + 0.2 is not 0.3); so are more than two significant decimals
    ("1.005"), NaN, infinities and amounts beyond the column. "1.50" and "1.500" are both ¥1.50.
    """
    if isinstance(value, bool | float):
        raise PaymentRefused("amount_invalid", amount=str(value))
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise PaymentRefused("amount_invalid", amount=value) from None
    else:
        raise PaymentRefused("amount_invalid", amount=str(value))
    if not amount.is_finite() or amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        raise PaymentRefused("amount_invalid", amount=str(value))
    if amount <= 0:
        raise PaymentRefused("amount_not_positive", amount=format_money(amount))
    if amount > MAX_AMOUNT:
        raise PaymentRefused("amount_invalid", amount=str(value))
    return quantize_money(amount)


def parse_money_text(text: str) -> tuple[Decimal | None, str | None]:
    """A money cell of a bill file: (amount, None), or (None, error code) — `amount_invalid` for what is
    not yuan with at most two places (trailing zeros aside) and at most 12 whole digits, `amount_negative`
    below zero. Zero is returned as such: whether it is allowed is the column's rule."""
    cleaned = _MONEY_TEXT_DECORATIONS_RE.sub("", unicodedata.normalize("NFKC", text))
    if not _MONEY_TEXT_RE.fullmatch(cleaned):
        return None, "amount_invalid"
    whole, _dot, fraction = cleaned.lstrip("-").partition(".")
    if len(fraction.rstrip("0")) > MONEY_DECIMAL_PLACES or len(whole.lstrip("0")) > MAX_WHOLE_DIGITS:
        return None, "amount_invalid"
    amount = Decimal(cleaned)
    if amount < 0:
        return None, "amount_negative"
    return amount.quantize(CENT), None


def format_money(value: Decimal) -> str:
    """¥1,234.50 without the sign: thousands separated, always two places."""
    return f"{quantize_money(value):,.2f}"
