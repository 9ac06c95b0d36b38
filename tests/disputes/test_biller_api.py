"""The biller API's disputes: a biller lists the disputes about it that it answers, and answers one."""

import pytest

from api import services as api_services
from disputes import services
from disputes.models import Dispute
from tests.api.conftest import SignedClient, error_code
from tests.factories import BillerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def water_api(client, water, admin_user):
    access = api_services.ensure_biller_api_access(biller=water, actor=admin_user)
    issued = api_services.issue_credential(owner=access, actor=admin_user)
    return SignedClient(client, issued.credential.key_id, issued.secret)


@pytest.fixture
def still_due(acme_payment):
    return services.raise_dispute(
        channel="partner", source="ACME", reason="D12", receipt_no=acme_payment.receipt_no
    )


def test_a_biller_lists_and_answers_the_disputes_about_it(water_api, still_due, acme_payment):
    services.raise_dispute(channel="partner", source="ACME", reason="D15", receipt_no=acme_payment.receipt_no)
    listed = water_api.get("/api/v1/biller/disputes").json()["disputes"]
    assert [d["ref"] for d in listed] == [still_due.ref]  # D15 is the platform's to answer
    answered = water_api.post(
        f"/api/v1/biller/disputes/{still_due.ref}/answer", {"answer": "Posted to the account on 12-02."}
    )
    assert answered.status_code == 200, answered.content
    assert answered.json()["status"] == "resolved" and answered.json()["outcome"] == "answered"
    assert water_api.get("/api/v1/biller/disputes").json()["disputes"] == []
    assert len(water_api.get("/api/v1/biller/disputes", {"status": "all"}).json()["disputes"]) == 1


def test_a_biller_cannot_answer_another_billers_dispute(client, admin_user, still_due):
    gas = BillerFactory(code="GAS01")
    access = api_services.ensure_biller_api_access(biller=gas, actor=admin_user)
    issued = api_services.issue_credential(owner=access, actor=admin_user)
    gas_api = SignedClient(client, issued.credential.key_id, issued.secret)
    response = gas_api.post(f"/api/v1/biller/disputes/{still_due.ref}/answer", {"answer": "not ours"})
    assert response.status_code == 404 and error_code(response) == "dispute_unknown"
    assert gas_api.get("/api/v1/biller/disputes").json()["disputes"] == []
    still_due.refresh_from_db()
    assert still_due.status == "open"


def test_a_biller_cannot_answer_a_dispute_the_platform_answers(water_api, acme_payment):
    ours = services.raise_dispute(
        channel="partner", source="ACME", reason="D13", receipt_no=acme_payment.receipt_no
    )
    response = water_api.post(f"/api/v1/biller/disputes/{ours.ref}/answer", {"answer": "x"})
    assert response.status_code == 403 and error_code(response) == "dispute_not_biller_answer"
    assert Dispute.objects.get(pk=ours.pk).status == "open"
