"""A new kind of biller goes live without code (issue 3, item 3), onboarding steps as admin actions with a
reason, and the audit history of staff changes in the admin (item 7)."""

from decimal import Decimal

import pytest
from django import forms
from django.urls import reverse

from billing import roles
from billing.choices import AllocationKind, BillerStatus, Channel, PaymentMode
from billing.exceptions import PaymentRefused
from billing.models import (
    AuditEvent,
    Biller,
    BillerCategory,
    BillerStaff,
    FeeSchedule,
    JournalEntry,
    PaymentAllocation,
)
from billing.services import post_payment
from billing.uscc import make_uscc
from tests.factories import BillFactory, CustomerAccountFactory, OnboardingBillerFactory
from tests.support import log_in, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(django_user_model):
    """A second platform administrator."""
    return make_staff(django_user_model, "bob", roles.PLATFORM_ADMIN)


def _action(client, action, biller, reason=""):
    return client.post(
        reverse("admin:billing_biller_changelist"),
        {"action": action, "_selected_action": [biller.pk], "reason": reason, "index": 0},
        follow=True,
    )


def _messages(response):
    return [str(message) for message in response.context["messages"]]


def test_a_disaster_relief_donation_biller_is_configured_in_the_admin_and_takes_a_donation(
    client, admin_user, bob
):
    log_in(client, admin_user)
    category = BillerCategory.objects.order_by("pk").first()
    response = client.post(
        reverse("admin:billing_biller_add"),
        {
            "code": "RELIEF2026",
            "name": "台风灾区救助捐款",
            "name_en": "Typhoon relief donations",
            "legal_name": "某市慈善总会",
            "category": category.pk,
            "payment_mode": PaymentMode.DONATION,
            "amount_rule": "exact",
            "min_amount": "1.00",
            "max_amount": "50000.00",
            "account_pattern": r"^\d{6,20}$",
            "account_check_digit": "none",
            "account_hint": "",
            "accepts_cash": "on",
            "uscc": make_uscc("53350100", "R0000001"),
            "settlement_bank_name": "中国银行某市分行",
            "settlement_account_name": "某市慈善总会",
            "settlement_account_no": "6216600100001234567",
            "contact_name": "陈捐",
            "contact_phone": "0591-12345678",
            "contact_email": "relief@example.org",
            "fee_schedules-TOTAL_FORMS": "0",
            "fee_schedules-INITIAL_FORMS": "0",
            "fee_schedules-MIN_NUM_FORMS": "0",
            "fee_schedules-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    biller = Biller.objects.get(code="RELIEF2026")
    assert biller.status == BillerStatus.DRAFT

    # Submitting without a fee schedule is refused, and the message names the biller.
    refused = _messages(_action(client, "submit_for_approval", biller))
    assert any(message.startswith("RELIEF2026: ") for message in refused)
    biller.refresh_from_db()
    assert biller.status == BillerStatus.DRAFT
    response = client.post(
        reverse("admin:billing_feeschedule_add"),
        {
            "biller": biller.pk,
            "channel": Channel.ONLINE,
            "fixed_fee": "0.00",
            "percentage": "0.0000",
            "min_fee": "0.00",
            "max_fee": "",
            "valid_from": "2026-01-01",
        },
    )
    assert response.status_code == 302
    assert FeeSchedule.objects.filter(biller=biller).count() == 1

    _action(client, "submit_for_approval", biller)
    biller.refresh_from_db()
    assert biller.status == BillerStatus.SUBMITTED

    refused = _messages(_action(client, "approve", biller))  # four eyes: not by the one who submitted
    assert any(message.startswith("RELIEF2026: ") for message in refused)
    biller.refresh_from_db()
    assert biller.status == BillerStatus.SUBMITTED

    log_in(client, bob)
    _action(client, "approve", biller, reason="资料齐全")
    _action(client, "activate", biller, reason="开始募捐")
    biller.refresh_from_db()
    assert biller.status == BillerStatus.ACTIVE

    result = post_payment(
        channel=Channel.ONLINE, idempotency_key="donation-1", biller_code="RELIEF2026", amount="200.00"
    )
    payment = result.payment
    assert (payment.biller, payment.account, payment.amount) == (biller, None, Decimal("200.00"))
    allocation = PaymentAllocation.objects.get(payment=payment)
    assert (allocation.kind, allocation.amount) == (AllocationKind.DONATION, Decimal("200.00"))
    entry = JournalEntry.objects.get(payment=payment)
    assert sum(line.amount for line in entry.lines.all()) == 0

    steps = list(
        AuditEvent.objects.filter(target_type="billing.biller", target_id=str(biller.pk))
        .order_by("created_at", "pk")
        .values_list("action", "actor__username", "data__to")
    )
    assert steps == [
        ("admin.added", "alice", None),
        ("fee_schedule.set", "alice", None),
        ("biller.status_changed", "alice", "submitted"),
        ("biller.status_changed", "bob", "approved"),
        ("biller.status_changed", "bob", "active"),
    ]


def test_the_first_admin_cannot_approve_what_it_submitted(client, admin_user):
    biller = OnboardingBillerFactory()
    log_in(client, admin_user)
    _action(client, "submit_for_approval", biller)
    response = _action(client, "approve", biller)
    biller.refresh_from_db()
    assert biller.status == BillerStatus.SUBMITTED
    assert any(biller.code in message for message in _messages(response))


def test_a_suspension_needs_a_reason_and_payers_are_told_it(client, admin_user):
    account = CustomerAccountFactory()
    BillFactory(account=account)
    biller = account.biller
    log_in(client, admin_user)
    _action(client, "suspend", biller)
    biller.refresh_from_db()
    assert biller.status == BillerStatus.ACTIVE
    _action(client, "suspend", biller, reason="系统升级至12月1日")
    biller.refresh_from_db()
    assert (biller.status, biller.status_reason) == (BillerStatus.SUSPENDED, "系统升级至12月1日")
    with pytest.raises(PaymentRefused) as refused:
        post_payment(
            channel=Channel.ONLINE,
            idempotency_key="k",
            biller_code=biller.code,
            account_no=account.account_no,
            amount="100.00",
        )
    assert refused.value.code == "biller_not_active"
    assert "系统升级至12月1日" in refused.value.message


def test_an_operator_has_no_onboarding_actions(client, django_user_model):
    biller = OnboardingBillerFactory()
    user = make_staff(django_user_model, "olivia", roles.BILLER_OPERATOR)
    from billing.models import BillerStaff

    BillerStaff.objects.create(user=user, biller=biller)
    log_in(client, user)
    response = client.get(reverse("admin:billing_biller_changelist"))
    assert response.status_code == 200
    assert "submit_for_approval" not in response.content.decode()


def test_staff_changes_are_audited_and_shown_in_the_objects_history(client, admin_user, django_user_model):
    bill = BillFactory(amount_due=Decimal("100.00"))
    log_in(client, admin_user)
    url = reverse("admin:billing_bill_change", args=[bill.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields}
    data.update(
        account=bill.account_id,
        biller=bill.biller_id,
        amount_due="120.00",
        due_date="2026-10-20",
        late_fee="0.00",
    )
    assert client.post(url, data).status_code == 302
    event = AuditEvent.objects.get(action="admin.changed", target_type="billing.bill")
    assert event.actor == admin_user
    assert "100.00" in event.data["changes"] and "120.00" in event.data["changes"]

    user = django_user_model.objects.create_user("carol", "c@example.com", "pw", is_staff=True)
    user_url = reverse("admin:auth_user_change", args=[user.pk])
    form = client.get(user_url).context["adminform"].form
    data = {name: form.initial.get(name) for name in form.fields if form.initial.get(name) is not None}
    data.update(username="carol", first_name="Carol", is_staff="on", is_active="on", password=user.password)
    data.pop("groups", None)
    data.pop("user_permissions", None)
    data.pop("last_login", None)
    data["date_joined_0"], data["date_joined_1"] = "2026-01-01", "00:00:00"
    client.post(user_url, data)
    assert AuditEvent.objects.filter(
        action="admin.changed", target_type="auth.user", target_id=str(user.pk)
    ).exists()

    history = client.get(reverse("admin:billing_bill_history", args=[bill.pk]))
    assert history.status_code == 200
    assert b"audit-history" in history.content and b"admin.changed" in history.content


def test_a_paid_bill_cannot_be_changed_by_hand(client, admin_user):
    account = CustomerAccountFactory()
    bill = BillFactory(account=account)
    post_payment(
        channel=Channel.ONLINE,
        idempotency_key="paid",
        biller_code=account.biller.code,
        account_no=account.account_no,
        amount="100.00",
    )
    log_in(client, admin_user)
    form = client.get(reverse("admin:billing_bill_change", args=[bill.pk])).context["adminform"].form
    assert "amount_due" not in form.fields


def test_a_new_fee_schedule_and_a_password_change_are_in_the_history(client, admin_user, django_user_model):
    biller = OnboardingBillerFactory()
    log_in(client, admin_user)
    response = client.post(
        reverse("admin:billing_feeschedule_add"),
        {
            "biller": biller.pk,
            "channel": Channel.COUNTER,
            "fixed_fee": "1.00",
            "percentage": "0.0000",
            "min_fee": "0.00",
            "max_fee": "",
            "valid_from": "2026-03-01",
        },
    )
    assert response.status_code == 302
    schedule = FeeSchedule.objects.get(biller=biller, channel=Channel.COUNTER)
    history = client.get(reverse("admin:billing_feeschedule_history", args=[schedule.pk]))
    assert b"admin.added" in history.content

    user = django_user_model.objects.create_user("dan", "d@example.com", "old-pw-1234", is_staff=True)
    response = client.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {"password1": "N3w-secret-pass!", "password2": "N3w-secret-pass!", "usable_password": "true"},
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="admin.password_changed")
    assert (event.actor, event.target_id) == (admin_user, str(user.pk))


def _biller_form_data(biller_page, **changes):
    """What the biller page's form posts back unchanged, with its fee inline's management form."""
    form = biller_page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = value
    formset = biller_page.context["inline_admin_formsets"][0].formset
    prefix = formset.prefix
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": str(formset.initial_form_count()),
            f"{prefix}-INITIAL_FORMS": str(formset.initial_form_count()),
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
    )
    for index, row in enumerate(formset.initial_forms):
        data[f"{prefix}-{index}-id"] = row.instance.pk
        data[f"{prefix}-{index}-biller"] = row.instance.biller_id
    data.update(changes)
    return data


def test_a_platform_admin_adds_a_fee_row_on_the_billers_page_without_typing_its_id(client, admin_user):
    biller = OnboardingBillerFactory()
    log_in(client, admin_user)
    url = reverse("admin:billing_biller_change", args=[biller.pk])
    page = client.get(url)
    assert page.context["inline_admin_formsets"][0].has_add_permission
    data = _biller_form_data(page)
    index = data["fee_schedules-TOTAL_FORMS"]
    data.update(
        {
            "fee_schedules-TOTAL_FORMS": str(int(index) + 1),
            f"fee_schedules-{index}-channel": Channel.COUNTER,
            f"fee_schedules-{index}-fixed_fee": "1.00",
            f"fee_schedules-{index}-percentage": "0.0010",
            f"fee_schedules-{index}-min_fee": "0.00",
            f"fee_schedules-{index}-max_fee": "",
            f"fee_schedules-{index}-valid_from": "2026-12-01",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors or [
        f.errors for f in response.context["inline_admin_formsets"][0].formset
    ]
    fee = FeeSchedule.objects.get(biller=biller, channel=Channel.COUNTER)
    assert (fee.fixed_fee, fee.percentage) == (Decimal("1.00"), Decimal("0.0010"))
    assert AuditEvent.objects.filter(action="fee_schedule.set", actor=admin_user).exists()

    # The same day's price again is refused on the page, not by a server error.
    response = client.post(url, {**data, f"fee_schedules-{index}-fixed_fee": "2.00"})
    assert response.status_code == 200 and FeeSchedule.objects.filter(biller=biller).count() == 1 + int(index)


def test_an_operator_gets_no_fee_row_to_add_on_its_billers_page(client, django_user_model):
    biller = OnboardingBillerFactory()
    operator = make_staff(django_user_model, "olga", roles.BILLER_OPERATOR)
    BillerStaff.objects.create(user=operator, biller=biller)
    log_in(client, operator)
    page = client.get(reverse("admin:billing_biller_change", args=[biller.pk]))
    assert page.status_code == 200
    assert all(not inline.has_add_permission for inline in page.context["inline_admin_formsets"])


def test_a_donation_biller_created_without_a_code_is_given_the_next_don_code(client, admin_user):
    log_in(client, admin_user)
    add = client.get(reverse("admin:billing_biller_add"))
    data = _biller_form_data(
        add,
        code="",
        name="助学捐款",
        category=BillerCategory.objects.order_by("pk").first().pk,
        payment_mode=PaymentMode.DONATION,
        amount_rule="exact",
        account_pattern=r"^\d{6,20}$",
        account_check_digit="none",
        uscc=make_uscc("53350100", "R0000002"),
    )
    response = client.post(reverse("admin:billing_biller_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Biller.objects.get(name="助学捐款").code == "DON0001"
    data.update(name="助老捐款", uscc=make_uscc("53350100", "R0000003"))
    second = client.post(reverse("admin:billing_biller_add"), data)
    assert second.status_code == 302, second.context["adminform"].form.errors
    assert Biller.objects.get(name="助老捐款").code == "DON0002"

    refused = client.post(
        reverse("admin:billing_biller_add"),
        {
            **data,
            "name": "某水务",
            "payment_mode": PaymentMode.STATEMENT,
            "uscc": make_uscc("53350100", "R0000004"),
        },
    )
    assert refused.status_code == 200 and "code" in refused.context["adminform"].form.errors
    assert not Biller.objects.filter(name="某水务").exists()
