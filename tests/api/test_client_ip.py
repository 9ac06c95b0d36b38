"""The partner API's IP allow-list behind a reverse proxy: the address checked is config.client_ip's (the
right-most untrusted X-Forwarded-For hop), never the left-most entry a caller writes."""

import pytest

from api.models import ApiCredential
from tests.api.conftest import error_code

pytestmark = pytest.mark.django_db
BASE = "/api/v1/partner"


@pytest.fixture
def allow_listed(api, partner, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    partner.ip_allowlist = "203.0.113.0/24"
    partner.save()
    return api


def test_a_partner_behind_the_proxy_is_let_in_by_its_real_address(allow_listed):
    allow_listed.client.defaults["REMOTE_ADDR"] = "10.0.0.5"
    response = allow_listed.get(f"{BASE}/billers", extra_headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 200


def test_a_forged_left_most_forwarded_entry_does_not_pass_the_allow_list(allow_listed):
    allow_listed.client.defaults["REMOTE_ADDR"] = "10.0.0.5"
    response = allow_listed.get(
        f"{BASE}/billers", extra_headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.66"}
    )
    assert response.status_code == 403
    assert error_code(response) == "ip_not_allowed"
    assert "198.51.100.66" in response.json()["error"]["message"]


def test_a_caller_that_reaches_the_server_directly_cannot_claim_an_allowed_address(allow_listed):
    allow_listed.client.defaults["REMOTE_ADDR"] = "198.51.100.66"
    response = allow_listed.get(f"{BASE}/billers", extra_headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 403
    assert error_code(response) == "ip_not_allowed"
    assert ApiCredential.objects.get().last_used_at is None  # refused before the key counted as used
