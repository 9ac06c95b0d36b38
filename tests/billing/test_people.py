"""Names are written as people write them: 李婷, family name first and no space, for a Chinese name (issue
14 found "婷 李" on the counter); Ada Lovelace for others."""

import pytest

from billing.people import display_name, full_name
from payers.services import payer_for


@pytest.mark.parametrize(
    ("first", "last", "written"),
    [("婷", "李", "李婷"), ("娜娜", "欧阳", "欧阳娜娜"), ("Ada", "Lovelace", "Ada Lovelace"), ("", "", "")],
)
def test_a_name_is_written_family_name_first_for_chinese_only(first, last, written):
    assert full_name(first, last) == written


@pytest.mark.django_db
def test_a_user_without_a_name_is_shown_by_username_and_a_payer_gets_the_written_name(django_user_model):
    nameless = django_user_model.objects.create_user("u1", "u1@example.com", "x")
    assert display_name(nameless) == "u1"
    citizen = django_user_model.objects.create_user(
        "u2", "u2@example.com", "x", first_name="婷", last_name="李"
    )
    assert payer_for(citizen).display_name == "李婷"
