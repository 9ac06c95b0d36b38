"""Contract tests of the biller API: push bills (the bill import's own checks), cancel, payments after a
cursor; and the webhooks sent when a payment is posted or reversed."""

import datetime
import json
import uuid
from decimal import Decimal

import pytest

from api import credentials, services, signing, webhooks
from api.choices import DeliveryStatus
from api.models import WebhookAttempt, WebhookDelivery
from billing import outbox
from billing.choices import BillStatus, Channel
from billing.models import AuditEvent, Bill, OutboxEvent
from billing.services import reverse_payment
from tests.api.conftest import Receiver, SignedClient, error_code
from tests.factories import BillerFactory, BillFactory, BranchFactory, CustomerAccountFactory
from tests.support import log_in, pay

pytestmark = pytest.mark.django_db

BASE = "/api/v1/biller"


@pytest.fixture
def biller_api(client, access, admin_user):
    issued = services.issue_credential(owner=access, actor=admin_user)
    return SignedClient(client, issued.credential.key_id, issued.secret)


def row(account_no="31005678", period="2026-10", amount="88.50", **extra):
    return {
        "account_no": account_no,
        "customer_name": "张小明",
        "period": period,
        "amount_due": amount,
        "due_date": "2026-11-20",
        **extra,
    }


class TestPushBills:
    def test_a_valid_batch_is_stored(self, biller_api, water):
        response = biller_api.post(f"{BASE}/bills", {"bills": [row(), row("31005679", amount="¥1,234.5")]})
        assert response.status_code == 200, response.json()
        body = response.json()
        assert body["created"] == 2 and body["imported"] is True and body["errors"] == []
        assert Bill.objects.get(account__account_no="31005679").amount_due == Decimal("1234.50")

    def test_a_discount_and_a_beneficiary_are_pushed_and_checked(self, biller_api, water):
        """The import's columns (issue 17, items 2 and 6): a bad one names its row and stores nothing."""
        with_both = row(
            early_discount="20.00",
            discount_until="2026-11-10",
            beneficiary_kind="学生",
            beneficiary_name="张小明",
        )
        refused = biller_api.post(
            f"{BASE}/bills", {"bills": [with_both, row("31005679", early_discount="5")]}
        )
        assert refused.status_code == 422
        errors = refused.json()["error"]["details"]["errors"]
        assert [(e["row"], e["column"], e["code"]) for e in errors] == [
            (2, "discount_until", "discount_until_required")
        ]
        assert not Bill.objects.exists()
        response = biller_api.post(f"{BASE}/bills", {"bills": [with_both]})
        assert response.status_code == 200, response.json()
        bill = Bill.objects.get()
        assert (bill.early_discount, bill.discount_until) == (Decimal("20.00"), datetime.date(2026, 11, 10))
        assert (bill.beneficiary_kind, bill.beneficiary_name) == ("student", "张小明")

    def test_a_batch_with_an_error_stores_nothing_and_names_the_row(self, biller_api, water):
        response = biller_api.post(f"{BASE}/bills", {"bills": [row(), row("12", amount="-5")]})
        assert response.status_code == 422
        assert error_code(response) == "bill_import_failed"
        errors = response.json()["error"]["details"]["errors"]
        assert {(e["row"], e["column"]) for e in errors} >= {(2, "account_no"), (2, "amount_due")}
        assert not Bill.objects.exists()

    def test_partial_stores_the_valid_rows_and_reports_the_rest(self, biller_api, water):
        response = biller_api.post(f"{BASE}/bills", {"bills": [row(), row("12")], "partial": True})
        assert response.status_code == 200
        assert response.json()["created"] == 1
        assert [e["row"] for e in response.json()["errors"]] == [2]

    def test_a_replayed_push_with_its_key_answers_the_same(self, biller_api, water):
        first = biller_api.post(f"{BASE}/bills", {"bills": [row()]}, idempotency_key="batch-1")
        second = biller_api.post(f"{BASE}/bills", {"bills": [row()]}, idempotency_key="batch-1")
        assert second.json() == first.json()
        assert second["Idempotent-Replayed"] == "true"

    def test_a_partner_key_cannot_push_bills(self, api, water):
        response = api.post(f"{BASE}/bills", {"bills": [row()]})
        assert response.status_code == 403
        assert error_code(response) == "wrong_api"


class TestOfferInstalments:
    """The biller offers a bill in instalments (issue 17, item 3) through the service the back-office uses."""

    def url(self, account_no="31005678", period="2026-09"):
        return f"{BASE}/bills/{account_no}/{period}/instalments"

    def test_a_plan_is_offered_and_shown(self, biller_api, bill):
        plan = [{"amount": "64.20", "due_date": "2026-10-15"}, {"amount": "¥64.2", "due_date": "2026-11-15"}]
        response = biller_api.post(self.url(), {"instalments": plan, "reason": "hardship"})
        assert response.status_code == 200, response.json()
        assert response.json()["instalments"] == [
            {"number": 1, "amount": "64.20", "due_date": "2026-10-15", "remaining": "64.20"},
            {"number": 2, "amount": "64.20", "due_date": "2026-11-15", "remaining": "64.20"},
        ]
        assert AuditEvent.objects.get(action="bill.instalments_offered").reason == "biller API: hardship"

    @pytest.mark.parametrize(
        ("plan", "code"),
        [
            ([{"amount": "60.00", "due_date": "2026-10-15"}, {"amount": "60.00", "due_date": "2026-11-15"}],
             "instalments_do_not_add_up"),
            ([{"amount": "64.20", "due_date": "2026-11-15"}, {"amount": "64.20", "due_date": "2026-10-15"}],
             "instalments_dates_invalid"),
            ([{"amount": "abc", "due_date": "2026-10-15"}, {"amount": "64.20", "due_date": "2026-11-15"}],
             "instalment_amount_invalid"),
            ([{"amount": "128.40", "due_date": "2026-10-15"}], "validation_failed"),
        ],
    )  # fmt: skip
    def test_a_bad_plan_is_refused_and_nothing_is_stored(self, biller_api, bill, plan, code):
        response = biller_api.post(self.url(), {"instalments": plan})
        assert response.status_code in (400, 422)
        assert error_code(response) == code
        assert not bill.instalments.exists()

    def test_a_bill_with_payments_cannot_be_split(self, biller_api, bill, water):
        water.amount_rule = "exact_down"
        water.save()
        pay(bill.account, "10.00")
        plan = [{"amount": "64.20", "due_date": "2026-10-15"}, {"amount": "64.20", "due_date": "2026-11-15"}]
        response = biller_api.post(self.url(), {"instalments": plan})
        assert error_code(response) == "instalments_not_offerable"
        assert not bill.instalments.exists()

    def test_another_billers_bill_is_not_found(self, biller_api):
        other = CustomerAccountFactory(biller=BillerFactory(code="POWER9"), account_no="31005678")
        theirs = BillFactory(account=other, period="2026-09", amount_due=Decimal("128.40"))
        plan = [{"amount": "64.20", "due_date": "2026-10-15"}, {"amount": "64.20", "due_date": "2026-11-15"}]
        response = biller_api.post(self.url(), {"instalments": plan})
        assert error_code(response) == "bill_not_yours"
        assert not theirs.instalments.exists()


class TestCancelBill:
    def test_an_unpaid_bill_is_cancelled(self, biller_api, bill):
        response = biller_api.post(f"{BASE}/bills/31005678/2026-09/cancellation", {"reason": "重复出账"})
        assert response.status_code == 200
        assert response.json()["status"] == "cancelled"
        bill.refresh_from_db()
        assert bill.status == BillStatus.CANCELLED
        assert AuditEvent.objects.filter(action="bill.cancelled", target_id=str(bill.pk)).exists()

    def test_a_bill_with_payments_is_refused(self, biller_api, bill):
        pay(bill.account, "128.40", key="x")
        response = biller_api.post(f"{BASE}/bills/31005678/2026-09/cancellation", {"reason": "r"})
        assert response.status_code == 422
        assert error_code(response) == "bill_has_payments"

    def test_another_billers_bill_is_not_found(self, biller_api):
        other = BillFactory(
            account=CustomerAccountFactory(biller=BillerFactory(code="GAS01"), account_no="77777777")
        )
        response = biller_api.post(f"{BASE}/bills/77777777/{other.period}/cancellation", {"reason": "r"})
        assert response.status_code == 404
        assert error_code(response) == "bill_not_yours"
        other.refresh_from_db()
        assert other.status == BillStatus.OPEN


class TestPaymentsAfterACursor:
    def test_pages_follow_the_cursor_and_show_only_the_billers_payments(self, biller_api, account):
        for index in range(3):
            BillFactory(account=account, period=f"2026-0{index + 1}", amount_due=Decimal("10.00"))
            pay(account, "10.00", key=f"k{index}")
        other = BillFactory(
            account=CustomerAccountFactory(biller=BillerFactory(code="GAS01"), account_no="77777777")
        )
        pay(other.account, other.amount_due, key="other")
        first = biller_api.get(f"{BASE}/payments", {"limit": 2}).json()
        assert len(first["payments"]) == 2 and first["has_more"] is True
        second = biller_api.get(f"{BASE}/payments", {"limit": 2, "after": first["next_cursor"]}).json()
        assert len(second["payments"]) == 1 and second["has_more"] is False
        periods = [p["allocations"][0]["period"] for p in first["payments"] + second["payments"]]
        assert periods == ["2026-01", "2026-02", "2026-03"]
        empty = biller_api.get(f"{BASE}/payments", {"after": second["next_cursor"]}).json()
        assert empty["payments"] == [] and empty["next_cursor"] == second["next_cursor"]

    def test_a_forged_cursor_is_400(self, biller_api):
        response = biller_api.get(f"{BASE}/payments", {"after": "not-a-cursor"})
        assert response.status_code == 400
        assert error_code(response) == "cursor_invalid"


def queued_delivery(payment) -> WebhookDelivery:
    """What the outbox relay makes of the payment's event: its biller's webhook delivery."""
    outbox.relay()
    return WebhookDelivery.objects.get(payment=payment, event="payment.posted")


class TestWebhooks:
    def test_a_partner_payment_is_announced_signed_after_commit(
        self, api, bill, hooked, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(
                "/api/v1/partner/payments",
                {"biller_code": "WATER01", "account_no": "31005678", "amount": "128.40", "partner_ref": "P1"},
                idempotency_key="hook-1",
            )
        assert response.status_code == 201
        ((headers, body),) = Receiver.received
        assert headers["X-BillPay-Event"] == "payment.posted"
        secret = credentials.webhook_secret_for(hooked)
        expected = signing.webhook_signature(secret, timestamp=headers["X-BillPay-Timestamp"], body=body)
        assert headers["X-BillPay-Signature"] == expected
        event = json.loads(body)
        assert event["payment"]["receipt_no"] == response.json()["receipt_no"]
        assert event["payment"]["bills"] == [{"period": "2026-09", "amount": "128.40"}]
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 1
        assert WebhookAttempt.objects.get().status_code == 200

    def test_nothing_is_sent_before_the_transaction_commits(
        self, api, bill, hooked, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            api.post(
                "/api/v1/partner/payments",
                {"biller_code": "WATER01", "account_no": "31005678", "amount": "128.40", "partner_ref": "P1"},
                idempotency_key="hook-2",
            )
        assert Receiver.received == []
        assert outbox.relay_soon in callbacks  # the outbox relay, queued once the payment commits

    def test_a_failed_delivery_backs_off_exponentially_and_is_logged(self, account, bill, hooked, receiver):
        Receiver.answer = 503
        payment = pay(bill.account, "128.40", key="o1").payment
        delivery = queued_delivery(payment)
        webhooks.attempt(delivery.pk)
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.RETRYING and delivery.last_status_code == 503
        first_wait = delivery.next_attempt_at - WebhookAttempt.objects.get().attempted_at
        # 30 s after the first failure, 1 min after the second, half of each fixed and half jitter.
        assert datetime.timedelta(seconds=14) < first_wait <= datetime.timedelta(seconds=31)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=delivery.next_attempt_at - first_wait
        )
        webhooks.attempt(delivery.pk)
        delivery.refresh_from_db()
        second_wait = delivery.next_attempt_at - WebhookAttempt.objects.order_by("-pk").first().attempted_at
        assert datetime.timedelta(seconds=29) < second_wait <= datetime.timedelta(seconds=61)
        assert WebhookAttempt.objects.count() == 2

    def test_an_attempt_before_its_time_sends_nothing(self, account, bill, hooked):
        Receiver.answer = 500
        payment = pay(bill.account, "128.40", key="o2").payment
        delivery = queued_delivery(payment)
        webhooks.attempt(delivery.pk)
        webhooks.attempt(delivery.pk)
        assert len(Receiver.received) == 1

    def test_it_gives_up_after_the_last_attempt(self, account, bill, hooked, settings):
        settings.WEBHOOK_MAX_ATTEMPTS = 2
        Receiver.answer = 500
        payment = pay(bill.account, "128.40", key="o3").payment
        delivery = queued_delivery(payment)
        for _ in range(2):
            WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=None)
            webhooks.attempt(delivery.pk)
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.FAILED and delivery.next_attempt_at is None

    def test_manual_redelivery_from_the_admin(self, client, admin_user, account, bill, hooked):
        payment = pay(bill.account, "128.40", key="o4").payment
        delivery = queued_delivery(payment)
        webhooks.attempt(delivery.pk)
        log_in(client, admin_user)
        response = client.post(
            "/admin/api/webhookdelivery/", {"action": "redeliver", "_selected_action": [delivery.pk]}
        )
        assert response.status_code == 302
        assert len(Receiver.received) == 2
        assert WebhookAttempt.objects.filter(manual=True).count() == 1

    def test_payments_of_other_channels_and_reversals_are_announced_through_the_outbox(
        self, account, bill, hooked, admin_user
    ):
        payment = pay(
            bill.account, "128.40", key="c1", channel=Channel.COUNTER, branch=BranchFactory()
        ).payment
        reverse_payment(payment=payment, actor=admin_user, reason="错收")
        assert outbox.relay() == 2
        assert outbox.relay() == 0
        deliveries = WebhookDelivery.objects.order_by("event")
        assert [d.event for d in deliveries] == ["payment.posted", "payment.reversed"]
        ids = set(OutboxEvent.objects.values_list("id", flat=True))
        assert {uuid.UUID(d.event_id) for d in deliveries} == ids
        assert all(d.payload["id"] == d.event_id for d in deliveries)
