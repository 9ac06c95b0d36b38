"""Onboarding a biller: complete data before submission, four eyes on approval, every step audited."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import translation

from billing import roles
from billing.choices import BillerStatus, Channel
from billing.exceptions import OnboardingRefused, PaymentRefused
from billing.models import AuditEvent, FeeSchedule
from billing.services import (
    activate_biller,
    approve_biller,
    close_biller,
    post_payment,
    submit_biller,
    suspend_biller,
)
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory, OnboardingBillerFactory
from tests.support import make_staff

pytestmark = pytest.mark.django_db


def _staff(django_user_model, username: str, role: str):
    return make_staff(django_user_model, username, role)


@pytest.fixture
def bob(django_user_model):
    """A second platform administrator, by group rather than as a superuser."""
    return _staff(django_user_model, "bob", roles.PLATFORM_ADMIN)


@pytest.fixture
def charlie(django_user_model):
    """A biller operator: staff, but not a platform administrator."""
    return _staff(django_user_model, "charlie", roles.BILLER_OPERATOR)


def test_a_complete_draft_is_submitted_and_remembers_who_submitted_it(admin_user):
    biller = submit_biller(biller=OnboardingBillerFactory(), actor=admin_user)
    biller.refresh_from_db()
    assert biller.status == BillerStatus.SUBMITTED
    assert biller.submitted_by == admin_user


def test_submission_is_audited(admin_user):
    biller = submit_biller(biller=OnboardingBillerFactory(), actor=admin_user)
    event = AuditEvent.objects.get(target_id=str(biller.pk))
    assert (event.action, event.actor, event.data["to"]) == ("biller.status_changed", admin_user, "submitted")


def test_an_incomplete_draft_is_refused_with_everything_it_lacks(admin_user):
    biller = BillerFactory(status=BillerStatus.DRAFT)
    with pytest.raises(OnboardingRefused) as refused:
        submit_biller(biller=biller, actor=admin_user)
    assert refused.value.code == "onboarding_incomplete"
    assert refused.value.params["fields"].split(",") == [
        "legal_name",
        "uscc",
        "settlement_bank_name",
        "settlement_account_name",
        "settlement_account_no",
        "contact_name",
        "contact_phone_or_email",
        "fee_schedule",
    ]
    biller.refresh_from_db()
    assert biller.status == BillerStatus.DRAFT
    assert biller.submitted_by is None
    assert not AuditEvent.objects.exists()


def test_the_refusal_names_the_missing_data_in_english():
    biller = OnboardingBillerFactory(settlement_account_no="", contact_phone="", contact_email="")
    with pytest.raises(OnboardingRefused) as refused:
        submit_biller(biller=biller, actor=None)
    with translation.override("en"):
        assert refused.value.message.endswith(
            "Still missing: settlement account number, a contact phone or e-mail."
        )


def test_the_refusal_names_the_missing_data_in_chinese():
    biller = OnboardingBillerFactory(legal_name="", settlement_account_name="x", contact_name="")
    with pytest.raises(OnboardingRefused) as refused:
        submit_biller(biller=biller, actor=None)
    with translation.override("zh-hans"):
        assert refused.value.message.endswith("尚缺：法定名称、联系人。")


def test_an_invalid_credit_code_counts_as_missing(admin_user):
    biller = OnboardingBillerFactory(uscc="91350100M000100Y44")
    with pytest.raises(OnboardingRefused) as refused:
        submit_biller(biller=biller, actor=admin_user)
    assert refused.value.params["fields"] == "uscc"


def test_a_biller_without_a_fee_schedule_cannot_be_submitted(admin_user):
    biller = OnboardingBillerFactory()
    FeeSchedule.objects.filter(biller=biller).delete()
    with pytest.raises(OnboardingRefused) as refused:
        submit_biller(biller=biller, actor=admin_user)
    assert refused.value.params["fields"] == "fee_schedule"


def test_an_e_mail_alone_is_enough_contact(admin_user):
    biller = submit_biller(biller=OnboardingBillerFactory(contact_phone=""), actor=admin_user)
    assert biller.status == BillerStatus.SUBMITTED


def test_the_submitter_cannot_approve_their_own_biller(admin_user):
    biller = submit_biller(biller=OnboardingBillerFactory(), actor=admin_user)
    with pytest.raises(OnboardingRefused) as refused:
        approve_biller(biller=biller, actor=admin_user)
    assert refused.value.code == "four_eyes_required"
    biller.refresh_from_db()
    assert biller.status == BillerStatus.SUBMITTED


def test_another_platform_admin_can_approve(admin_user, bob):
    biller = submit_biller(biller=OnboardingBillerFactory(), actor=admin_user)
    biller = approve_biller(biller=biller, actor=bob, reason="资料齐全")
    assert biller.status == BillerStatus.APPROVED
    event = AuditEvent.objects.filter(target_id=str(biller.pk)).latest("created_at")
    assert (event.actor, event.reason, event.data["to"]) == (bob, "资料齐全", "approved")


def test_a_staff_member_who_is_not_a_platform_admin_cannot_approve(admin_user, charlie):
    biller = submit_biller(biller=OnboardingBillerFactory(), actor=admin_user)
    with pytest.raises(OnboardingRefused) as refused:
        approve_biller(biller=biller, actor=charlie)
    assert refused.value.code == "approver_not_platform_admin"


def test_a_user_who_is_not_staff_cannot_approve(admin_user, django_user_model):
    outsider = django_user_model.objects.create_user("dave", "dave@example.com", "pw")
    outsider.groups.add(Group.objects.get(name=roles.PLATFORM_ADMIN))
    biller = submit_biller(biller=OnboardingBillerFactory(), actor=admin_user)
    with pytest.raises(OnboardingRefused) as refused:
        approve_biller(biller=biller, actor=outsider)
    assert refused.value.code == "approver_not_platform_admin"


def test_a_biller_goes_live_only_after_approval(admin_user, bob):
    biller = submit_biller(biller=OnboardingBillerFactory(), actor=admin_user)
    biller = approve_biller(biller=biller, actor=bob)
    biller = activate_biller(biller=biller, actor=admin_user)
    assert biller.takes_payments
    trail = AuditEvent.objects.filter(target_id=str(biller.pk)).order_by("created_at")
    assert [(event.actor.username, event.data["to"]) for event in trail] == [
        ("alice", "submitted"),
        ("bob", "approved"),
        ("alice", "active"),
    ]


def test_suspending_needs_a_reason(admin_user):
    biller = BillerFactory()
    with pytest.raises(OnboardingRefused) as refused:
        suspend_biller(biller=biller, actor=admin_user, reason="  ")
    assert refused.value.code == "suspension_reason_required"
    biller.refresh_from_db()
    assert biller.status == BillerStatus.ACTIVE


def test_closing_needs_a_reason(admin_user):
    with pytest.raises(OnboardingRefused) as refused:
        close_biller(biller=BillerFactory(), actor=admin_user, reason="")
    assert refused.value.code == "closure_reason_required"


def test_closing_keeps_the_reason_for_payers(admin_user):
    biller = close_biller(biller=BillerFactory(), actor=admin_user, reason="合同到期")
    assert (biller.status, biller.status_reason) == (BillerStatus.CLOSED, "合同到期")


def test_a_suspended_biller_refuses_payments_and_says_why(admin_user):
    bill = BillFactory(account=CustomerAccountFactory(biller=BillerFactory()))
    suspend_biller(biller=bill.biller, actor=admin_user, reason="系统升级")
    with pytest.raises(PaymentRefused) as refused:
        post_payment(
            channel=Channel.ONLINE,
            idempotency_key="suspended-1",
            biller_code=bill.biller.code,
            account_no=bill.account.account_no,
            amount=Decimal("100.00"),
        )
    assert refused.value.code == "biller_not_active"
    assert "系统升级" in refused.value.message


def test_two_billers_cannot_share_a_credit_code():
    first = OnboardingBillerFactory()
    with pytest.raises(IntegrityError):
        BillerFactory(uscc=first.uscc)


def test_many_drafts_may_leave_the_credit_code_blank():
    BillerFactory(status=BillerStatus.DRAFT, uscc="")
    BillerFactory(status=BillerStatus.DRAFT, uscc="")


def test_model_validation_refuses_an_invalid_credit_code():
    biller = BillerFactory.build(uscc="91350100M000100Y44")
    with pytest.raises(ValidationError) as refused:
        biller.full_clean(exclude=["category"])
    assert "uscc" in refused.value.message_dict
