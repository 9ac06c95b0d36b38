"""A partner's payment keeps its Idempotency-Key record, with its answer, in the payment's own statement
(api.idempotency.run_idempotent_posting): no claim before it, no answer written after it. Whatever that try
cannot answer as a new payment goes the way every other request goes, claiming the key first, and is
answered as before: a retry replays the first answer, a key used for another request is a 409, a refusal
stores nothing."""

import contextlib
from decimal import Decimal
from unittest import mock

import psycopg
import pytest
from django.db import OperationalError, connection
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from api import idempotency
from api.models import IdempotencyRecord
from billing import outbox
from billing import services as billing_services
from billing.choices import BillerStatus, BillStatus, PaymentMode
from billing.models import AuditEvent, Payment
from billing.topup_models import CardWriteRule
from tests.api.conftest import error_code, pay
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory
from tests.support import exchanges, traced

pytestmark = pytest.mark.django_db

BASE = "/api/v1/partner"


@contextlib.contextmanager
def record_statements():
    """The statements run meanwhile that name the idempotency records, prepared ones too."""
    seen = []

    def spy(execute, sql, params, many, context):
        if "api_idempotencyrecord" in sql:
            seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        yield seen


def test_a_new_payment_writes_its_record_and_answer_in_its_own_statement(api, bill):
    with record_statements() as statements:
        response = pay(api, bill, "kept-1")
    assert response.status_code == 201, response.json()
    assert response["Idempotent-Replayed"] == "false"
    # One statement names the record: the payment's, which writes it with the payment, its audit and event.
    (statement,) = statements
    assert "INSERT INTO billing_payment" in statement and "billing_outboxevent" in statement
    record = IdempotencyRecord.objects.get()
    assert (record.scope, record.key, record.status_code) == ("partner:ACME", "kept-1", 201)
    assert record.response_body == response.json()
    assert record.request_hash and record.created_at == Payment.objects.get().posted_at


def test_its_retry_replays_the_kept_answer_without_posting_again(api, bill):
    first = pay(api, bill, "kept-2")
    with mock.patch.object(billing_services, "post_payment", wraps=billing_services.post_payment) as posted:
        again = pay(api, bill, "kept-2")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert posted.call_count == 1  # the try found the key's payment; the claim then replayed the record
    assert Payment.objects.count() == 1 and IdempotencyRecord.objects.count() == 1


def test_the_kept_answer_lists_the_allocations_in_the_order_they_are_read_back(api, water):
    account = CustomerAccountFactory(biller=water, account_no="31009999")
    for period, amount in (("2026-07", "10.00"), ("2026-08", "20.00"), ("2026-09", "30.00")):
        BillFactory(account=account, period=period, amount_due=Decimal(amount))
    body = {"biller_code": water.code, "account_no": "31009999", "amount": "60.00", "partner_ref": "R-3"}
    first = api.post(f"{BASE}/payments", body, idempotency_key="kept-3")
    assert first.status_code == 201, first.json()
    assert [a["period"] for a in first.json()["allocations"]] == ["2026-07", "2026-08", "2026-09"]
    # Its record deleted, a retry is answered from the payment read back: the same body.
    IdempotencyRecord.objects.all().delete()
    assert api.post(f"{BASE}/payments", body, idempotency_key="kept-3").json() == first.json()


def test_a_key_a_batch_used_first_is_409_and_nothing_of_the_payment_stays(api, bill, water):
    other = BillFactory(account=CustomerAccountFactory(biller=water, account_no="31001111"))
    batch = {
        "payments": [
            {
                "idempotency_key": "item-1",
                "biller_code": water.code,
                "account_no": "31001111",
                "amount": str(other.outstanding),
                "partner_ref": "B-1",
            }
        ]
    }
    assert api.post(f"{BASE}/payment-batches", batch, idempotency_key="shared").status_code == 200
    # The payment's statement fails on the record the batch kept under the key: all of it rolls back.
    response = pay(api, bill, "shared")
    assert response.status_code == 409
    assert error_code(response) == "idempotency_key_reused"
    assert Payment.objects.count() == 1 and IdempotencyRecord.objects.count() == 1
    bill.refresh_from_db()
    assert bill.status == BillStatus.OPEN and bill.amount_paid == Decimal("0.00")
    assert AuditEvent.objects.filter(action="partner.payment_taken").count() == 1


def test_a_refusal_is_decided_once_and_stores_nothing(api, bill):
    with mock.patch.object(billing_services, "post_payment", wraps=billing_services.post_payment) as posted:
        response = pay(api, bill, "kept-4", amount="1.00")
    assert response.status_code == 422
    assert error_code(response) == "amount_not_exact"
    assert posted.call_count == 1  # the key has no record: the refusal is the answer, not decided again
    assert not Payment.objects.exists() and not IdempotencyRecord.objects.exists()
    assert pay(api, bill, "kept-4").status_code == 201


def test_a_retry_the_biller_would_now_refuse_replays_the_first_answer(api, bill, water):
    first = pay(api, bill, "kept-5")
    water.status = BillerStatus.SUSPENDED
    water.status_reason = "系统升级"
    water.save()
    again = pay(api, bill, "kept-5")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_a_top_ups_answer_is_kept_after_its_card_write_hold(api, partner):
    gas = BillerFactory(code="GASCARD", payment_mode=PaymentMode.PREPAID, min_amount="10.00")
    CardWriteRule.objects.create(biller=gas, timeout_minutes=30)
    partner.allowed_billers.add(gas)
    CustomerAccountFactory(biller=gas, account_no="62000001")
    body = {"biller_code": "GASCARD", "account_no": "62000001", "amount": "120.00", "partner_ref": "T-1"}
    first = api.post(f"{BASE}/payments", body, idempotency_key="kept-6")
    assert first.status_code == 201, first.json()
    assert first.json()["card_write"]["status"] == "held"
    record = IdempotencyRecord.objects.get()
    assert record.response_body == first.json()
    again = api.post(f"{BASE}/payments", body, idempotency_key="kept-6")
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Payment.objects.count() == 1


def test_with_a_posting_desk_configured_the_key_is_claimed_first(api, bill, settings):
    settings.POSTING_DESK_URL = settings.CACHE_URL  # no desk serving it: the payment is posted directly
    with record_statements() as statements:
        response = pay(api, bill, "kept-7")
    assert response.status_code == 201, response.json()
    assert "ON CONFLICT (scope, key) DO NOTHING" in statements[0]
    assert statements[-1].startswith("UPDATE api_idempotencyrecord")
    assert IdempotencyRecord.objects.get().response_body == response.json()


@pytest.mark.django_db(transaction=True)
def test_a_partner_payment_makes_as_many_round_trips_to_postgresql_as_the_posting_alone(
    api, water, monkeypatch
):
    monkeypatch.setattr(outbox, "relay_soon", lambda: None)  # the relay's own queries are not the payment's
    bills = [
        BillFactory(account=CustomerAccountFactory(biller=water, account_no=f"3100200{n}")) for n in (1, 2)
    ]
    assert pay(api, bills[0], "warm").status_code == 201  # its statements are prepared, its partner cached
    connection.ensure_connection()
    response, trace = traced(lambda: pay(api, bills[1], "round-trips"))
    assert response.status_code == 201, response.json()
    # The account locked with BEGIN; the payment, its record and answer written with COMMIT.
    assert "COMMIT" in trace
    assert exchanges(trace) == ["F", "B", "F", "B"]
    assert IdempotencyRecord.objects.get(key="round-trips").response_body == response.json()


def _unsigned_json_request():
    """A JSON request with no signature: run_idempotent fingerprints its method, path and body."""
    return Request(APIRequestFactory().post("/api/v1/x", {"a": 1}, format="json"), parsers=[JSONParser()])


def test_a_request_whose_transaction_a_deadlock_ended_is_run_once_more():
    calls = []

    def handler():
        calls.append(IdempotencyRecord.objects.filter(key="dl-1").count())  # its claim, each time
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from psycopg.errors.DeadlockDetected()
        return Response({"ok": True}, status=201)

    response = idempotency.run_idempotent(
        _unsigned_json_request(), scope="partner:T", key="dl-1", handler=handler
    )
    assert response.status_code == 201 and response["Idempotent-Replayed"] == "false"
    assert calls == [1, 1]  # each run made its claim
    assert IdempotencyRecord.objects.get(key="dl-1").response_body == {"ok": True}


def test_any_other_failure_of_the_database_is_not_run_again():
    calls = []

    def handler():
        calls.append(1)
        raise OperationalError("server closed the connection unexpectedly")

    with pytest.raises(OperationalError):
        idempotency.run_idempotent(_unsigned_json_request(), scope="partner:T", key="dl-2", handler=handler)
    assert calls == [1]
    assert not IdempotencyRecord.objects.filter(key="dl-2").exists()
