"""The unified social credit code (统一社会信用代码) of GB 32100-2015.

Eighteen characters: registration authority (1), organisation type (1), administrative division (6),
the GB 11714 organisation code (9, its own check character last) and a check character over the other 17.
"""

import re

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

# The 31 characters of the code: digits and capitals without I, O, S, V and Z. Each is worth its index.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALUES = {char: value for value, char in enumerate(ALPHABET)}
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))

# GB 11714: eight characters of digits or capitals, then a check character (0-9 or X).
ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_SHAPE = re.compile(rf"^[{ALPHABET}]{{2}}\d{{6}}[{ALPHABET}]{{10}}$")


def uscc_check_char(first_17: str) -> str:
    """The 18th character for the first 17: 31 - (Σ value × 3^i mod 31) mod 31, 31 written as 0."""
    total = sum(VALUES[char] * weight for char, weight in zip(first_17, USCC_WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def org_code_check_char(first_8: str) -> str | None:
    """The GB 11714 check character for an organisation code's first 8 characters, or None if one of
    them cannot be in an organisation code. Letters are worth 10 (A) to 35 (Z)."""
    total = 0
    for char, weight in zip(first_8, ORG_CODE_WEIGHTS, strict=True):
        if char.isdigit():
            value = int(char)
        elif "A" <= char <= "Z":
            value = ord(char) - ord("A") + 10
        else:
            return None
        total += value * weight
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(prefix: str, org_code_body: str) -> str:
    """A valid code from its first 8 characters (authority, type, division) and the first 8 of the
    organisation code: both check characters are computed. For tests and demo data."""
    org_check = org_code_check_char(org_code_body)
    if len(prefix) != 8 or org_check is None:
        raise ValueError("give 8 characters of prefix and 8 of organisation code")
    first_17 = f"{prefix}{org_code_body}{org_check}"
    return first_17 + uscc_check_char(first_17)


def uscc_is_valid(code: str) -> bool:
    """Whether `code` is a well-formed unified social credit code with both check characters right."""
    if not isinstance(code, str) or not _SHAPE.fullmatch(code):
        return False
    if uscc_check_char(code[:17]) != code[17]:
        return False
    return org_code_check_char(code[8:16]) == code[16]


@deconstructible
class USCCValidator:
    message = _("Enter a valid 18-character unified social credit code (统一社会信用代码).")
    code = "invalid_uscc"

    def __call__(self, value: str) -> None:
        if not uscc_is_valid(value):
            raise ValidationError(self.message, code=self.code, params={"value": value})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, USCCValidator)

    def __hash__(self) -> int:
        return hash(self.code)


validate_uscc = USCCValidator()
