"""The demo's disputes: the partner UNIONPAY's D11 (its customer debited, no payment here) is settled by
reconciliation as soon as the new user reconciles the closed day; the citizen's D12 waits for the biller."""

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing.models import Biller
from demo.data import ANCHOR_BILLER
from demo.reconciliation import closed_day
from disputes.models import Dispute
from reconciliation import services
from reconciliation.models import ReconciliationRun

pytestmark = pytest.mark.django_db


def test_the_demo_partners_d11_dispute_is_resolved_when_the_day_is_reconciled(
    django_capture_on_commit_callbacks,
):
    call_command("seed_demo", "--accounts", "150", stdout=io.StringIO(), stderr=io.StringIO())
    call_command(
        "seed_demo", "--accounts", "150", stdout=io.StringIO(), stderr=io.StringIO()
    )  # changes nothing
    debit = Dispute.objects.get(reason="D11")
    assert (debit.channel, debit.source, debit.status) == ("partner", "UNIONPAY", "open")
    citizen = Dispute.objects.get(reason="D12")
    assert (citizen.channel, citizen.answerer, citizen.status) == ("portal", "biller", "open")

    day = closed_day(timezone.localdate(Biller.objects.get(code=ANCHOR_BILLER).created_at))
    run = ReconciliationRun.objects.get(business_date=day, channel_code="PARTNER:UNIONPAY")
    with django_capture_on_commit_callbacks(execute=True):
        services.run_reconciliation(run_id=run.pk)

    debit.refresh_from_db()
    assert debit.status == "resolved" and debit.outcome == "payment_posted"
    assert debit.resolution_payment.channel_ref == debit.channel_ref
    assert debit.resolution_payment.amount == debit.amount
