"""The demo's closed day reconciles: every channel's statement selects the seeded payments, the planted
differences appear exactly as planned and nothing else, and the day can then be resolved and settled."""

import io
from collections import Counter

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing import roles
from billing.choices import Channel, PaymentStatus
from billing.models import Biller, Payment
from demo.data import ANCHOR_BILLER
from demo.reconciliation import CHANNELS, closed_day
from reconciliation import services
from reconciliation.choices import DiscrepancyStatus, LineKind, MatchClass, Resolution, RunStatus
from reconciliation.models import Discrepancy, MatchResult, ReconciliationRun, SettlementBatch
from tests.support import make_staff

M = MatchClass


@pytest.fixture
def demo_day(db):
    err = io.StringIO()
    call_command("seed_demo", "--accounts", "150", stdout=io.StringIO(), stderr=err)
    assert err.getvalue() == ""
    anchor = timezone.localdate(Biller.objects.get(code=ANCHOR_BILLER).created_at)
    return closed_day(anchor)


def resolve(discrepancy, officer, approver):
    """What an officer would do on the workbench for each class."""
    line = discrepancy.line
    if discrepancy.klass == M.MISSING_PLATFORM and line.biller_code and line.account_no:
        action = Resolution.POST_MISSING
    elif discrepancy.klass == M.MISSING_CHANNEL:
        action = Resolution.REVERSE_OURS
    elif discrepancy.klass == M.STATUS_MISMATCH:
        action = Resolution.RECORD_REFUND
    else:
        action = Resolution.WRITE_OFF
    assert action in services.allowed_resolutions(discrepancy), (discrepancy, action)
    services.resolve_discrepancy(discrepancy=discrepancy, action=action, note="演示日结", actor=officer)
    if action == Resolution.WRITE_OFF:
        services.approve_write_off(discrepancy=discrepancy, actor=approver)


def test_the_demo_closed_day_reconciles_exactly_as_planned_and_settles(demo_day, django_user_model):
    day = demo_day
    runs = list(ReconciliationRun.objects.filter(business_date=day, statement__isnull=False))
    assert {run.channel_code for run in runs} == {plan.code for plan in CHANNELS}
    assert {run.statement.format for run in runs} == {"billpay", "wechat", "alipay", "camt053"}
    assert {run.status for run in runs} == {RunStatus.PENDING}  # left for the new user to run

    for run in runs:
        services.run_reconciliation(run_id=run.pk)

    planned = Counter((plan.code, klass) for plan in CHANNELS for klass in plan.differences)
    found = Counter(Discrepancy.objects.filter(business_date=day).values_list("channel_code", "klass"))
    assert found == planned
    per_class = Counter(klass for _code, klass in planned.elements())
    assert set(per_class) == set(M.values) - {M.MATCHED} and min(per_class.values()) >= 2
    # Every online and partner payment of the day is in a statement's scope, and all but the planted
    # ones match.
    taken = Payment.objects.filter(business_date=day, channel__in=[Channel.ONLINE, Channel.PARTNER])
    in_scope = MatchResult.objects.filter(run__in=runs, payment__isnull=False, line__kind=LineKind.PAYMENT)
    in_scope = set(in_scope.values_list("payment_id", flat=True)) | set(
        MatchResult.objects.filter(run__in=runs, line__isnull=True).values_list("payment_id", flat=True)
    )
    assert in_scope == set(taken.values_list("pk", flat=True))
    unmatched_payments = sum(
        1
        for plan in CHANNELS
        for klass in plan.differences
        if klass in (M.MISSING_CHANNEL, M.AMOUNT_MISMATCH)
    )
    matched = MatchResult.objects.filter(run__in=runs, klass=M.MATCHED, line__kind=LineKind.PAYMENT)
    assert matched.count() == taken.count() - unmatched_payments

    officer = make_staff(django_user_model, "olga", roles.RECONCILIATION_OFFICER)
    approver = make_staff(django_user_model, "oscar", roles.RECONCILIATION_OFFICER)
    for discrepancy in Discrepancy.objects.filter(business_date=day).order_by("pk"):
        resolve(discrepancy, officer, approver)
    assert (
        not Discrepancy.objects.filter(business_date=day).exclude(status=DiscrepancyStatus.RESOLVED).exists()
    )

    services.settle_day(day=day, actor=officer)
    batches = SettlementBatch.objects.filter(business_date=day)
    assert batches.exists()
    settled = set(batches.values_list("items__payment_id", flat=True))
    kept = matched.filter(payment__status=PaymentStatus.POSTED)  # not given back on the workbench
    assert set(kept.values_list("payment_id", flat=True)) <= settled
    # The traffic police share their fines with the province (issue 17, item 4): the batch remits the
    # province's 30% to the provincial treasury, debited from its own payable account.
    traffic = batches.get(biller__code="BJ-TRAFFIC")
    [province] = traffic.shares.all()
    assert province.account_no == "270133010000000001" and province.amount > 0
    lines = dict(traffic.journal_entry.lines.values_list("account__code", "amount"))
    assert lines["PAYABLE:BJ-TRAFFIC:PROV"] == province.amount
    assert traffic.shared == province.amount
