"""The discrepancy workbench: each action keeps the ledger balanced, is audited, and only
reconciliation staff may act; a write-off needs a second person."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.choices import PaymentStatus
from billing.models import AuditEvent, JournalLine
from billing.money import ZERO
from reconciliation import services
from reconciliation.choices import DiscrepancyStatus, MatchClass, Resolution, RunStatus
from reconciliation.exceptions import ReconciliationError
from reconciliation.models import Discrepancy
from tests.factories import BillFactory, CustomerAccountFactory
from tests.reconciliation.conftest import CHANNEL, billpay_csv
from tests.support import log_in

pytestmark = pytest.mark.django_db


def ledger_total():
    return sum(JournalLine.objects.values_list("amount", flat=True), ZERO)


@pytest.fixture
def found(shop, today):
    absent = shop.pay("70.00")
    short = shop.pay("50.00")
    account = CustomerAccountFactory(biller=shop.biller, account_no="55550001")
    BillFactory(account=account, amount_due=Decimal("88.00"))
    lines = [("PAYMENT", short.channel_ref, "49.00", "", None), ("PAYMENT", "GHOST-1", "88.00", "", None)]
    run = services.reconcile_file(
        channel_code=CHANNEL, business_date=today, data=billpay_csv(today, lines), file_name="s"
    )
    by_class = {d.klass: d for d in Discrepancy.objects.filter(run=run)}
    return {"absent": absent, "short": short, "account": account, **by_class}


def test_posting_the_missing_payment_resolves_it(found, officer):
    discrepancy = services.resolve_discrepancy(
        discrepancy=found[MatchClass.MISSING_PLATFORM],
        action=Resolution.POST_MISSING,
        note="channel took it",
        actor=officer,
        biller_code="WATER01",
        account_no="55550001",
    )
    assert discrepancy.status == DiscrepancyStatus.RESOLVED
    assert discrepancy.resolution_payment.amount == Decimal("88.00")
    assert discrepancy.resolution_payment.channel_ref == "GHOST-1"
    assert ledger_total() == ZERO
    assert AuditEvent.objects.filter(action="discrepancy.resolved", target_id=str(discrepancy.pk)).exists()


def test_reversing_ours_resolves_a_payment_the_channel_never_had(found, officer):
    discrepancy = services.resolve_discrepancy(
        discrepancy=found[MatchClass.MISSING_CHANNEL],
        action=Resolution.REVERSE_OURS,
        note="never reached",
        actor=officer,
    )
    found["absent"].refresh_from_db()
    assert found["absent"].status == PaymentStatus.REVERSED
    assert discrepancy.resolution_entry.lines.count() == 2
    assert ledger_total() == ZERO


def test_a_write_off_needs_a_second_person(found, officer, second_officer):
    discrepancy = found[MatchClass.AMOUNT_MISMATCH]
    services.resolve_discrepancy(
        discrepancy=discrepancy, action=Resolution.WRITE_OFF, note="1 yuan short", actor=officer
    )
    discrepancy.refresh_from_db()
    assert discrepancy.status == DiscrepancyStatus.AWAITING_APPROVAL
    with pytest.raises(ReconciliationError) as caught:
        services.approve_write_off(discrepancy=discrepancy, actor=officer)
    assert caught.value.code == "write_off_second_person"
    services.approve_write_off(discrepancy=discrepancy, actor=second_officer, note="ok")
    discrepancy.refresh_from_db()
    assert discrepancy.status == DiscrepancyStatus.RESOLVED
    amounts = sorted(discrepancy.resolution_entry.lines.values_list("amount", flat=True))
    assert amounts == [Decimal("-1.00"), Decimal("1.00")]
    assert ledger_total() == ZERO


def test_an_action_that_does_not_fit_the_class_is_refused(found, officer):
    with pytest.raises(ReconciliationError) as caught:
        services.resolve_discrepancy(
            discrepancy=found[MatchClass.MISSING_CHANNEL],
            action=Resolution.POST_MISSING,
            note="x",
            actor=officer,
        )
    assert caught.value.code == "not_resolvable"
    assert Discrepancy.objects.get(pk=found[MatchClass.MISSING_CHANNEL].pk).status == DiscrepancyStatus.OPEN


def test_a_note_is_required(found, officer):
    with pytest.raises(ReconciliationError):
        services.resolve_discrepancy(
            discrepancy=found[MatchClass.MISSING_CHANNEL],
            action=Resolution.REVERSE_OURS,
            note=" ",
            actor=officer,
        )


def test_an_auditor_may_read_but_not_act(found, auditor, client):
    with pytest.raises(ReconciliationError) as caught:
        services.assign_discrepancy(
            discrepancy=found[MatchClass.MISSING_CHANNEL], assignee=auditor, actor=auditor
        )
    assert caught.value.code == "not_reconciliation_staff"
    log_in(client, auditor)
    pk = found[MatchClass.MISSING_CHANNEL].pk
    assert client.get(reverse("admin:reconciliation_discrepancy_change", args=[pk])).status_code == 200
    assert client.get(reverse("admin:reconciliation_discrepancy_resolve", args=[pk])).status_code == 403


def test_a_biller_operator_sees_no_discrepancies(found, operator, client):
    log_in(client, operator)
    assert client.get(reverse("admin:reconciliation_discrepancy_changelist")).status_code == 403


def test_the_officer_resolves_through_the_admin(found, officer, client):
    log_in(client, officer)
    pk = found[MatchClass.MISSING_CHANNEL].pk
    listing = client.get(
        reverse("admin:reconciliation_discrepancy_changelist"), {"klass__exact": "missing_channel"}
    )
    assert listing.status_code == 200 and len(listing.context["cl"].result_list) == 1
    response = client.post(
        reverse("admin:reconciliation_discrepancy_resolve", args=[pk]),
        {"action": Resolution.REVERSE_OURS, "note": "never reached the gateway"},
    )
    assert response.status_code == 302
    assert Discrepancy.objects.get(pk=pk).status == DiscrepancyStatus.RESOLVED
    page = client.get(reverse("admin:reconciliation_discrepancy_change", args=[pk]))
    assert "discrepancy.resolved" in page.text


def test_assign_to_me_from_the_list(found, officer, client):
    log_in(client, officer)
    pk = found[MatchClass.MISSING_CHANNEL].pk
    client.post(
        reverse("admin:reconciliation_discrepancy_changelist"),
        {"action": "assign_to_me", "_selected_action": [pk]},
    )
    discrepancy = Discrepancy.objects.get(pk=pk)
    assert discrepancy.status == DiscrepancyStatus.ASSIGNED and discrepancy.assignee == officer


def test_the_discrepancy_list_does_not_query_per_row(found, officer, client, shop, today):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    log_in(client, officer)
    url = reverse("admin:reconciliation_discrepancy_changelist")
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    # More discrepancies from the next day's statement (one statement per channel and day).
    tomorrow = today + datetime.timedelta(days=1)
    extra = billpay_csv(tomorrow, [("PAYMENT", f"GHOST-{n}", "1.00", "", None) for n in range(2, 12)])
    services.reconcile_file(channel_code=CHANNEL, business_date=tomorrow, data=extra, file_name="more")
    assert Discrepancy.objects.count() > 10
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few)


def test_the_admin_lists_link_to_the_report_and_the_imports(officer, client, db):
    log_in(client, officer)
    runs = client.get(reverse("admin:reconciliation_reconciliationrun_changelist")).text
    assert reverse("admin:reconciliation_report") in runs
    statements = client.get(reverse("admin:reconciliation_statementfile_changelist")).text
    assert reverse("admin:reconciliation_statementfile_upload") in statements


def test_a_write_off_is_approved_through_the_admin_by_a_second_person(found, officer, second_officer, client):
    discrepancy = found[MatchClass.AMOUNT_MISMATCH]
    services.resolve_discrepancy(
        discrepancy=discrepancy, action=Resolution.WRITE_OFF, note="1 yuan short", actor=officer
    )
    url = reverse("admin:reconciliation_discrepancy_approve", args=[discrepancy.pk])
    log_in(client, officer)
    refused = client.post(url, {"decision": "approve", "note": "mine"})
    assert refused.status_code == 200 and refused.context["form"].non_field_errors()
    assert Discrepancy.objects.get(pk=discrepancy.pk).status == DiscrepancyStatus.AWAITING_APPROVAL
    log_in(client, second_officer)
    approved = client.post(url, {"decision": "approve", "note": "ok"})
    assert approved.status_code == 302
    assert approved.url == reverse("admin:reconciliation_discrepancy_change", args=[discrepancy.pk])
    assert Discrepancy.objects.get(pk=discrepancy.pk).status == DiscrepancyStatus.RESOLVED
    assert ledger_total() == ZERO


def test_an_imported_statement_is_reconciled_from_the_admin(shop, today, officer, auditor, client):
    payment = shop.pay("70.00")
    data = billpay_csv(today, [("PAYMENT", payment.channel_ref, "70.00", "", None)])
    imported = services.import_statement(channel_code=CHANNEL, business_date=today, data=data, file_name="s")
    changelist = reverse("admin:reconciliation_reconciliationrun_changelist")
    log_in(client, auditor)  # auditors read: the action is not theirs
    client.post(changelist, {"action": "run_now", "_selected_action": [imported.run.pk]})
    imported.run.refresh_from_db()
    assert imported.run.status == RunStatus.PENDING

    log_in(client, officer)
    response = client.post(changelist, {"action": "run_now", "_selected_action": [imported.run.pk]})

    assert response.status_code == 302
    imported.run.refresh_from_db()
    assert imported.run.status == RunStatus.DONE and imported.run.counts[MatchClass.MATCHED]["count"] == 1
