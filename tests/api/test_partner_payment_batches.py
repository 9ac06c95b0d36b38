"""POST /api/v1/partner/payment-batches (批量代收): each payment of a batch answered as if sent alone with its
own key, one refusal holding back none of the others, the batch itself idempotent on its own key."""

import json
import time
from decimal import Decimal

import pytest
from django.db import OperationalError
from django.test import Client

from api import idempotency
from api.models import IdempotencyRecord
from api.partner.serializers import MAX_PAYMENT_BATCH
from billing import posting
from billing.choices import BillStatus, Channel
from billing.models import AuditEvent, Bill, BillerCategory, JournalEntry, OutboxEvent, Payment
from billing.presentment_models import BillerLink, PresentmentMode
from billing.selectors import unbalanced_entry_ids
from tests.api.conftest import SignedClient, error_code
from tests.api.test_concurrency import make_partner, run_at_once
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/partner"
BATCHES = f"{BASE}/payment-batches"


def item(bill, key, **overrides) -> dict:
    """One payment of a batch: the single payment's body, with its own key."""
    return {
        "idempotency_key": key,
        "biller_code": bill.biller.code,
        "account_no": bill.account.account_no,
        "amount": str(bill.outstanding),
        "partner_ref": f"ACME-{key}",
        **overrides,
    }


def send(api, items, key="batch-1"):
    return api.post(BATCHES, {"payments": items}, idempotency_key=key)


def single(api, body: dict):
    """The same payment sent alone to POST payments, its key as the Idempotency-Key."""
    fields = {name: value for name, value in body.items() if name != "idempotency_key"}
    return api.post(f"{BASE}/payments", fields, idempotency_key=body["idempotency_key"])


@pytest.fixture
def bills(water):
    """Three water accounts with one bill each."""
    return [
        BillFactory(
            account=CustomerAccountFactory(biller=water, account_no=f"3100100{n}"),
            amount_due=Decimal(f"{n}0.50"),
        )
        for n in (1, 2, 3)
    ]


def nothing_written():
    return (
        not Payment.objects.exists()
        and not IdempotencyRecord.objects.exists()
        and not AuditEvent.objects.filter(action="partner.payment_taken").exists()
    )


class TestPosting:
    def test_a_signed_batch_posts_each_payment_with_its_rows_event_audit_and_balanced_entry(
        self, api, bills, monkeypatch
    ):
        written = []
        write_payments = posting.write_payments
        monkeypatch.setattr(
            posting,
            "write_payments",
            lambda batch, audits: written.append(len(batch)) or write_payments(batch, audits),
        )
        items = [item(bill, f"p-{n}") for n, bill in enumerate(bills)]
        response = send(api, items)
        assert written == [3]  # together, by post_payments' one write statement

        assert response.status_code == 200, response.json()
        body = response.json()
        assert body["counts"] == {"posted": 3, "replayed": 0, "refused": 0}
        assert [(answer["index"], answer["status"]) for answer in body["payments"]] == [
            (0, "posted"),
            (1, "posted"),
            (2, "posted"),
        ]
        assert response["Idempotent-Replayed"] == "false"
        for answer, sent, bill in zip(body["payments"], items, bills, strict=True):
            payment = Payment.objects.get(receipt_no=answer["payment"]["receipt_no"])
            assert payment.channel == Channel.PARTNER
            assert payment.idempotency_key == f"ACME:{sent['idempotency_key']}"
            assert payment.channel_ref == sent["partner_ref"]
            assert payment.amount == bill.amount_due
            assert answer["payment"]["allocations"] == [
                {"kind": "bill", "period": "2026-09", "amount": sent["amount"]}
            ]
            assert Bill.objects.get(pk=bill.pk).status == BillStatus.PAID
            assert (
                OutboxEvent.objects.filter(type="payment.posted", aggregate_id=str(payment.pk)).count() == 1
            )
            assert JournalEntry.objects.filter(payment=payment).count() == 1
            audit = AuditEvent.objects.get(action="partner.payment_taken", target_id=str(payment.pk))
            assert audit.data["partner"] == "ACME"
            assert audit.data["partner_ref"] == sent["partner_ref"]
            # The payment as the single endpoint shows it.
            assert answer["payment"] == api.get(f"{BASE}/payments/{payment.receipt_no}").json()
        assert unbalanced_entry_ids() == []
        assert Payment.objects.count() == 3

    def test_two_payments_of_one_account_are_posted_as_if_one_after_the_other(self, api, water):
        account = CustomerAccountFactory(biller=water, account_no="31002001")
        older = BillFactory(account=account, period="2026-08", amount_due=Decimal("10.00"))
        newer = BillFactory(account=account, period="2026-09", amount_due=Decimal("20.00"))
        items = [item(older, "o-1", amount="10.00"), item(newer, "o-2", amount="20.00")]

        body = send(api, items).json()

        assert body["counts"] == {"posted": 2, "replayed": 0, "refused": 0}
        periods = [answer["payment"]["allocations"][0]["period"] for answer in body["payments"]]
        assert periods == ["2026-08", "2026-09"]  # the oldest open bill first, then the next

    def test_a_payment_naming_its_periods_is_posted_on_those_bills(self, api, water):
        account = CustomerAccountFactory(biller=water, account_no="31002002")
        BillFactory(account=account, period="2026-08", amount_due=Decimal("10.00"))
        named = BillFactory(account=account, period="2026-09", amount_due=Decimal("20.00"))

        body = send(api, [item(named, "n-1", periods=["2026-09"])]).json()

        assert body["payments"][0]["status"] == "posted"
        assert Bill.objects.get(pk=named.pk).status == BillStatus.PAID


class TestPerPaymentRefusals:
    def test_a_malformed_payment_is_answered_with_its_index_and_the_others_are_posted(self, api, bills):
        items = [
            item(bills[0], "v-0"),
            item(bills[1], "v-1", amount=12.5),  # a JSON number: refused as the single endpoint refuses it
            "not a payment",
            item(bills[2], "v-3", idempotency_key="has space"),
            {key: value for key, value in item(bills[2], "v-4").items() if key != "partner_ref"},
            item(bills[2], "v-5"),
        ]
        body = send(api, items).json()

        assert [answer["status"] for answer in body["payments"]] == [
            "posted",
            "refused",
            "refused",
            "refused",
            "refused",
            "posted",
        ]
        assert body["counts"] == {"posted": 2, "replayed": 0, "refused": 4}
        refused = {answer["index"]: answer["error"] for answer in body["payments"] if "error" in answer}
        assert {error["code"] for error in refused.values()} == {"validation_failed"}
        assert "amount" in refused[1]["details"]["fields"]
        assert "amount" in refused[1]["message"]
        assert "idempotency_key" in refused[3]["details"]["fields"]
        assert "partner_ref" in refused[4]["details"]["fields"]
        assert "payment" not in refused
        assert Payment.objects.count() == 2

    def test_the_same_malformed_payment_alone_gets_the_same_error(self, api, bills):
        bad = item(bills[0], "same-error", amount="12.345")
        in_batch = send(api, [bad]).json()["payments"][0]["error"]
        alone = single(api, bad).json()["error"]
        assert in_batch == alone

    def test_refusals_of_the_posting_service_are_answered_in_place(self, api, bills):
        gas = BillerFactory(code="GAS09", category=BillerCategory.objects.get(code="gas"))
        gas_bill = BillFactory(account=CustomerAccountFactory(biller=gas, account_no="55555555"))
        items = [
            item(bills[0], "r-0", amount="1.00"),
            item(bills[1], "r-1", account_no="99999999"),
            item(gas_bill, "r-2"),
            item(bills[2], "r-3", biller_code="NOPE"),
            item(bills[2], "r-4"),
        ]
        body = send(api, items).json()

        codes = [answer.get("error", {}).get("code") for answer in body["payments"]]
        assert codes == ["amount_not_exact", "account_unknown", "biller_not_allowed", "biller_unknown", None]
        assert "exact amount" in body["payments"][0]["error"]["message"]
        assert body["counts"] == {"posted": 1, "replayed": 0, "refused": 4}
        assert list(Payment.objects.values_list("idempotency_key", flat=True)) == ["ACME:r-4"]
        assert Bill.objects.get(pk=bills[0].pk).status == BillStatus.OPEN
        # Each refusal is the one the single endpoint gives the same payment.
        for sent, answer in zip(items[:4], body["payments"][:4], strict=True):
            assert single(api, sent).json()["error"] == answer["error"]
        assert Payment.objects.count() == 1

    def test_refusals_speak_the_requests_language(self, api, bills):
        api.language = "zh-hans"
        body = send(api, [item(bills[0], "zh-0", amount="1.00"), item(bills[1], "zh-1", amount=1)]).json()
        exact, invalid = (answer["error"]["message"] for answer in body["payments"])
        assert "足额" in exact or "应缴" in exact
        assert invalid.startswith("请求无效：amount")

    def test_the_live_biller_refusal_is_translated(self, api, water):
        live = BillerFactory(code="LIVE02", name="滨江电网", category=water.category)
        BillerLink.objects.create(
            biller=live, mode=PresentmentMode.FETCH, endpoint_url="https://live.example/", secret="s" * 32
        )
        api.language = "zh-hans"
        body = {"biller_code": "LIVE02", "account_no": "77777778", "amount": "1.00", "partner_ref": "x"}
        error = send(api, [{**body, "idempotency_key": "zh-live"}]).json()["payments"][0]["error"]
        assert error["code"] == "batch_live_biller"
        assert "不能批量缴费" in error["message"] and "滨江电网" in error["message"]

    def test_a_refused_payments_key_stays_free_for_its_corrected_retry(self, api, bills):
        send(api, [item(bills[0], "fix-me", amount="1.00")], key="batch-a")
        body = send(api, [item(bills[0], "fix-me")], key="batch-b").json()
        assert body["payments"][0]["status"] == "posted"

    def test_a_key_twice_in_one_batch_is_a_replay_or_a_conflict(self, api, bills):
        first = item(bills[0], "twice")
        body = send(api, [first, first, {**first, "partner_ref": "ACME-other"}]).json()

        assert [answer["status"] for answer in body["payments"]] == ["posted", "replayed", "refused"]
        assert body["payments"][1]["payment"] == body["payments"][0]["payment"]
        assert body["payments"][2]["error"]["code"] == "idempotency_conflict"
        assert Payment.objects.count() == 1

    def test_a_live_billers_payment_is_refused_without_asking_it(self, api, bills, water, monkeypatch):
        from billing import presentment

        live = BillerFactory(code="LIVE01", category=water.category)
        BillerLink.objects.create(
            biller=live, mode=PresentmentMode.VALIDATE, endpoint_url="https://live.example/", secret="s" * 32
        )
        live_bill = BillFactory(account=CustomerAccountFactory(biller=live, account_no="77777777"))
        asked = []
        monkeypatch.setattr(presentment, "check_with_biller", lambda **kwargs: asked.append(kwargs))

        body = send(api, [item(live_bill, "live-0"), item(bills[0], "live-1")]).json()

        first = body["payments"][0]
        assert first["status"] == "refused"
        assert first["error"]["code"] == "batch_live_biller"
        assert "alone" in first["error"]["message"]
        assert body["payments"][1]["status"] == "posted"
        assert asked == []
        assert not Payment.objects.filter(biller=live).exists()


class TestIdempotency:
    def test_the_same_batch_again_gets_the_first_answer_and_pays_nothing_more(self, api, bills):
        items = [item(bill, f"again-{n}") for n, bill in enumerate(bills)] + [
            item(bills[0], "again-x", amount="1.00")
        ]
        first = send(api, items, key="batch-again")
        second = send(api, items, key="batch-again")

        assert second.status_code == 200
        assert second.json() == first.json()
        assert second["Idempotent-Replayed"] == "true"
        assert Payment.objects.count() == 3
        assert AuditEvent.objects.filter(action="partner.payment_taken").count() == 3

    def test_the_batch_key_with_another_body_is_409(self, api, bills):
        send(api, [item(bills[0], "k-0")], key="batch-reused")
        response = send(api, [item(bills[1], "k-1")], key="batch-reused")
        assert response.status_code == 409
        assert error_code(response) == "idempotency_key_reused"
        assert Payment.objects.count() == 1

    def test_a_payment_sent_alone_before_is_replayed_in_a_batch(self, api, bills):
        earlier = item(bills[0], "alone-first")
        alone = single(api, earlier)
        assert alone.status_code == 201

        body = send(
            api, [earlier, item(bills[0], "alone-first", amount="99.00"), item(bills[1], "new")]
        ).json()

        assert [answer["status"] for answer in body["payments"]] == ["replayed", "refused", "posted"]
        assert body["payments"][0]["payment"] == alone.json()
        assert body["payments"][1]["error"]["code"] == "idempotency_conflict"
        assert body["counts"] == {"posted": 1, "replayed": 1, "refused": 1}
        assert Payment.objects.count() == 2

    def test_a_batch_payment_sent_again_alone_or_in_another_batch_is_a_replay(self, api, bills):
        sent = item(bills[0], "batched-first")
        posted = send(api, [sent], key="batch-x").json()["payments"][0]["payment"]

        alone = single(api, sent)
        again = send(api, [sent], key="batch-y").json()["payments"][0]

        assert alone.status_code == 201
        assert alone.json() == posted
        assert again["status"] == "replayed"
        assert again["payment"] == posted
        assert Payment.objects.count() == 1


class TestRefusedWhole:
    def test_more_than_the_bound_is_refused_with_nothing_written(self, api, bills):
        items = [item(bills[0], f"over-{n}") for n in range(MAX_PAYMENT_BATCH + 1)]
        response = send(api, items)

        assert response.status_code == 400
        assert error_code(response) == "payment_batch_too_large"
        assert f"at most {MAX_PAYMENT_BATCH} payments" in response.json()["error"]["message"]
        assert str(MAX_PAYMENT_BATCH + 1) in response.json()["error"]["message"]
        assert nothing_written()

    def test_the_bound_itself_is_taken(self, api, water):
        accounts = [CustomerAccountFactory(biller=water, account_no=f"{32000000 + n}") for n in range(100)]
        items = [
            item(BillFactory(account=account, amount_due=Decimal("5.00")), f"full-{n}")
            for n, account in enumerate(accounts)
        ]
        body = send(api, items).json()
        assert body["counts"] == {"posted": MAX_PAYMENT_BATCH, "replayed": 0, "refused": 0}
        assert unbalanced_entry_ids() == []

    @pytest.mark.parametrize("data", [{"payments": []}, {"payments": "all"}, {}, [1, 2]])
    def test_a_body_that_is_no_batch_is_400_with_nothing_written(self, api, data):
        response = api.post(BATCHES, data, idempotency_key="no-batch")
        assert response.status_code == 400
        assert error_code(response) == "validation_failed"
        assert nothing_written()

    def test_the_idempotency_key_header_is_required(self, api, bills):
        response = api.post(BATCHES, {"payments": [item(bills[0], "h-0")]})
        assert response.status_code == 400
        assert error_code(response) == "idempotency_key_required"
        assert nothing_written()

    def test_an_unsigned_batch_is_refused_with_nothing_written(self, client, bills):
        response = client.post(
            BATCHES,
            {"payments": [item(bills[0], "u-0")]},
            content_type="application/json",
            headers={"Idempotency-Key": "unsigned"},
        )
        assert response.status_code == 401
        assert error_code(response) == "signature_missing"
        assert nothing_written()

    def test_a_batch_signed_with_the_wrong_secret_is_refused_with_nothing_written(self, api, bills):
        response = api.post(
            BATCHES, {"payments": [item(bills[0], "s-0")]}, idempotency_key="bad-sig", secret="sk_wrong"
        )
        assert response.status_code == 401
        assert error_code(response) == "signature_invalid"
        assert nothing_written()

    def test_a_batch_changed_after_signing_is_refused_with_nothing_written(self, api, bills):
        signed = {"payments": [item(bills[0], "t-0")]}
        headers = api.headers("POST", BATCHES, "", json.dumps(signed).encode())
        headers["Idempotency-Key"] = "tampered"
        tampered = json.dumps({"payments": [item(bills[0], "t-0", amount="1.00")]})
        response = api.client.generic(
            "POST", BATCHES, tampered, content_type="application/json", headers=headers
        )
        assert response.status_code == 401
        assert error_code(response) == "signature_invalid"
        assert nothing_written()


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_a_batch_racing_single_payments_with_the_same_keys_makes_one_payment_per_key(django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    water = BillerFactory(code="WATER01")
    key_id, secret = make_partner("ACME", admin)
    rounds = []
    for round_no in range(3):
        bills = [
            BillFactory(
                account=CustomerAccountFactory(biller=water, account_no=f"{33000000 + round_no * 10 + n}"),
                amount_due=Decimal("40.00"),
            )
            for n in range(4)
        ]
        items = [item(bill, f"race-{round_no}-{n}") for n, bill in enumerate(bills)]

        def request(index, items=items, round_no=round_no):
            api = SignedClient(Client(), key_id, secret)
            if index == 0:
                response = send(api, items, key=f"race-batch-{round_no}")
            else:
                response = single(api, items[index - 1])
            return response.status_code, response.json()

        rounds.append((bills, items, run_at_once(len(items) + 1, request)))

    for bills, items, answers in rounds:
        (batch_status, batch), *alone = answers
        assert batch_status == 200, batch
        assert {status for status, _body in alone} == {201}, alone
        assert {answer["status"] for answer in batch["payments"]} <= {"posted", "replayed"}
        for sent, answer, (_status, alone_body) in zip(items, batch["payments"], alone, strict=True):
            payments = Payment.objects.filter(idempotency_key=f"ACME:{sent['idempotency_key']}")
            assert payments.count() == 1
            assert answer["payment"]["receipt_no"] == alone_body["receipt_no"] == payments.get().receipt_no
        for bill in bills:
            bill = Bill.objects.get(pk=bill.pk)
            assert bill.amount_paid == Decimal("40.00")
            assert bill.status == BillStatus.PAID
    assert Payment.objects.count() == 12
    assert unbalanced_entry_ids() == []


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_batches_naming_each_others_accounts_wait_for_each_other_without_a_deadlock(
    django_user_model, monkeypatch
):
    """Each batch pays one account in its batch statement and, for a payment naming its periods (posted alone
    after the batch statement, in the request's transaction), the account of the other batch's first
    payment. The batch statement locks both accounts at once, in id order, so the second batch waits for the
    first to commit; had it locked only its own, each would hold one account and wait for the other's."""
    from billing import services as billing_services

    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    water = BillerFactory(code="WATER01")
    key_id, secret = make_partner("ACME", admin)
    first, second = (
        [
            BillFactory(account=account, period=period, amount_due=Decimal("10.00"))
            for period in ("2026-08", "2026-09")
        ]
        for account in (
            CustomerAccountFactory(biller=water, account_no="34000001"),
            CustomerAccountFactory(biller=water, account_no="34000002"),
        )
    )
    batches = [
        [item(first[0], "A-1"), item(second[1], "A-2", periods=["2026-09"])],
        [item(second[0], "B-1"), item(first[1], "B-2", periods=["2026-09"])],
    ]
    # A first payment creates the biller's and the channel's ledger accounts: then neither batch waits for
    # the other's new ledger rows before its first alone payment.
    warm_up = BillFactory(account=CustomerAccountFactory(biller=water, account_no="34000000"))
    assert (
        send(SignedClient(Client(), key_id, secret), [item(warm_up, "W-1")], key="warm-up").status_code == 200
    )
    post_payment = billing_services.post_payment

    def after_a_pause(**kwargs):
        time.sleep(0.5)  # the other request reaches its batch statement meanwhile
        return post_payment(**kwargs)

    monkeypatch.setattr(billing_services, "post_payment", after_a_pause)
    aborted = []
    run_idempotent = idempotency.run_idempotent

    def counting_aborts(*args, **kwargs):
        try:
            return run_idempotent(*args, **kwargs)
        except OperationalError as error:
            aborted.append(type(error.__cause__))
            raise

    monkeypatch.setattr(idempotency, "run_idempotent", counting_aborts)

    def request(index):
        response = send(SignedClient(Client(), key_id, secret), batches[index], key=f"cross-{index}")
        return response.status_code, response.json()

    answers = run_at_once(2, request)

    assert aborted == []
    assert [status for status, _body in answers] == [200, 200]
    assert [body["counts"]["posted"] for _status, body in answers] == [2, 2]
    assert Payment.objects.count() == 5
    assert all(bill.status == BillStatus.PAID for bill in Bill.objects.all())
    assert unbalanced_entry_ids() == []
