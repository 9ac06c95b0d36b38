"""Retries and races on PostgreSQL: one Idempotency-Key sent 50 times at once makes one payment, and 20
partners paying one bill at once never overpay it."""

import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from api import services
from api.models import IdempotencyRecord, Partner
from billing.choices import BillStatus
from billing.models import Bill, BillerCategory, Payment
from billing.selectors import unbalanced_entry_ids
from tests.api.conftest import SignedClient
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def run_at_once(count, task):
    barrier = threading.Barrier(count)

    def worker(index):
        try:
            barrier.wait(timeout=30)
            return task(index)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(worker, range(count)))


def make_partner(code, admin):
    partner = Partner.objects.create(code=code, name=code, rate_limit_per_minute=10_000)
    partner.allowed_categories.add(BillerCategory.objects.get(code="water"))
    issued = services.issue_credential(owner=partner, actor=admin)
    return issued.credential.key_id, issued.secret


def test_fifty_parallel_creates_with_one_key_make_one_payment(django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    water = BillerFactory(code="WATER01")
    bill = BillFactory(
        account=CustomerAccountFactory(biller=water, account_no="31005678"), amount_due=Decimal("88.00")
    )
    key_id, secret = make_partner("ACME", admin)
    body = {"biller_code": "WATER01", "account_no": "31005678", "amount": "88.00", "partner_ref": "ACME-1"}

    def create(_index):
        response = SignedClient(Client(), key_id, secret).post(
            "/api/v1/partner/payments", body, idempotency_key="retry-storm"
        )
        return response.status_code, response.json()

    answers = run_at_once(50, create)

    assert {status for status, _body in answers} == {201}
    assert len({body["receipt_no"] for _status, body in answers}) == 1
    assert all(body == answers[0][1] for _status, body in answers)
    assert Payment.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
    bill.refresh_from_db()
    assert bill.amount_paid == Decimal("88.00")


def test_twenty_partners_paying_one_bill_at_once_never_overpay_it(django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    water = BillerFactory(code="WATER01")
    bill = BillFactory(
        account=CustomerAccountFactory(biller=water, account_no="31005678"), amount_due=Decimal("50.00")
    )
    partners = [make_partner(f"P{index:02d}", admin) for index in range(20)]

    def pay(index):
        key_id, secret = partners[index]
        body = {
            "biller_code": "WATER01",
            "account_no": "31005678",
            "amount": "50.00",
            "partner_ref": f"R{index}",
        }
        response = SignedClient(Client(), key_id, secret).post(
            "/api/v1/partner/payments", body, idempotency_key=f"pay-{index}"
        )
        return response.status_code, response.json()

    answers = run_at_once(20, pay)

    statuses = sorted(status for status, _body in answers)
    assert statuses.count(201) == 1
    refusals = {body["error"]["code"] for status, body in answers if status != 201}
    assert refusals == {"no_open_bill"}
    bill = Bill.objects.get(pk=bill.pk)
    assert bill.amount_paid == Decimal("50.00")
    assert bill.status == BillStatus.PAID
    assert Payment.objects.count() == 1
    assert unbalanced_entry_ids() == []


def test_a_batch_and_a_single_payment_racing_on_one_key_leave_one_answer_and_no_half_payment(
    django_user_model,
):
    """The single payment writes its key's record in its payment's statement (api.idempotency.KeptAnswer),
    the batch claims it first: whichever commits first keeps the key, the other is a 409 with nothing of its
    own left behind. Ten rounds, each on fresh accounts (the first also opens the biller's ledger
    accounts)."""
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    water = BillerFactory(code="WATER01")
    key_id, secret = make_partner("ACME", admin)

    def body_of(bill):
        return {
            "biller_code": "WATER01",
            "account_no": bill.account.account_no,
            "amount": "20.00",
            "partner_ref": f"R-{bill.pk}",
        }

    def send(key, single_bill, batch_bill, index):
        client = SignedClient(Client(), key_id, secret)
        if index == 0:
            response = client.post("/api/v1/partner/payments", body_of(single_bill), idempotency_key=key)
        else:
            item = {**body_of(batch_bill), "idempotency_key": f"item-{key}"}
            response = client.post(
                "/api/v1/partner/payment-batches", {"payments": [item]}, idempotency_key=key
            )
        return response.status_code, response.json()

    for round_no in range(10):
        single_bill, batch_bill = (
            BillFactory(
                account=CustomerAccountFactory(biller=water, account_no=f"3100{round_no}{side}00"),
                amount_due=Decimal("20.00"),
            )
            for side in (1, 2)
        )
        key = f"shared-{round_no}"

        answers = run_at_once(2, functools.partial(send, key, single_bill, batch_bill))

        (single_status, single_body), (batch_status, _batch_body) = answers
        assert sorted([single_status, batch_status]) in ([200, 409], [201, 409]), answers
        record = IdempotencyRecord.objects.get(key=key)
        paid = {bill.pk: Bill.objects.get(pk=bill.pk).amount_paid for bill in (single_bill, batch_bill)}
        if single_status == 201:
            assert record.response_body == single_body
            assert paid == {single_bill.pk: Decimal("20.00"), batch_bill.pk: Decimal("0.00")}
        else:
            assert single_body["error"]["code"] == "idempotency_key_reused"
            assert paid == {single_bill.pk: Decimal("0.00"), batch_bill.pk: Decimal("20.00")}
    assert Payment.objects.count() == 10
    assert IdempotencyRecord.objects.count() == 10
    assert unbalanced_entry_ids() == []
