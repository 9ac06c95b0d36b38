"""Complaints: raised from a receipt number on a public form; resolving the discrepancy resolves the
complaint and tells the citizen."""

import re

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import translation

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


def test_a_complaint_made_in_english_is_answered_in_english(shop, client, django_capture_on_commit_callbacks):
    payment = shop.pay("60.00")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the citizen switched the portal to English
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("complaint_new"),
            {
                "receipt_no": payment.receipt_no,
                "reason": ComplaintReason.PAID_STILL_DUE,
                "contact_name": "Zhang San",
                "contact_email": "z@example.com",
            },
        )
    complaint = Complaint.objects.get()
    assert complaint.language == "en"
    assert mail.outbox[0].subject == f"We have your complaint C{complaint.pk}"


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


CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize(
    ("language", "name", "subject", "told"),
    [
        (
            "zh-hans",
            "张三",
            "您的投诉 C{pk} 已办结",
            "您的缴费差异已查明并更正：冲正平台付款。refunded to you",
        ),
        (
            "en",
            "Zhang San",
            "Your complaint C{pk} is resolved",
            "corrected: Reverse our payment. refunded to you",
        ),
    ],
)
def test_resolving_the_discrepancy_resolves_the_complaint_and_tells_the_citizen_in_their_language(
    shop, today, officer, django_capture_on_commit_callbacks, language, name, subject, told
):
    payment = shop.pay("60.00")
    complaint = services.raise_complaint(
        receipt_no=payment.receipt_no,
        reason=ComplaintReason.WRONG_AMOUNT,
        contact_name=name,
        contact_email="z@example.com",
        language=language,
    )
    run = services.reconcile_file(
        channel_code=CHANNEL, business_date=today, data=billpay_csv(today, []), file_name="s"
    )
    discrepancy = Discrepancy.objects.get(run=run, klass=MatchClass.MISSING_CHANNEL)
    assert list(complaint.discrepancies.all()) == [discrepancy]
    mail.outbox.clear()
    with (
        django_capture_on_commit_callbacks(execute=True),
        translation.override("en" if language != "en" else "zh-hans"),
    ):
        services.resolve_discrepancy(
            discrepancy=discrepancy, action=Resolution.REVERSE_OURS, note="refunded to you", actor=officer
        )
    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.RESOLVED and complaint.outcome == "refunded to you"
    [message] = mail.outbox
    assert message.subject == subject.format(pk=complaint.pk)
    assert told in message.body
    if language == "en":  # not a word of the other language, whatever the officer's screen was in
        assert not CJK.search(message.subject + message.body)
    else:
        assert "Dear" not in message.body and "Reverse" not in message.body


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
