"""Money taken at the channel with no payment (D11): a partner raises it; once reconciliation has found the
channel's statement line with no payment, the platform posts the payment if the bill is still payable or
has the channel return the money, by itself, once, and tells the payer and the partner."""

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from api.models import WebhookDelivery
from billing import outbox
from billing.choices import Channel, PaymentStatus
from billing.models import AuditEvent, JournalLine, OutboxEvent, Payment
from billing.money import ZERO
from disputes.models import Dispute
from payers import sms
from reconciliation import services as recon
from reconciliation import tasks
from reconciliation.choices import DiscrepancyStatus, MatchClass, Resolution
from reconciliation.models import Discrepancy
from tests.api.conftest import error_code
from tests.disputes.conftest import reconcile_partner_day
from tests.support import pay

pytestmark = pytest.mark.django_db

DEBIT = {
    "reason": "D11",
    "biller_code": "WATER01",
    "account_no": "31005678",
    "amount": "128.40",
    "channel_ref": "ACME-T9",
    "contact_phone": "+8613800138000",
    "details": "The customer's wallet was debited; our payment call timed out.",
}


@pytest.fixture
def sms_outbox(settings):
    settings.SMS_BACKEND = "payers.sms.LocmemSMSBackend"
    sms.outbox.clear()
    return sms.outbox


@pytest.fixture
def hooked_partner(partner, receiver):
    partner.webhook_url = f"http://127.0.0.1:{receiver.server_port}/hook"
    partner.webhook_seed = "seed"
    partner.save()
    return partner


def raise_debit(api, key="d11-1", **changes):
    response = api.post("/api/v1/partner/disputes", {**DEBIT, **changes}, idempotency_key=key)
    assert response.status_code == 201, response.content
    return response.json()["ref"]


def test_demo_a_partners_d11_dispute_is_resolved_by_reconciliation(
    api, bill, hooked_partner, sms_outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ref = raise_debit(api)
    assert api.get(f"/api/v1/partner/disputes/{ref}").json()["status"] == "open"
    assert "DSP" in sms_outbox[-1].body or ref in sms_outbox[-1].body

    # The partner's statement of the day carries the debit; the platform has no payment for it.
    run = reconcile_partner_day([("ACME-T9", "WATER01", "31005678", "128.40")])
    assert Discrepancy.objects.get(run=run).klass == MatchClass.MISSING_PLATFORM
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.resolve_disputed_debits() == {"posted": 1}
        outbox.relay()

    body = api.get(f"/api/v1/partner/disputes/{ref}").json()
    assert body["status"] == "resolved" and body["outcome"] == "payment_posted"
    payment = Payment.objects.get(receipt_no=body["resolution_receipt_no"])
    assert (payment.channel, payment.idempotency_key, payment.amount) == (
        Channel.PARTNER,
        "ACME:ACME-T9",
        bill.amount_due,
    )
    bill.refresh_from_db()
    assert bill.status == "paid"
    discrepancy = Discrepancy.objects.get(run=run)
    assert discrepancy.status == DiscrepancyStatus.RESOLVED and discrepancy.resolution_payment == payment
    assert sum(JournalLine.objects.values_list("amount", flat=True), ZERO) == ZERO
    assert ref in sms_outbox[-1].body and payment.receipt_no in sms_outbox[-1].body
    events = list(WebhookDelivery.objects.filter(partner=hooked_partner).values_list("event", flat=True))
    assert sorted(events) == ["dispute.resolved", "dispute.updated"]
    # Running again changes nothing.
    assert tasks.resolve_disputed_debits() == {}
    assert Payment.objects.count() == 1


def test_a_debit_not_yet_on_a_statement_waits(api, bill):
    raise_debit(api)
    assert tasks.resolve_disputed_debits() == {"waiting": 1}
    assert Payment.objects.count() == 0 and Dispute.objects.get().status == "open"


def partner_refund_statement(day, refund_ref: str, original_ref: str, amount: str) -> bytes:
    """The partner's statement of a later day with one REFUND line (docs/statement-format.md)."""
    now = timezone.localtime().replace(microsecond=0).isoformat()
    return (
        f"H,BILLPAY-STATEMENT,1,PARTNER:ACME,{day:%Y-%m-%d},{day:%Y-%m-%d}T23:59:00+08:00\n"
        "record_type,txn_type,channel_ref,receipt_no,biller_code,account_no,amount,fee,currency,occurred_at,"
        "original_channel_ref\n"
        f"D,REFUND,{refund_ref},,WATER01,31005678,{amount},0.00,CNY,{now},{original_ref}\n"
        f"T,1,0.00,{amount},0.00\n"
    ).encode()


def refund_pending_at_the_partner(api, bill, django_capture_on_commit_callbacks):
    ref = raise_debit(api)
    pay(bill.account, "128.40", key="k-online")  # paid online in between
    run = reconcile_partner_day([("ACME-T9", "WATER01", "31005678", "128.40")])
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.resolve_disputed_debits() == {"refund": 1}
    return ref, run


def test_a_bill_paid_meanwhile_has_the_partner_return_the_money_until_its_refund_line_comes(
    api, bill, hooked_partner, sms_outbox, django_capture_on_commit_callbacks
):
    entries_before = JournalLine.objects.count() + 2  # the online payment's own entry
    ref, run = refund_pending_at_the_partner(api, bill, django_capture_on_commit_callbacks)
    body = api.get(f"/api/v1/partner/disputes/{ref}").json()
    assert (body["status"], body["outcome"], body["refund_state"]) == ("open", "refund_required", "pending")
    assert body["refund_amount"] == "128.40" and body["answer"] == "Account 31005678 has no bill to pay."
    event = OutboxEvent.objects.filter(type="dispute.resolved").get()
    assert event.payload["outcome"] == "refund_required" and event.payload["refund_amount"] == "128.40"
    discrepancy = Discrepancy.objects.get(run=run)
    assert discrepancy.resolution == Resolution.REFUND_AT_CHANNEL and ref in discrepancy.resolution_note
    assert JournalLine.objects.count() == entries_before  # the platform never held that money
    assert Payment.objects.filter(status=PaymentStatus.POSTED).count() == 1
    assert ref in sms_outbox[-1].body and "128.40" in sms_outbox[-1].body

    # Until the partner's refund shows, another run changes nothing.
    assert tasks.resolve_disputed_debits() == {"refund_pending": 1}
    assert OutboxEvent.objects.filter(type="dispute.resolved").count() == 1

    # Its next statement carries the refund of ACME-T9: matched to the dispute, which is resolved.
    day = timezone.localdate() - datetime.timedelta(days=1)
    refund_run = recon.reconcile_file(
        channel_code="PARTNER:ACME",
        business_date=day,
        data=partner_refund_statement(day, "ACME-RF9", "ACME-T9", "128.40"),
        file_name="r",
    )
    refund_line = Discrepancy.objects.get(run=refund_run)
    assert refund_line.klass == MatchClass.MISSING_PLATFORM and refund_line.status != "resolved"
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.resolve_disputed_debits() == {"refunded": 1}
    body = api.get(f"/api/v1/partner/disputes/{ref}").json()
    assert (body["status"], body["outcome"], body["refund_state"]) == ("resolved", "refunded", "refunded")
    assert body["refund_ref"] == "ACME-RF9"
    refund_line.refresh_from_db()
    assert refund_line.status == "resolved" and refund_line.resolution == Resolution.REFUND_AT_CHANNEL
    assert ref in sms_outbox[-1].body and "ACME-RF9" in sms_outbox[-1].body
    assert tasks.resolve_disputed_debits() == {}


def test_a_refund_line_of_another_amount_does_not_close_it(api, bill, django_capture_on_commit_callbacks):
    ref, _ = refund_pending_at_the_partner(api, bill, django_capture_on_commit_callbacks)
    day = timezone.localdate() - datetime.timedelta(days=1)
    recon.reconcile_file(
        channel_code="PARTNER:ACME",
        business_date=day,
        data=partner_refund_statement(day, "ACME-RF9", "ACME-T9", "28.40"),
        file_name="r",
    )
    assert tasks.resolve_disputed_debits() == {"refund_pending": 1}
    assert Dispute.objects.get(ref=ref).refund_state == "pending"


def test_the_partner_closes_a_pending_refund_only_with_its_refund_reference(
    api, bill, django_capture_on_commit_callbacks
):
    ref, _ = refund_pending_at_the_partner(api, bill, django_capture_on_commit_callbacks)
    response = api.post(f"/api/v1/partner/disputes/{ref}/close", {"note": "done"})
    assert response.status_code == 409 and error_code(response) == "dispute_refund_ref_required"
    assert Dispute.objects.get(ref=ref).status == "open"
    response = api.post(f"/api/v1/partner/disputes/{ref}/close", {"refund_ref": "ACME-RF9"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["outcome"], body["refund_state"], body["refund_ref"]) == (
        "closed",
        "refunded",
        "refunded",
        "ACME-RF9",
    )
    assert tasks.resolve_disputed_debits() == {}


def test_a_line_of_another_amount_or_partner_is_not_taken_for_the_debit(api, bill, beta):
    raise_debit(api)
    reconcile_partner_day([("ACME-T9", "WATER01", "31005678", "128.00")])
    reconcile_partner_day([("ACME-T9", "WATER01", "31005678", "128.40")], code="BETA")
    assert tasks.resolve_disputed_debits() == {"waiting": 1}
    assert Payment.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_workers_settle_the_same_debit_once(api, bill):
    from reconciliation import services

    # The statement first (a finished run settles the debits disputed by then: none yet), then the dispute.
    reconcile_partner_day([("ACME-T9", "WATER01", "31005678", "128.40")])
    ref = raise_debit(api)
    dispute_id = Dispute.objects.get(ref=ref).pk
    barrier = threading.Barrier(2)
    results, errors = [], []

    def work():
        try:
            barrier.wait()
            results.append(services.resolve_disputed_debit(dispute_id))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == ["done", "posted"]
    assert Payment.objects.count() == 1
    assert AuditEvent.objects.filter(action="dispute.resolved").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_finished_run_settles_a_debit_disputed_before_it_at_once(api, bill):
    ref = raise_debit(api)
    reconcile_partner_day([("ACME-T9", "WATER01", "31005678", "128.40")])  # commits: its hook runs
    dispute = Dispute.objects.get(ref=ref)
    assert dispute.status == "resolved" and dispute.resolution_payment.channel_ref == "ACME-T9"


def test_a_debit_whose_payment_was_made_after_all_is_answered_with_it(api, bill, acme_payment):
    ref = raise_debit(api, channel_ref="ACME-T1")  # acme_payment's own reference and amount
    assert tasks.resolve_disputed_debits() == {"found": 1}
    dispute = Dispute.objects.get(ref=ref)
    assert dispute.outcome == "payment_found" and dispute.resolution_payment == acme_payment
    assert Payment.objects.count() == 1
