"""Nightly work: statements dropped in the inbox are reconciled, yesterday is settled; the admin shows it."""

import datetime

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from reconciliation import tasks
from reconciliation.choices import RunStatus
from reconciliation.models import ReconciliationRun, SettlementBatch
from tests.reconciliation.conftest import CHANNEL, billpay_csv
from tests.support import log_in

pytestmark = pytest.mark.django_db


def test_the_beat_schedule_runs_reconciliation_then_settlement():
    tasks_by_name = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"reconciliation.tasks.nightly_reconcile", "reconciliation.tasks.nightly_settle"} <= tasks_by_name


def test_the_nightly_task_reconciles_the_inbox_and_settles(shop, today, tmp_path, settings, settle_on):
    payment = shop.pay("100.00")
    folder = tmp_path / "ONLINE_SANDBOX"
    folder.mkdir()
    (folder / f"{today:%Y-%m-%d}.csv").write_bytes(
        billpay_csv(today, [("PAYMENT", payment.channel_ref, "100.00", "", None)])
    )
    settings.RECON_INBOX_DIR = str(tmp_path)
    done = tasks.nightly_reconcile.delay(today.isoformat()).get()
    assert done == [{"channel": CHANNEL, "status": RunStatus.DONE, "counts": done[0]["counts"]}]
    assert done[0]["counts"]["matched"]["count"] == 1
    assert tasks.nightly_reconcile.delay(today.isoformat()).get()[0]["status"] == RunStatus.DONE
    assert ReconciliationRun.objects.count() == 1
    assert tasks.nightly_settle.delay(today.isoformat()).get()["days"] == [
        {"day": today.isoformat(), "refused": "day_not_over"}
    ]
    settled = tasks.nightly_settle.delay(as_of=settle_on.isoformat()).get()
    assert {"day": today.isoformat(), "status": RunStatus.DONE, "batches": 1} in settled["days"]
    assert settled["overdue"] == 0
    assert SettlementBatch.objects.get().net == payment.amount


def test_an_officer_uploads_a_statement_in_the_admin(shop, today, officer, client):
    payment = shop.pay("100.00")
    log_in(client, officer)
    data = billpay_csv(today, [("PAYMENT", payment.channel_ref, "100.00", "", None)])
    response = client.post(
        reverse("admin:reconciliation_statementfile_upload"),
        {
            "channel_code": CHANNEL,
            "business_date": today.isoformat(),
            "format": "",
            "file": SimpleUploadedFile("s.csv", data),
        },
    )
    run = ReconciliationRun.objects.get()
    assert response.status_code == 302 and run.status == RunStatus.DONE
    page = client.get(reverse("admin:reconciliation_reconciliationrun_changelist"))
    assert 'value="100"' in page.text


def test_a_refused_upload_says_which_line_is_wrong(shop, today, officer, client):
    log_in(client, officer)
    data = billpay_csv(today, [("PAYMENT", "X-1", "100.00", "", None)]).replace(b"\nT,1,", b"\nT,2,")
    response = client.post(
        reverse("admin:reconciliation_statementfile_upload"),
        {
            "channel_code": CHANNEL,
            "business_date": today.isoformat(),
            "file": SimpleUploadedFile("s.csv", data),
        },
    )
    assert response.status_code == 200 and not ReconciliationRun.objects.exists()
    assert "4" in str(response.context["form"].errors["file"])


def test_an_auditor_cannot_upload(auditor, client, today):
    log_in(client, auditor)
    assert client.get(reverse("admin:reconciliation_statementfile_upload")).status_code == 403


def test_the_settle_command_reports_yesterday_idempotently(db, capsys):
    from django.core.management import call_command

    day = datetime.date(2026, 1, 1)
    call_command("settle", "--date", day.isoformat())
    call_command("settle", "--date", day.isoformat())
    assert capsys.readouterr().out.count("0 batches") == 2
