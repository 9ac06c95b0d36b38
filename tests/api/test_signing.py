"""The shared layer: signatures, freshness, replays, keys and their rotation, rate limits, languages."""

import datetime
import time

import pytest
from django.core.cache import cache
from django.utils import timezone

from api import credentials, services, signing
from api.models import ApiCredential, BillerApiAccess
from billing.models import AuditEvent
from tests.api.conftest import SignedClient, error_code

pytestmark = pytest.mark.django_db

BILLERS = "/api/v1/partner/billers"


def test_a_correctly_signed_request_is_answered(api):
    assert api.get(BILLERS).status_code == 200


def test_the_signature_covers_the_query_string(api, client):
    headers = api.headers("GET", BILLERS, "category=water", b"")
    response = client.get(f"{BILLERS}?category=gas", headers=headers)
    assert response.status_code == 401
    assert error_code(response) == "signature_invalid"


def test_the_signature_covers_the_body(api, client):
    headers = api.headers("POST", "/api/v1/partner/payments", "", b'{"amount": "1.00"}')
    response = client.generic(
        "POST",
        "/api/v1/partner/payments",
        b'{"amount": "9.00"}',
        content_type="application/json",
        headers=headers,
    )
    assert error_code(response) == "signature_invalid"


def test_a_request_signed_with_another_secret_is_refused(api):
    response = api.get(BILLERS, secret="sk_not-the-secret")
    assert response.status_code == 401
    assert error_code(response) == "signature_invalid"


def test_an_unsigned_request_names_the_missing_headers(client):
    response = client.get(BILLERS, headers={"Accept-Language": "en"})
    assert response.status_code == 401
    assert error_code(response) == "signature_missing"
    assert "X-BillPay-Signature" in response.json()["error"]["message"]


def test_an_unknown_key_is_refused(client, api):
    api.key_id = "AKNOTAKEY"
    response = api.get(BILLERS)
    assert response.status_code == 401
    assert error_code(response) == "credential_unknown"


@pytest.mark.parametrize("direction", [-1, 1])
def test_a_stale_timestamp_is_refused(api, direction, settings):
    # A minute outside the window, so the seconds a loaded machine takes to answer cannot bring it back in.
    offset = direction * (settings.API_SIGNATURE_MAX_SKEW_SECONDS + 60)
    response = api.get(BILLERS, timestamp=int(time.time()) + offset)
    assert response.status_code == 401
    assert error_code(response) == "timestamp_stale"


def test_a_timestamp_inside_the_window_is_accepted(api):
    assert api.get(BILLERS, timestamp=int(time.time()) - 200).status_code == 200


def test_a_replayed_nonce_is_refused(api, client):
    headers = api.headers("GET", BILLERS, "", b"")
    assert client.get(BILLERS, headers=headers).status_code == 200
    replay = client.get(BILLERS, headers=headers)
    assert replay.status_code == 401
    assert error_code(replay) == "nonce_replayed"


def test_a_badly_signed_request_does_not_spend_the_nonce(api):
    api.get(BILLERS, nonce="n" * 20, secret="sk_wrong")
    assert api.get(BILLERS, nonce="n" * 20).status_code == 200


def test_a_short_nonce_is_refused(api):
    assert error_code(api.get(BILLERS, nonce="abc")) == "nonce_invalid"


def test_the_string_to_sign_is_as_documented():
    text = signing.string_to_sign(
        method="post",
        path="/api/v1/partner/payments",
        query="",
        timestamp="1764200000",
        nonce="n" * 16,
        body=b"{}",
    )
    assert text.split("\n") == [
        "BILLPAY-HMAC-SHA256",
        "POST",
        "/api/v1/partner/payments",
        "",
        "1764200000",
        "n" * 16,
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    ]


class TestCredentials:
    def test_the_secret_is_not_stored(self, issued):
        row = ApiCredential.objects.filter(pk=issued.credential.pk).values().get()
        assert issued.secret not in {str(value) for value in row.values()}
        assert credentials.secret_for(issued.credential) == issued.secret

    def test_the_secret_kept_per_process_follows_the_settings_key(self, issued, settings):
        """Secrets are derived once per process (api.credentials), keyed by the settings key too: a new
        API_CREDENTIAL_KEY changes every secret at once, as it always did."""
        assert credentials.secret_for(issued.credential) == issued.secret
        settings.API_CREDENTIAL_KEY = "another-settings-key"
        assert credentials.secret_for(issued.credential) != issued.secret

    def test_issuing_a_key_is_audited(self, issued):
        assert AuditEvent.objects.filter(action="api.credential_issued").count() == 1

    def test_after_rotation_both_keys_work_during_the_overlap(self, api, issued, client, admin_user):
        new = services.rotate_credential(credential=issued.credential, actor=admin_user, overlap_hours=24)
        assert api.get(BILLERS).status_code == 200
        assert SignedClient(client, new.credential.key_id, new.secret).get(BILLERS).status_code == 200
        old = ApiCredential.objects.get(pk=issued.credential.pk)
        assert old.replaced_by == new.credential
        assert old.expires_at > timezone.now() + datetime.timedelta(hours=23)

    def test_after_the_overlap_the_old_key_is_refused(self, api, issued, admin_user):
        services.rotate_credential(credential=issued.credential, actor=admin_user, overlap_hours=1)
        ApiCredential.objects.filter(pk=issued.credential.pk).update(
            expires_at=timezone.now() - datetime.timedelta(seconds=1)
        )
        response = api.get(BILLERS)
        assert response.status_code == 401
        assert error_code(response) == "credential_expired"

    def test_a_revoked_key_is_refused_at_once(self, api, issued, admin_user):
        services.revoke_credential(credential=issued.credential, actor=admin_user)
        assert error_code(api.get(BILLERS)) == "credential_expired"

    def test_a_biller_key_cannot_call_the_partner_api(self, client, water, admin_user):
        access = services.ensure_biller_api_access(biller=water, actor=admin_user)
        issued = services.issue_credential(owner=access, actor=admin_user)
        response = SignedClient(client, issued.credential.key_id, issued.secret).get(BILLERS)
        assert response.status_code == 403
        assert error_code(response) == "wrong_api"

    def test_a_biller_with_api_access_switched_off_is_refused(self, client, water, admin_user):
        access = services.ensure_biller_api_access(biller=water, actor=admin_user)
        issued = services.issue_credential(owner=access, actor=admin_user)
        BillerApiAccess.objects.filter(pk=access.pk).update(enabled=False)
        response = SignedClient(client, issued.credential.key_id, issued.secret).get(
            "/api/v1/biller/payments"
        )
        assert response.status_code == 403
        assert error_code(response) == "biller_api_disabled"


class TestRateLimit:
    def test_over_the_limit_answers_429_with_retry_after(self, api, partner):
        partner.rate_limit_per_minute = 3
        partner.save()
        cache.clear()
        statuses = [api.get(BILLERS).status_code for _ in range(4)]
        assert statuses[:3] == [200, 200, 200]
        response = api.get(BILLERS)
        assert response.status_code == 429
        assert error_code(response) == "rate_limited"
        assert 1 <= int(response["Retry-After"]) <= 60

    def test_a_replayed_nonce_is_not_counted(self, api, partner, client):
        # The nonce is spent and the request counted in one Redis round trip: a replay is refused before
        # it could count, so replays cannot use up a partner's minute.
        partner.rate_limit_per_minute = 2
        partner.save()
        cache.clear()
        headers = api.headers("GET", BILLERS, "", b"")
        assert client.get(BILLERS, headers=headers).status_code == 200
        assert [error_code(client.get(BILLERS, headers=headers)) for _ in range(3)] == ["nonce_replayed"] * 3
        assert api.get(BILLERS).status_code == 200
        assert error_code(api.get(BILLERS)) == "rate_limited"

    def test_the_limit_counts_every_key_of_the_partner(self, api, issued, partner, client, admin_user):
        partner.rate_limit_per_minute = 2
        partner.save()
        new = services.rotate_credential(credential=issued.credential, actor=admin_user)
        other = SignedClient(client, new.credential.key_id, new.secret)
        assert api.get(BILLERS).status_code == 200
        assert other.get(BILLERS).status_code == 200
        assert other.get(BILLERS).status_code == 429


class TestLanguages:
    def test_chinese_by_default(self, client):
        response = client.get(BILLERS)
        assert response.json()["error"]["message"].startswith("请求未签名")

    def test_english_on_request(self, client):
        response = client.get(BILLERS, headers={"Accept-Language": "en-US,en;q=0.9"})
        assert response.json()["error"]["message"].startswith("The request is not signed")
