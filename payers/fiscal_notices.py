"""The payer hears of their fiscal e-receipt (issue 17, item 5): when billing.fiscal records one issued, it
writes a `fiscal_receipt.issued` outbox event; this consumer of the outbox turns it into an e-mail (with the
e-receipt page's link, where its file is) and, to a verified mobile, a text message, in the payer's
language. Queued after the relay's commit, once per event (the relay marks it published in the same
transaction); a payer the platform has no address of (a guest, cash at the counter) gets the receipt on
the page or printed at the counter instead."""

from collections.abc import Sequence

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from billing.fiscal_models import FiscalReceipt
from billing.models import OutboxEvent
from billing.outbox import EventType
from payers import selectors


def notices_for_events(events: Sequence[OutboxEvent]) -> int:
    ids = [int(e.aggregate_id) for e in events if e.type == EventType.FISCAL_RECEIPT_ISSUED]
    if not ids:
        return 0
    receipts = (
        FiscalReceipt.objects.filter(pk__in=ids, payment__payer__isnull=False)
        .select_related("payment__payer__user", "payment__biller")
        .defer("pdf")
    )
    messages = [message for receipt in receipts if (message := _message(receipt)) is not None]
    if messages:
        transaction.on_commit(lambda: _send(messages))
    return len(messages)


def _message(receipt: FiscalReceipt) -> tuple[str, str, str, str] | None:
    payer = receipt.payment.payer
    email = payer.email or getattr(payer.user, "email", "")
    mobile = payer.mobile if payer.mobile_verified else ""
    if not email and not mobile:
        return None
    token = selectors.receipt_token(receipt.payment)
    site = settings.SITE_URL.rstrip("/")
    with translation.override(payer.language or settings.LANGUAGE_CODE):
        context = {
            "biller": receipt.payment.biller.display_name,
            "receipt": receipt,
            "amount": receipt.payment.amount,
            "receipt_url": site + reverse("payers:receipt", args=[token]),
        }
        subject = render_to_string("emails/payers-fiscal-receipt-subject.txt", context).strip()
        body = render_to_string("emails/payers-fiscal-receipt-body.txt", context)
    return subject, body, email, mobile


def _send(messages: list[tuple[str, str, str, str]]) -> None:
    from payers import tasks

    for subject, body, email, mobile in messages:
        if email:
            tasks.send_email.delay(subject, body, [email])
        if mobile:
            tasks.send_text_message.delay(mobile, subject)
