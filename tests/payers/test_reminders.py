import datetime

import pytest
from django.core import mail

from payers import reminders, sms
from payers.models import BoundAccount, Payer, ReminderSent

pytestmark = pytest.mark.django_db


@pytest.fixture
def bound(water, django_user_model, settings):
    settings.SMS_BACKEND = "payers.sms.LocmemSMSBackend"
    sms.outbox.clear()
    user = django_user_model.objects.create_user("xm", "xm@example.com", "x")
    Payer.objects.create(user=user, mobile="+8613800138000", mobile_verified=True)
    return BoundAccount.objects.create(user=user, account=water["account"], label="家里水费")


def test_due_soon_and_overdue_bills_are_reminded_by_email_and_sms(bound, django_capture_on_commit_callbacks):
    # 2026-09 is due 2026-10-20 (overdue on 10-25), 2026-10 is due 2026-11-20 (not yet due soon)
    with django_capture_on_commit_callbacks(execute=True):
        counts = reminders.send_due_reminders(today=datetime.date(2026, 10, 25))
    assert counts[reminders.OVERDUE] == 1 and counts[reminders.DUE_SOON] == 0
    assert len(mail.outbox) == 1 and "家里水费" in mail.outbox[0].subject
    assert sms.outbox[0].to == "+8613800138000"


def test_running_twice_reminds_once(bound, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        reminders.send_due_reminders(today=datetime.date(2026, 11, 18))
        counts = reminders.send_due_reminders(today=datetime.date(2026, 11, 18))
    assert counts["skipped"] == 2
    assert ReminderSent.objects.count() == 2
    assert len(mail.outbox) == 2  # one overdue (2026-09), one due soon (2026-10), once each


def test_an_account_with_reminders_off_gets_none(bound, django_capture_on_commit_callbacks):
    bound.reminders = False
    bound.save()
    with django_capture_on_commit_callbacks(execute=True):
        reminders.send_due_reminders(today=datetime.date(2026, 11, 18))
    assert mail.outbox == [] and not ReminderSent.objects.exists()


def test_the_beat_schedule_runs_the_reminders(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "payers.tasks.send_reminders" in tasks


@pytest.mark.parametrize(
    ("language", "overdue_line", "foreign"),
    [
        ("en", "It is overdue: a late fee may be added.", "逾期"),
        ("zh-hans", "该账单已逾期，可能产生滞纳金。", "overdue"),
    ],
)
def test_a_reminder_is_written_wholly_in_the_citizens_own_language(
    bound, django_capture_on_commit_callbacks, language, overdue_line, foreign
):
    Payer.objects.filter(user=bound.user).update(language=language)
    with django_capture_on_commit_callbacks(execute=True):
        reminders.send_due_reminders(today=datetime.date(2026, 10, 25))
    [message] = mail.outbox
    assert overdue_line in message.body and foreign not in message.body + message.subject
    assert sms.outbox[0].body == message.subject


def test_the_portal_keeps_the_language_a_citizen_uses_on_their_profile(bound, client, settings):
    client.force_login(bound.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert client.get("/me/accounts/").status_code == 200
    assert Payer.objects.get(user=bound.user).language == "en"
