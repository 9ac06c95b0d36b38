"""Billers move through named transitions only, and every move is audited."""

import pytest

from billing.choices import BillerStatus
from billing.exceptions import TransitionNotAllowed
from billing.models import AuditEvent
from billing.services import change_biller_status
from tests.factories import BillerFactory

pytestmark = pytest.mark.django_db


def test_a_new_biller_goes_live_through_submission_and_approval(admin_user):
    biller = BillerFactory(status=BillerStatus.DRAFT)
    for status in (BillerStatus.SUBMITTED, BillerStatus.APPROVED, BillerStatus.ACTIVE):
        biller = change_biller_status(biller=biller, to_status=status, actor=admin_user, reason="onboarding")
    assert biller.takes_payments
    trail = list(
        AuditEvent.objects.filter(target_id=str(biller.pk))
        .order_by("created_at")
        .values_list("data", flat=True)
    )
    assert [event["to"] for event in trail] == ["submitted", "approved", "active"]


def test_a_draft_cannot_skip_approval(admin_user):
    biller = BillerFactory(status=BillerStatus.DRAFT)
    with pytest.raises(TransitionNotAllowed) as refused:
        change_biller_status(biller=biller, to_status=BillerStatus.ACTIVE, actor=admin_user)
    assert refused.value.code == "transition_not_allowed"
    biller.refresh_from_db()
    assert biller.status == BillerStatus.DRAFT
    assert not AuditEvent.objects.exists()


def test_suspension_keeps_its_reason_and_reactivation_clears_it(admin_user):
    biller = BillerFactory()
    biller = change_biller_status(
        biller=biller, to_status=BillerStatus.SUSPENDED, actor=admin_user, reason="系统升级"
    )
    assert biller.status_reason == "系统升级"
    biller = change_biller_status(
        biller=biller, to_status=BillerStatus.ACTIVE, actor=admin_user, reason="恢复"
    )
    assert biller.status_reason == ""


def test_a_closed_biller_stays_closed(admin_user):
    biller = change_biller_status(
        biller=BillerFactory(), to_status=BillerStatus.CLOSED, actor=admin_user, reason="停业"
    )
    with pytest.raises(TransitionNotAllowed):
        change_biller_status(biller=biller, to_status=BillerStatus.ACTIVE, actor=admin_user)
