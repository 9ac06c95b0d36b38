"""Due-soon and overdue reminders for the accounts citizens keep in "My accounts", by e-mail and SMS.

Idempotent: a `ReminderSent` row (unique per citizen, bill and kind) is written in the same transaction that
schedules the sending, so running the beat task twice, or on two workers, never reminds twice.
"""

import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from billing.choices import PAYABLE_BILL_STATUSES
from billing.models import Bill
from payers.models import BoundAccount, Payer, ReminderSent

DUE_SOON = "due_soon"
OVERDUE = "overdue"


def send_due_reminders(*, today: datetime.date | None = None) -> dict:
    today = today or timezone.localdate()
    horizon = today + datetime.timedelta(days=settings.REMINDER_DUE_SOON_DAYS)
    bound = list(BoundAccount.objects.filter(reminders=True).select_related("user", "account__biller"))
    by_account: dict[int, list[BoundAccount]] = {}
    for item in bound:
        by_account.setdefault(item.account_id, []).append(item)
    bills = (
        Bill.objects.filter(
            account_id__in=list(by_account), status__in=PAYABLE_BILL_STATUSES, due_date__lte=horizon
        )
        .select_related("biller")
        .order_by("due_date")
    )
    citizens = Payer.objects.filter(user_id__in={item.user_id for item in bound})
    mobiles = dict(citizens.filter(mobile_verified=True).values_list("user_id", "mobile"))
    languages = dict(citizens.values_list("user_id", "language"))
    counts = {DUE_SOON: 0, OVERDUE: 0, "skipped": 0}
    for bill in bills:
        kind = OVERDUE if bill.due_date < today else DUE_SOON
        for item in by_account[bill.account_id]:
            channels = ["email"] if item.user.email else []
            if item.user_id in mobiles:
                channels.append("sms")
            try:
                with transaction.atomic():
                    ReminderSent.objects.create(
                        user=item.user, bill=bill, kind=kind, channels=",".join(channels)
                    )
                    transaction.on_commit(
                        lambda item=item, bill=bill, kind=kind: _deliver(
                            item,
                            bill,
                            kind,
                            mobiles.get(item.user_id),
                            languages.get(item.user_id, settings.LANGUAGE_CODE),
                        )
                    )
            except IntegrityError:
                counts["skipped"] += 1
                continue
            counts[kind] += 1
    return counts


def _deliver(item: BoundAccount, bill: Bill, kind: str, mobile: str | None, language: str) -> None:
    """One reminder, written wholly in the citizen's own language (their profile's): the biller's name too."""
    with translation.override(language):
        context = {
            "label": item.label,
            "biller": item.account.biller.display_name,
            "account_no": item.account.account_no,
            "period": bill.period,
            "beneficiary": bill.masked_beneficiary,
            "amount": bill.outstanding,
            "holds_until": bill.quote.holds_until,
            "due_date": bill.due_date,
            "overdue": kind == OVERDUE,
            "portal_url": settings.SITE_URL,
        }
        subject = render_to_string("emails/payers-reminder-subject.txt", context).strip()
        body = render_to_string("emails/payers-reminder-body.txt", context)
        from payers import tasks

        if item.user.email:
            tasks.send_email.delay(subject, body, [item.user.email])
        if mobile:
            tasks.send_text_message.delay(mobile, subject)
