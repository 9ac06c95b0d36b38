"""Unified social credit codes (GB 32100-2015) are checked character by character, both check digits."""

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from billing.uscc import (
    ALPHABET,
    USCC_WEIGHTS,
    make_uscc,
    org_code_check_char,
    uscc_check_char,
    uscc_is_valid,
    validate_uscc,
)

# Published on business licences and in public company registries.
REAL_CODES = [
    "91350100M000100Y43",  # the example most guides cite
    "91440300708461136T",  # 深圳市腾讯计算机系统有限公司
    "914403001922038216",  # 华为技术有限公司
    "91110000802100433B",  # 北京百度网讯科技有限公司
    "91330100716105852F",  # 阿里巴巴（中国）有限公司
]


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code):
    assert uscc_is_valid(code)


def test_the_weights_are_the_powers_of_3_modulo_31():
    assert USCC_WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def test_a_wrong_final_check_character_is_refused():
    assert not uscc_is_valid("91350100M000100Y44")


def test_a_wrong_organisation_code_check_character_is_refused():
    # The final check character is recomputed, so only the GB 11714 check at position 17 is wrong.
    first_17 = "91350100M000100Y5"
    assert org_code_check_char("M000100Y") == "4"
    assert not uscc_is_valid(first_17 + uscc_check_char(first_17))


def test_the_organisation_code_check_writes_10_as_x_and_11_as_0():
    assert org_code_check_char("00000006") == "X"  # 6 × 2 = 12 ≡ 1 (mod 11), 11 - 1 = 10
    assert org_code_check_char("00000000") == "0"  # 11 - 0 = 11


def test_the_final_check_writes_31_as_0():
    assert uscc_check_char("0" * 17) == "0"


@pytest.mark.parametrize("letter", ["I", "O", "Z", "S", "V"])
def test_letters_outside_the_alphabet_are_refused(letter):
    code = "91350100M000100Y43".replace("M", letter)
    assert not uscc_is_valid(code)


@pytest.mark.parametrize(
    "code",
    ["", "91350100M000100Y4", "91350100M000100Y433", "91350100m000100y43", "9135010AM000100Y43", None],
)
def test_codes_of_the_wrong_shape_are_refused(code):
    assert not uscc_is_valid(code)


def test_the_django_validator_refuses_an_invalid_code_with_a_stable_code():
    with pytest.raises(ValidationError) as refused:
        validate_uscc("91350100M000100Y44")
    assert refused.value.code == "invalid_uscc"


def test_the_django_validator_accepts_a_valid_code():
    validate_uscc("91350100M000100Y43")


org_bodies = st.text(alphabet=ALPHABET, min_size=8, max_size=8)
prefixes = st.tuples(
    st.sampled_from("159"), st.sampled_from("123"), st.integers(min_value=110000, max_value=659999)
).map(lambda t: f"{t[0]}{t[1]}{t[2]}")


@given(prefix=prefixes, body=org_bodies)
def test_a_code_built_with_both_check_characters_is_valid(prefix, body):
    assert uscc_is_valid(make_uscc(prefix, body))


@given(prefix=prefixes, body=org_bodies, position=st.integers(min_value=0, max_value=17), data=st.data())
def test_changing_any_one_character_makes_a_code_invalid(prefix, body, position, data):
    code = make_uscc(prefix, body)
    other = data.draw(st.sampled_from([c for c in ALPHABET if c != code[position]]))
    assert not uscc_is_valid(code[:position] + other + code[position + 1 :])
