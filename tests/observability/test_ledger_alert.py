"""An unbalanced ledger raises an alert: an ERROR line, readiness degraded, a banner for platform admins in
the admin and a mail to the ops address; the next balanced check clears it. The check runs in beat."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from billing import roles
from billing.models import JournalLine
from billing.tasks import check_ledger_integrity
from tests.factories import BillFactory
from tests.observability.conftest import scrape
from tests.support import log_in, make_staff, pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def unbalanced_entry():
    """A posted payment whose entry gets a third line the ledger's triggers would refuse (they are switched
    off for this session only, as a bad hand-made fix in the database might)."""
    bill = BillFactory(amount_due=Decimal("30.00"))
    payment = pay(bill.account, "30.00", key="alert-1").payment
    entry = payment.journal_entries.get()
    first = entry.lines.first()
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            extra = JournalLine.objects.create(entry=entry, account=first.account, amount=Decimal("0.01"))
        finally:
            cursor.execute("SET session_replication_role = origin")
    return entry, extra


def test_the_ledger_check_runs_every_night_in_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["ledger-integrity-check"]
    assert entry["task"] == "billing.tasks.check_ledger_integrity"


def test_a_balanced_ledger_raises_nothing(client, mailoutbox):
    bill = BillFactory(amount_due=Decimal("30.00"))
    pay(bill.account, "30.00", key="alert-ok")
    assert check_ledger_integrity.apply().get()["balanced"] is True
    assert mailoutbox == []
    assert client.get("/healthz/ready").json()["alerts"] == {"status": "ok"}


@override_settings(OPS_ALERT_EMAILS=["ops@province.example"])
def test_an_unbalanced_ledger_raises_an_alert_everywhere(
    unbalanced_entry, client, mailoutbox, log_lines, django_user_model
):
    entry, extra = unbalanced_entry
    result = check_ledger_integrity.apply().get()
    assert result["balanced"] is False and result["unbalanced_entry_ids"] == [entry.pk]

    (error,) = [line for line in log_lines() if line["level"] == "error"]
    assert error["event"] == "ledger.unbalanced" and error["unbalanced_entry_ids"] == [entry.pk]
    assert error["trial_balance_total"] == "0.01"

    (mail,) = mailoutbox
    assert mail.to == ["ops@province.example"]
    assert "0.01" in mail.subject and str(entry.pk) in mail.body

    ready = client.get("/healthz/ready")
    assert ready.status_code == 503
    raised = ready.json()["alerts"]["raised"]["ledger_unbalanced"]
    assert raised["unbalanced_entry_ids"] == [entry.pk]

    assert scrape(client)[("billpay_alert", (("alert", "ledger_unbalanced"),))] == 1

    admin = make_staff(django_user_model, "alice", roles.PLATFORM_ADMIN)
    page = log_in(client, admin).get("/admin/")
    assert page.status_code == 200
    assert 'id="ops-alert-ledger"' in page.content.decode()
    client.logout()
    operator = make_staff(django_user_model, "bob", roles.BILLER_OPERATOR)
    page = log_in(client, operator).get("/admin/")
    assert page.status_code == 200
    assert 'id="ops-alert-ledger"' not in page.content.decode()

    # Put right (here: the bad line taken out again), the next check clears the alert.
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            JournalLine.objects.filter(pk=extra.pk).delete()
        finally:
            cursor.execute("SET session_replication_role = origin")
    assert check_ledger_integrity.apply().get()["balanced"] is True
    client.logout()
    assert client.get("/healthz/ready").json()["alerts"] == {"status": "ok"}
    assert 'id="ops-alert-ledger"' not in log_in(client, admin).get("/admin/").content.decode()
