"""The biller API's bill batches are bodies from outside: one larger than DATA_UPLOAD_MAX_MEMORY_SIZE is
refused with a stable code before it is parsed, and stores nothing."""

import pytest

from billing.models import Bill, CustomerAccount
from tests.api.conftest import error_code
from tests.api.test_biller_api import BASE, biller_api, row  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def test_a_batch_with_a_10_mb_field_is_refused_as_too_large_and_stores_nothing(biller_api, water):  # noqa: F811
    response = biller_api.post(f"{BASE}/bills", {"bills": [row(customer_name="名" * 10_000_000)]})
    assert response.status_code == 413
    assert error_code(response) == "body_too_large"
    assert "5242880" in response.json()["error"]["message"]
    assert not Bill.objects.exists() and not CustomerAccount.objects.exists()


def test_the_body_limit_follows_the_setting(biller_api, water, settings):  # noqa: F811
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    big = biller_api.post(f"{BASE}/bills", {"bills": [row(account_no=f"3100{n:04d}") for n in range(100)]})
    assert big.status_code == 413 and error_code(big) == "body_too_large"
    assert not Bill.objects.exists()
    small = biller_api.post(f"{BASE}/bills", {"bills": [row()]})
    assert small.status_code == 200 and Bill.objects.count() == 1
