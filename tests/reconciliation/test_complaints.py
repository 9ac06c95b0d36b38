"""Complaints: raised from a receipt number on a public form; resolving the discrepancy resolves the
complaint and tells the citizen."""

import pytest
from django.core import mail
from django.urls import reverse

from reconciliation import services
from reconciliation.choices import ComplaintReason, ComplaintStatus, MatchClass, Resolution
from reconciliation.models import Complaint, Discrepancy
from tests.reconciliation.conftest import CHANNEL, billpay_csv
from tests.support import log_in

pytestmark = pytest.mark.django_db


def test_a_citizen_raises_a_complaint_from_the_receipt(shop, client, django_capture_on_commit_callbacks):
    payment = shop.pay("60.00")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("complaint_new"),
            {
                "receipt_no": payment.receipt_no,
                "reason": ComplaintReason.PAID_STILL_DUE,
                "contact_name": "张三",
                "contact_email": "z@example.com",
            },
        )
    complaint = Complaint.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "complaint_status", args=[complaint.token]
    )
    assert complaint.status == ComplaintStatus.LOGGED and complaint.payment == payment
    assert len(mail.outbox) == 1 and "C" in mail.outbox[0].subject
    page = client.get(response["Location"])
    assert payment.receipt_no in page.text


def test_an_unknown_receipt_is_refused_on_the_form(client, db):
    response = client.post(
        reverse("complaint_new"),
        {
            "receipt_no": "R20260101XXXXXXXXXXXXXXXX",
            "reason": ComplaintReason.PAID_TWICE,
            "contact_name": "张三",
            "contact_phone": "138",
        },
    )
    assert response.status_code == 200 and not Complaint.objects.exists()
    assert response.context["form"].errors["receipt_no"]


def test_resolving_the_discrepancy_resolves_the_complaint_and_tells_the_citizen(
    shop, today, officer, django_capture_on_commit_callbacks
):
    payment = shop.pay("60.00")
    complaint = services.raise_complaint(
        receipt_no=payment.receipt_no,
        reason=ComplaintReason.WRONG_AMOUNT,
        contact_name="张三",
        contact_email="z@example.com",
    )
    run = services.reconcile_file(
        channel_code=CHANNEL, business_date=today, data=billpay_csv(today, []), file_name="s"
    )
    discrepancy = Discrepancy.objects.get(run=run, klass=MatchClass.MISSING_CHANNEL)
    assert list(complaint.discrepancies.all()) == [discrepancy]
    with django_capture_on_commit_callbacks(execute=True):
        services.resolve_discrepancy(
            discrepancy=discrepancy, action=Resolution.REVERSE_OURS, note="refunded to you", actor=officer
        )
    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.RESOLVED and "refunded to you" in complaint.outcome
    assert any("resolved" in m.subject for m in mail.outbox)


def test_staff_see_the_clock_and_escalate(shop, officer, client):
    payment = shop.pay("60.00")
    complaint = services.raise_complaint(
        receipt_no=payment.receipt_no,
        reason=ComplaintReason.PAID_TWICE,
        contact_name="张三",
        contact_phone="13800000000",
    )
    log_in(client, officer)
    page = client.get(reverse("admin:reconciliation_complaint_change", args=[complaint.pk]))
    assert page.status_code == 200 and " h" in page.text
    client.post(
        reverse("admin:reconciliation_complaint_act", args=[complaint.pk]),
        {"action": "escalate", "note": "needs the bank"},
    )
    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.ESCALATED


def test_each_complaint_form_error_sits_under_its_own_field_and_is_tied_to_it(client, db):
    page = client.post(reverse("complaint_new"), {"contact_phone": "138"}).content.decode()

    def at(text: str) -> int:
        assert text in page, text
        return page.index(text)

    for field, error, following in [
        ("id_receipt_no", "id_receipt_no_error", "id_reason_0"),
        ("id_reason_0", "id_reason_error", "id_details"),
        ("id_contact_name", "id_contact_name_error", "id_contact_email"),
    ]:
        # the message comes after its own input and before the next field, where a reader looks for it
        assert at(f'id="{field}"') < at(f'id="{error}"') < at(f'id="{following}"'), field
    assert 'aria-describedby="id_receipt_no_error"' in page
    assert 'id="id_details_error"' not in page  # the optional field is not marked
