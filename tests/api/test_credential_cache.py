"""The partner API keeps credentials, their owners and partners' grants in each process's memory
(config.local_cache): every change through the models must still take effect on the next request."""

import time
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api import authentication
from api.choices import PartnerStatus
from api.services import change_partner_status, revoke_credential, rotate_credential
from billing.choices import BillerStatus
from billing.models import BillerCategory
from billing.presentment_models import BillerLink, PresentmentMode
from config import local_cache
from tests.api.conftest import SignedClient, error_code
from tests.api.test_partner_api import pay
from tests.factories import BillFactory, CustomerAccountFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/partner"


def another_bill(water, number: str):
    account = CustomerAccountFactory(biller=water, account_no=number)
    return BillFactory(account=account, period="2026-09", amount_due=Decimal("50.00"))


def queries_of(api, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert api.get(path).status_code == 200
    return [query["sql"] or "" for query in captured.captured_queries]


def test_a_known_key_is_not_read_from_the_database_again(api, water):
    api.get(f"{BASE}/billers/{water.code}")
    sql = queries_of(api, f"{BASE}/billers/{water.code}")
    assert not [query for query in sql if "api_apicredential" in query]
    assert not [query for query in sql if "FROM billing_biller" in query]


def test_a_revoked_key_stops_working_on_the_next_request(api, issued, admin_user, water):
    assert api.get(f"{BASE}/billers/{water.code}").status_code == 200
    revoke_credential(credential=issued.credential, actor=admin_user, reason="leaked")
    response = api.get(f"{BASE}/billers/{water.code}")
    assert response.status_code == 401
    assert error_code(response) == "credential_expired"


def test_a_rotated_key_expires_when_its_overlap_ends(api, issued, admin_user, water):
    assert api.get(f"{BASE}/billers/{water.code}").status_code == 200
    rotate_credential(credential=issued.credential, actor=admin_user, overlap_hours=0)
    assert error_code(api.get(f"{BASE}/billers/{water.code}")) == "credential_expired"


def test_a_suspended_partner_is_refused_on_the_next_request(api, partner, admin_user, water):
    assert api.get(f"{BASE}/billers/{water.code}").status_code == 200
    change_partner_status(partner=partner, to_status=PartnerStatus.SUSPENDED, actor=admin_user, reason="x")
    assert error_code(api.get(f"{BASE}/billers/{water.code}")) == "partner_suspended"


def test_a_grant_taken_away_takes_effect_on_the_next_payment(api, partner, bill, water):
    assert pay(api, bill, "k-1").status_code == 201
    partner.allowed_categories.remove(BillerCategory.objects.get(code="water"))
    response = pay(api, another_bill(water, "31005679"), "k-2")
    assert response.status_code == 403
    assert error_code(response) == "biller_not_allowed"


def test_a_grant_given_takes_effect_on_the_next_payment(api, partner, bill, water):
    partner.allowed_categories.clear()
    assert error_code(pay(api, bill, "k-1")) == "biller_not_allowed"
    partner.allowed_billers.add(water)
    assert pay(api, bill, "k-1").status_code == 201


def test_a_biller_closed_is_refused_on_the_next_payment(api, bill, water):
    assert pay(api, bill, "k-1").status_code == 201
    water.status = BillerStatus.CLOSED
    water.save()
    assert error_code(pay(api, another_bill(water, "31005679"), "k-2")) == "biller_unknown"


def test_a_biller_turned_live_is_asked_before_the_next_payment(api, bill, water, monkeypatch):
    from billing import presentment

    assert pay(api, bill, "k-1").status_code == 201
    BillerLink.objects.create(
        biller=water, mode=PresentmentMode.VALIDATE, endpoint_url="https://water.example/", secret="s" * 32
    )
    asked = []
    monkeypatch.setattr(presentment, "check_with_biller", lambda **kwargs: asked.append(kwargs) or None)
    assert pay(api, another_bill(water, "31005679"), "k-2").status_code == 201
    assert [call["account_no"] for call in asked] == ["31005679"]


def test_another_process_renewing_the_version_empties_this_one(client, issued, water):
    api = SignedClient(client, issued.credential.key_id, issued.secret)
    api.get(f"{BASE}/billers/{water.code}")
    cache.set(local_cache.VERSION_KEY, "changed-elsewhere", timeout=None)
    sql = queries_of(api, f"{BASE}/billers/{water.code}")
    assert [query for query in sql if "api_apicredential" in query]


def test_without_the_shared_cache_every_call_reads_the_database(monkeypatch):
    def unavailable(*args, **kwargs):
        raise local_cache.SERVICE_ERRORS[0]("down")

    monkeypatch.setattr(local_cache.cache, "get", unavailable)
    local_cache.invalidate()
    loads = []
    for _ in range(2):
        local_cache.get("key", lambda: loads.append(1) or "value")
    assert loads == [1, 1]


def as_another_worker(change):
    """Make `change` the way another worker would: the version is renewed in the shared cache, but this
    process keeps holding what it held (its own signal handlers emptied it)."""
    held = {**local_cache._state, "entries": dict(local_cache._state["entries"])}
    result = change()
    local_cache._state.update(held)
    return result


def test_the_version_comes_back_with_the_nonce_not_in_a_read_of_its_own(api, water, monkeypatch):
    assert api.get(f"{BASE}/billers/{water.code}").status_code == 200
    reads = []
    read = local_cache.cache.get
    monkeypatch.setattr(
        local_cache.cache, "get", lambda key, *args, **kw: reads.append(key) or read(key, *args, **kw)
    )
    assert api.get(f"{BASE}/billers/{water.code}").status_code == 200
    assert api.get(f"{BASE}/billers/{water.code}").status_code == 200
    assert reads == []


def test_a_key_revoked_by_another_worker_is_refused_on_the_next_request(api, issued, admin_user, water):
    assert api.get(f"{BASE}/billers/{water.code}").status_code == 200
    as_another_worker(
        lambda: revoke_credential(credential=issued.credential, actor=admin_user, reason="leaked")
    )
    response = api.get(f"{BASE}/billers/{water.code}")
    assert response.status_code == 401
    assert error_code(response) == "credential_expired"


def test_a_partner_suspended_by_another_worker_is_refused_on_the_next_payment(api, partner, admin_user, bill):
    assert api.get(f"{BASE}/billers/{bill.biller.code}").status_code == 200
    as_another_worker(
        lambda: change_partner_status(
            partner=partner, to_status=PartnerStatus.SUSPENDED, actor=admin_user, reason="x"
        )
    )
    response = pay(api, bill, "k-1")
    assert error_code(response) == "partner_suspended"
    assert not bill.allocations.exists()


def test_a_grant_taken_away_by_another_worker_takes_effect_on_the_next_payment(api, partner, bill, water):
    assert pay(api, bill, "k-1").status_code == 201
    as_another_worker(lambda: partner.allowed_categories.remove(BillerCategory.objects.get(code="water")))
    assert error_code(pay(api, another_bill(water, "31005679"), "k-2")) == "biller_not_allowed"


def test_a_key_issued_by_another_worker_is_not_refused_on_what_this_one_held(
    client, api, partner, admin_user, water
):
    from api.services import issue_credential

    assert api.get(f"{BASE}/billers/{water.code}").status_code == 200
    issued = as_another_worker(lambda: issue_credential(owner=partner, actor=admin_user))
    # This worker was asked for the key before it existed, and holds that it does not.
    held_key = authentication._credential_key(issued.credential.key_id)
    local_cache._state["entries"][held_key] = (time.monotonic(), None)
    new = SignedClient(client, issued.credential.key_id, issued.secret)
    assert new.get(f"{BASE}/billers/{water.code}").status_code == 200
