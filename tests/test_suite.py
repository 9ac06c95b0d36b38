"""The suite's own set-up: what keeps it fast without changing what it checks."""

from django.contrib.auth.hashers import check_password, make_password


def test_passwords_in_the_suite_are_hashed_with_the_fast_hasher():
    encoded = make_password("pw-counter-1234")
    assert encoded.startswith("md5$")
    assert check_password("pw-counter-1234", encoded)
    assert not check_password("pw-counter-1235", encoded)
