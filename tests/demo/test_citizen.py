"""The portal's part of the demo: the citizen signs in and finds the household's accounts bound."""

import pytest

from demo import data, seed
from payers.models import BoundAccount, Payer

pytestmark = pytest.mark.django_db


def test_the_demo_citizen_finds_the_household_accounts_bound_and_can_sign_in(client):
    seed.seed_demo(accounts=120)
    seed.seed_demo(accounts=120)  # idempotent
    bound = BoundAccount.objects.filter(user__username="citizen")
    assert bound.count() == 5
    assert set(bound.values_list("label", flat=True)) >= {"家里水费", "家里电费"}
    assert Payer.objects.get(user__username="citizen").mobile.startswith("+86")
    response = client.post(
        "/accounts/login/", {"login": "citizen@example.com", "password": data.DEMO_PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/me/accounts/").status_code == 200
