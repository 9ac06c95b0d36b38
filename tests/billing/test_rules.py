"""Pure rules: masking, check digits, account-number normalisation, amount parsing."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.choices import CheckDigit
from billing.exceptions import PaymentRefused
from billing.masking import mask_holder_name
from billing.money import format_money, parse_amount
from billing.rules import (
    account_no_is_valid,
    account_rule,
    luhn_is_valid,
    mod11_2_is_valid,
    normalize_account_no,
)


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("张小明", "张*明"),
        ("欧阳娜娜", "欧**娜"),
        ("王", "*"),
        ("", ""),
        ("John Smith", "J********h"),
    ],
)
def test_holder_names_are_masked_keeping_first_and_last(name, masked):
    assert mask_holder_name(name) == masked


@given(st.text(min_size=3, max_size=20).filter(lambda s: s.strip() == s))
def test_a_masked_name_keeps_its_length_and_hides_the_middle(name):
    masked = mask_holder_name(name)
    assert len(masked) == len(name) and masked[1:-1] == "*" * (len(name) - 2)


def test_luhn():
    assert luhn_is_valid("79927398713")
    assert not luhn_is_valid("79927398710")
    assert not luhn_is_valid("7992739871a")


def test_mod11_2_is_the_resident_id_check():
    assert mod11_2_is_valid("11010519491231002X")
    assert not mod11_2_is_valid("110105194912310021")


def test_account_numbers_typed_on_a_chinese_keyboard_are_normalised():
    assert normalize_account_no(" １２３４ ５６７８ ") == "12345678"
    assert normalize_account_no("2010-0034-5") == "201000345"


def test_account_rule_combines_pattern_and_check_digit():
    assert account_no_is_valid("79927398713", pattern=r"^\d{11}$", check_digit=CheckDigit.LUHN)
    assert not account_no_is_valid("79927398710", pattern=r"^\d{11}$", check_digit=CheckDigit.LUHN)
    assert not account_no_is_valid("7992739871", pattern=r"^\d{11}$", check_digit=CheckDigit.NONE)


@pytest.mark.parametrize("check_digit", list(CheckDigit))
def test_a_billers_compiled_account_rule_is_account_no_is_valid(check_digit):
    rule = account_rule(pattern=r"^[0-9X]{6,20}$", check_digit=check_digit)
    numbers = ["79927398713", "79927398710", "11010519491231002X", "110105194912310021", "12345", "AB123456"]
    assert [rule(n) for n in numbers] == [
        account_no_is_valid(n, pattern=r"^[0-9X]{6,20}$", check_digit=check_digit) for n in numbers
    ]
    assert any(rule(n) for n in numbers) and not all(rule(n) for n in numbers)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("128.50", "128.50"), ("1.500", "1.50"), (Decimal("3"), "3.00"), (7, "7.00"), ("１２.５", "12.50")],
)
def test_amounts_are_parsed_to_two_places(raw, expected):
    assert parse_amount(raw) == Decimal(expected)


@pytest.mark.parametrize("raw", ["1.005", 0.1, True, "NaN", "Infinity", "1e20", "", "¥5", None])
def test_inexact_or_non_money_amounts_are_refused(raw):
    with pytest.raises(PaymentRefused) as refused:
        parse_amount(raw)
    assert refused.value.code in {"amount_invalid", "amount_not_positive"}


def test_money_is_shown_with_separators_and_two_places():
    assert format_money(Decimal("1234.5")) == "1,234.50"
