import datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from billing.choices import Channel
from billing.exceptions import TransitionNotAllowed
from billing.models import AuditEvent
from branches import services
from branches.choices import BranchStatus, ClosureStatus
from branches.exceptions import CounterError
from branches.models import BranchStatusChange, CoverageAlert, CoverageThreshold, OutletNotice
from tests.factories import BranchFactory, PayerFactory
from tests.support import log_in, pay

pytestmark = pytest.mark.django_db


def in_days(days):
    return timezone.localdate() + datetime.timedelta(days=days)


class TestStatusChanges:
    def test_a_suspension_is_recorded_with_its_reason_and_dates_and_audited(self, branch_x, admin_user):
        change = services.change_branch_status(
            branch=branch_x,
            to_status=BranchStatus.SUSPENDED,
            actor=admin_user,
            reason="装修",
            until=in_days(14),
        )
        branch_x.refresh_from_db()
        assert (branch_x.status, branch_x.status_reason, branch_x.status_until) == (
            "suspended",
            "装修",
            in_days(14),
        )
        assert branch_x.status_since == timezone.localdate()
        assert (change.from_status, change.to_status, change.actor) == ("open", "suspended", admin_user)
        assert AuditEvent.objects.filter(action="branch.status_changed", target_id=str(branch_x.pk)).exists()

    def test_a_closed_branch_never_reopens(self, branch_x, admin_user):
        services.change_branch_status(
            branch=branch_x, to_status=BranchStatus.CLOSED, actor=admin_user, reason="撤点"
        )
        with pytest.raises(TransitionNotAllowed):
            services.change_branch_status(branch=branch_x, to_status=BranchStatus.OPEN, actor=admin_user)

    def test_a_suspension_needs_a_reason(self, branch_x, admin_user):
        with pytest.raises(CounterError) as refused:
            services.change_branch_status(branch=branch_x, to_status=BranchStatus.SUSPENDED, actor=admin_user)
        assert refused.value.code == "status_reason_required"
        assert not BranchStatusChange.objects.exists()


class TestPlannedClosures:
    def test_a_planned_closure_needs_notice(self, branch_x, admin_user, settings):
        settings.BRANCH_CLOSURE_NOTICE_DAYS = 7
        with pytest.raises(CounterError) as refused:
            services.plan_closure(
                branch=branch_x,
                to_status=BranchStatus.CLOSED,
                starts_on=in_days(3),
                reason="撤点",
                actor=admin_user,
            )
        assert refused.value.code == "closure_needs_notice"
        assert in_days(7).isoformat() in refused.value.message

    def test_a_planned_suspension_takes_effect_on_its_day_and_ends_on_its_reopening_day(
        self, branch_x, admin_user
    ):
        closure = services.plan_closure(
            branch=branch_x,
            to_status=BranchStatus.SUSPENDED,
            starts_on=in_days(10),
            ends_on=in_days(20),
            reason="装修",
            actor=admin_user,
        )
        assert services.apply_due_closures(today=in_days(9)) == {"started": 0, "ended": 0}
        assert services.apply_due_closures(today=in_days(10)) == {"started": 1, "ended": 0}
        branch_x.refresh_from_db()
        assert branch_x.status == BranchStatus.SUSPENDED and branch_x.status_until == in_days(20)
        assert services.apply_due_closures(today=in_days(10)) == {"started": 0, "ended": 0}
        assert services.apply_due_closures(today=in_days(20)) == {"started": 0, "ended": 1}
        branch_x.refresh_from_db()
        closure.refresh_from_db()
        assert branch_x.status == BranchStatus.OPEN and closure.status == ClosureStatus.ENDED


class TestTellingPayers:
    def test_payers_who_paid_at_the_outlet_recently_are_emailed_once(
        self, branch_x, bill, admin_user, django_capture_on_commit_callbacks
    ):
        payer = PayerFactory(email="li@example.com")
        PayerFactory(email="")  # no address: not told
        pay(bill.account, "86.50", key="p1", channel=Channel.COUNTER, branch=branch_x, payer=payer)
        BranchFactory(
            code="BR-ALT", name="备选网点", latitude=Decimal("30.2001"), longitude=Decimal("120.2001")
        )
        with django_capture_on_commit_callbacks(execute=True):
            change = services.change_branch_status(
                branch=branch_x,
                to_status=BranchStatus.SUSPENDED,
                actor=admin_user,
                reason="装修",
                until=in_days(5),
            )
        notices = [m for m in mail.outbox if m.to == ["li@example.com"]]
        assert len(notices) == 1
        assert "X支局" in notices[0].subject
        assert "备选网点" in notices[0].body and in_days(5).isoformat() in notices[0].body
        from branches.notifications import notify_recent_payers

        assert notify_recent_payers(status_change_id=change.pk) == 0  # run twice: nobody told twice
        assert OutletNotice.objects.count() == 1


class TestCoverage:
    def test_an_alert_is_raised_and_emailed_when_a_district_drops_below_its_threshold(
        self, branch_x, branch_y, water, admin_user, django_capture_on_commit_callbacks
    ):
        CoverageThreshold.objects.create(district="滨江区", min_open_outlets=2)
        with django_capture_on_commit_callbacks(execute=True):
            services.change_branch_status(
                branch=branch_x, to_status=BranchStatus.SUSPENDED, actor=admin_user, reason="装修"
            )
        alert = CoverageAlert.objects.get(biller=water)
        assert (alert.district, alert.open_outlets, alert.threshold) == ("滨江区", 1, 2)
        assert alert.emailed_at is not None
        assert any(admin_user.email in m.to and "滨江区" in m.subject for m in mail.outbox)
        with django_capture_on_commit_callbacks(execute=True):
            services.change_branch_status(branch=branch_x, to_status=BranchStatus.OPEN, actor=admin_user)
        alert.refresh_from_db()
        assert alert.resolved_at is not None

    def test_coverage_counts_open_outlets_per_district_and_biller(self, branch_x, branch_y, water):
        from billing.models import BillerCategory
        from branches.selectors import cash_coverage

        branch_y.takes_all_billers = False
        branch_y.save()
        branch_y.cash_categories.set([BillerCategory.objects.get(code="electricity")])
        _billers, rows = cash_coverage()
        row = next(r for r in rows if r.district == "滨江区")
        assert row.open_outlets == 2
        assert row.by_biller[water.pk] == 1


def test_a_citizen_whose_account_was_paid_in_cash_there_is_told_too(branch_x, bill, admin_user, account):
    from branches.selectors import recent_payers_at

    citizen = PayerFactory(email="wang@example.com")
    # The citizen paid an earlier bill of the same account online; this month's was paid in cash at X.
    from tests.factories import BillFactory

    BillFactory(account=account, period="2026-09", amount_due=Decimal("10.00"))
    pay(bill.account, "10.00", key="o1", periods=["2026-09"], payer=citizen)
    pay(bill.account, "86.50", key="c1", channel=Channel.COUNTER, periods=["2026-10"], branch=branch_x)
    assert list(recent_payers_at(branch_x, days=90)) == [citizen]


def test_payers_are_told_of_a_planned_closure_when_it_is_announced(
    branch_x, bill, admin_user, django_capture_on_commit_callbacks
):
    payer = PayerFactory(email="zhao@example.com")
    pay(bill.account, "86.50", key="p2", channel=Channel.COUNTER, branch=branch_x, payer=payer)
    starts = in_days(21)
    with django_capture_on_commit_callbacks(execute=True):
        services.plan_closure(
            branch=branch_x,
            to_status=BranchStatus.CLOSED,
            starts_on=starts,
            reason="网点撤并",
            actor=admin_user,
        )
    [notice] = [m for m in mail.outbox if m.to == ["zhao@example.com"]]
    assert starts.isoformat() in notice.subject and "网点撤并" in notice.body


def test_a_supervisor_sees_only_the_status_history_and_closures_of_the_branch(
    client, sam, branch_x, branch_y, admin_user
):
    from django.urls import reverse

    services.change_branch_status(
        branch=branch_x, to_status=BranchStatus.SUSPENDED, actor=admin_user, reason="甲"
    )
    services.change_branch_status(
        branch=branch_y, to_status=BranchStatus.SUSPENDED, actor=admin_user, reason="乙"
    )
    services.plan_closure(
        branch=branch_y, to_status=BranchStatus.CLOSED, starts_on=in_days(30), reason="撤点", actor=admin_user
    )
    log_in(client, sam)
    changes = client.get(reverse("admin:branches_branchstatuschange_changelist")).context["cl"].result_list
    assert [c.branch.code for c in changes] == ["BR-X"]
    closures = client.get(reverse("admin:branches_plannedclosure_changelist")).context["cl"].result_list
    assert list(closures) == []
    assert client.get(reverse("admin:branches_coveragealert_changelist")).status_code == 403
