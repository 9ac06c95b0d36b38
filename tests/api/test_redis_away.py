"""Redis unreachable (found by the cluster run under faults, deploy/cluster.py): signed calls are refused
with a clear 503 rather than let through without the replay check, pages answer 503 rather than a bare
500, and nothing is written. The cache is a real Redis client pointed at a port where nothing listens."""

import json

import pytest

from billing.models import Payment
from tests.api.conftest import error_code
from tests.api.test_partner_api import BASE, pay

pytestmark = pytest.mark.django_db

UNREACHABLE = "redis://127.0.0.1:1/0"  # connection refused at once


@pytest.fixture
def redis_away(settings):
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": UNREACHABLE},
    }


def test_a_signed_call_is_refused_when_the_nonce_store_is_unreachable(api, water, redis_away):
    response = api.get(f"{BASE}/billers")
    assert response.status_code == 503
    assert error_code(response) == "nonce_store_unavailable"
    assert "nonce" in response.json()["error"]["message"]


def test_a_signed_payment_is_refused_and_nothing_is_posted_while_redis_is_away(api, bill, redis_away):
    response = pay(api, bill, key="redis-away-1")
    assert response.status_code == 503
    assert error_code(response) == "nonce_store_unavailable"
    assert not Payment.objects.exists()
    bill.refresh_from_db()
    assert bill.amount_paid == 0


def test_the_refusal_is_in_chinese_by_default(client, issued, water, redis_away):
    from tests.api.conftest import SignedClient

    response = SignedClient(client, issued.credential.key_id, issued.secret, language="zh-hans").get(
        f"{BASE}/billers"
    )
    assert response.status_code == 503
    assert "重放" in response.json()["error"]["message"]


def test_the_same_payment_goes_through_once_redis_is_back(api, bill, settings):
    default = settings.CACHES["default"]
    settings.CACHES = {**settings.CACHES, "default": {**default, "LOCATION": UNREACHABLE}}
    assert pay(api, bill, key="redis-back-1").status_code == 503
    settings.CACHES = {**settings.CACHES, "default": default}
    response = pay(api, bill, key="redis-back-1")
    assert response.status_code == 201
    assert Payment.objects.filter(idempotency_key__endswith="redis-back-1").count() == 1


def test_a_portal_page_answers_a_clear_503_not_a_500(client, account, redis_away):
    response = client.get(f"/billers/{account.biller.code}/", {"account_no": account.account_no})
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = response.content.decode()
    assert 'data-error-code="service_unavailable"' in body
    assert "服务暂时不可用" in body


def test_an_api_call_failing_on_redis_elsewhere_gets_the_apis_error_shape(rf):
    from django.utils import translation

    from config.unavailable import unavailable_response

    with translation.override("zh-hans"):
        response = unavailable_response(rf.get(f"{BASE}/billers"))
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = json.loads(response.content)
    assert body["error"]["code"] == "service_unavailable"
    assert "服务暂时不可用" in body["error"]["message"]
