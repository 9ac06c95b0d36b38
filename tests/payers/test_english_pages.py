"""English pages say everything in English (issue 14): no "Account number (户号)", the biller's account hint
in English where it wrote one, and the bank's trade subject listed the English way."""

import pytest
from django.conf import settings

from payers import services
from payers.models import GatewayOrder
from tests.support import log_in

pytestmark = pytest.mark.django_db


def in_english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def test_the_account_field_and_hint_are_english_on_english_pages_and_chinese_by_default(client, water):
    water["biller"].account_hint = "户号为8位数字，见水费账单右上角"
    water["biller"].account_hint_en = "8 digits, at the top right of the water bill"
    water["biller"].save()
    chinese = client.get("/billers/WATER01/").content.decode()
    assert "户号为8位数字" in chinese and ">户号</label>" in chinese
    english = in_english(client).get("/billers/WATER01/").content.decode()
    assert ">Account number</label>" in english and "(户号)" not in english
    assert "8 digits, at the top right of the water bill" in english and "户号为8位数字" not in english


def test_a_wrong_account_number_is_explained_with_the_english_hint(client, water):
    water["biller"].account_hint_en = "8 digits, at the top right of the water bill"
    water["biller"].save()
    page = in_english(client).get("/billers/WATER01/", {"account_no": "12"}).content.decode()
    assert "8 digits, at the top right of the water bill" in page


@pytest.mark.usefixtures("sandbox_bank")
@pytest.mark.parametrize(
    ("language", "subject"), [("en", "Binjiang Power, Binjiang Water"), ("zh-hans", "滨江水务、滨江电力")]
)
def test_the_banks_trade_subject_is_in_the_payers_language(
    client, django_user_model, water, power, language, subject
):
    user = django_user_model.objects.create_user("pay2", "pay2@example.com", "x")
    services.bind_account(user=user, account=water["account"], label="home water")
    services.bind_account(user=user, account=power["account"], label="home power")
    log_in(client, user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    bills = [*water["bills"], *power["bills"]]
    client.post("/checkout/", {"source": "mine", "bill": [bill.pk for bill in bills]})
    assert GatewayOrder.objects.get().subject == subject
