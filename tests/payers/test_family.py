"""Family payment (亲情付): a citizen invites a family member, who sees and pays the citizen's bound accounts
within the limits set (per payment, per month); each payment tells the citizen; either side ends it."""

from decimal import Decimal

import pytest
from django.core import mail

from billing.models import AuditEvent, Payment
from payers import family, sms
from payers.choices import FamilyLinkStatus
from payers.models import BoundAccount, FamilyLink, GatewayOrder, Payer, SandboxBankTrade
from payers.sandbox_bank.services import notification_params

pytestmark = pytest.mark.django_db


@pytest.fixture
def citizen(django_user_model, settings):
    settings.SMS_BACKEND = "payers.sms.LocmemSMSBackend"
    sms.outbox.clear()
    user = django_user_model.objects.create_user(
        "xm", "xm@example.com", "pw-xm-12345", first_name="小明", last_name="张"
    )
    Payer.objects.create(user=user, mobile="+8613800138000", mobile_verified=True)
    return user


@pytest.fixture
def son(django_user_model):
    return django_user_model.objects.create_user("son", "son@example.com", "pw-son-12345")


@pytest.fixture
def link(citizen, son, water):
    BoundAccount.objects.create(user=citizen, account=water["account"], label="家里水费")
    invited = family.invite(owner=citizen, label="儿子", per_payment_limit="150.00", monthly_limit="200.00")
    return family.accept(member=son, token=invited.invite_token)


def pay(client, link, bills):
    """The member pays the chosen bills at the sandbox bank; the bank's notification settles them."""
    response = client.post(f"/me/family/{link.public_id}/", {"bill": [bill.pk for bill in bills]})
    if response.status_code != 302:
        return response
    assert response.url.startswith("/sandbox-bank/gateway/")
    client.get(response.url)
    order = GatewayOrder.objects.latest("created_at")
    trade = SandboxBankTrade.objects.get(merchant_order_no=order.order_no)
    client.post(f"/sandbox-bank/pay/{trade.trade_no}/finish/", {"action": "pay"})
    trade.refresh_from_db()
    return client.post("/payments/notify/SANDBOX/", notification_params(trade))


def test_the_citizen_invites_and_the_member_accepts_by_the_link(client, citizen, son, water, sandbox_bank):
    BoundAccount.objects.create(user=citizen, account=water["account"], label="家里水费")
    client.force_login(citizen)
    page = client.post("/me/family/", {"label": "儿子", "per_payment": "150", "monthly": "200", "email": ""})
    link = FamilyLink.objects.get()
    assert page.status_code == 200 and f"/me/family/invite/{link.invite_token}/" in page.content.decode()
    client.force_login(son)
    accepted = client.post(f"/me/family/invite/{link.invite_token}/")
    assert accepted.status_code == 302 and accepted.url == f"/me/family/{link.public_id}/"
    shared = client.get(accepted.url).content.decode()
    assert "2026-09" in shared and "¥100.00" in shared
    link.refresh_from_db()
    assert link.status == FamilyLinkStatus.ACTIVE and link.member == son


def test_a_member_pays_within_the_limit_and_the_citizen_is_told(
    client, citizen, son, link, water, sandbox_bank, django_capture_on_commit_callbacks
):
    client.force_login(son)
    with django_capture_on_commit_callbacks(execute=True):
        answer = pay(client, link, [water["bills"][0]])  # ¥100.00
    assert answer.status_code == 200
    water["bills"][0].refresh_from_db()
    assert water["bills"][0].status == "paid" and Payment.objects.count() == 1
    order = GatewayOrder.objects.get()
    assert order.family_link == link and order.user == son
    assert any("儿子" in message.subject and "¥100.00" in message.subject for message in mail.outbox)
    assert mail.outbox[-1].to == ["xm@example.com"] and sms.outbox[-1].to == "+8613800138000"


def test_a_payment_above_the_per_payment_limit_is_refused_and_nothing_is_posted(
    client, son, link, water, sandbox_bank, settings
):
    client.force_login(son)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = pay(client, link, water["bills"])  # ¥180.00 > ¥150.00 per payment
    assert response.status_code == 400
    assert "¥180.00 is above the limit of ¥150.00 per payment" in response.content.decode()
    assert not GatewayOrder.objects.exists() and not Payment.objects.exists()


def test_the_monthly_limit_counts_what_was_paid_this_month(
    client, son, link, water, sandbox_bank, settings, django_capture_on_commit_callbacks
):
    client.force_login(son)
    with django_capture_on_commit_callbacks(execute=True):
        pay(client, link, [water["bills"][0]])  # ¥100.00 of ¥200.00
    link.monthly_limit = Decimal("150.00")
    link.save()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = pay(client, link, [water["bills"][1]])  # ¥80.00, only ¥50.00 left
    assert response.status_code == 400
    assert "is more than is left of this month" in response.content.decode()
    assert "(¥50.00 of ¥150.00)" in response.content.decode()
    assert GatewayOrder.objects.count() == 1 and Payment.objects.count() == 1


def test_a_checkout_waiting_at_the_bank_counts_against_the_month(son, link, water, sandbox_bank):
    family.start_checkout(
        member=son, link=link, bill_ids=[water["bills"][0].pk], gateway_code="SANDBOX", subject="x"
    )
    link.monthly_limit = Decimal("150.00")
    link.save()
    with pytest.raises(family.PortalError) as refused:
        family.start_checkout(
            member=son, link=link, bill_ids=[water["bills"][1].pk], gateway_code="SANDBOX", subject="x"
        )
    assert refused.value.code == "family_month_limit"


def test_bills_not_shared_cannot_be_paid(son, link, power, sandbox_bank):
    with pytest.raises(family.PortalError) as refused:
        family.start_checkout(
            member=son, link=link, bill_ids=[power["bills"][0].pk], gateway_code="SANDBOX", subject="x"
        )
    assert refused.value.code == "family_bill_not_shared"
    assert not GatewayOrder.objects.exists()


@pytest.mark.parametrize("side", ["citizen", "son"])
def test_either_side_ends_it_and_nothing_more_can_be_paid(
    client, citizen, son, link, water, sandbox_bank, side
):
    client.force_login(citizen if side == "citizen" else son)
    assert client.post(f"/me/family/{link.public_id}/end/").status_code == 302
    link.refresh_from_db()
    assert link.status == FamilyLinkStatus.ENDED
    assert AuditEvent.objects.filter(action="family.ended", target_id=str(link.pk)).exists()
    with pytest.raises(family.PortalError) as refused:
        family.start_checkout(
            member=son, link=link, bill_ids=[water["bills"][0].pk], gateway_code="SANDBOX", subject="x"
        )
    assert refused.value.code == "family_not_active"
    assert not GatewayOrder.objects.exists()


@pytest.mark.parametrize(
    ("per_payment", "monthly", "code"),
    [
        ("abc", "200", "family_limit_invalid"),
        ("0", "200", "family_limit_invalid"),
        ("300", "200", "family_month_below_payment"),
        ("100", "99999", "family_limit_too_high"),
    ],
)
def test_bad_limits_are_refused_and_nothing_is_written(citizen, per_payment, monthly, code):
    with pytest.raises(family.PortalError) as refused:
        family.invite(owner=citizen, label="儿子", per_payment_limit=per_payment, monthly_limit=monthly)
    assert refused.value.code == code
    assert not FamilyLink.objects.exists()


def test_a_citizen_cannot_accept_their_own_invitation_nor_a_stranger_use_an_ended_one(citizen, son, link):
    fresh = family.invite(owner=citizen, label="女儿", per_payment_limit="50", monthly_limit="50")
    with pytest.raises(family.PortalError):
        family.accept(member=citizen, token=fresh.invite_token)
    family.end(user=citizen, link=fresh)
    with pytest.raises(family.PortalError):
        family.accept(member=son, token=fresh.invite_token)


def test_a_stranger_sees_nothing_of_the_link(client, link, django_user_model):
    stranger = django_user_model.objects.create_user("ls", "ls@example.com", "pw-ls-12345")
    client.force_login(stranger)
    assert client.get(f"/me/family/{link.public_id}/").status_code == 404
    assert client.post(f"/me/family/{link.public_id}/end/").status_code == 404
    link.refresh_from_db()
    assert link.status == FamilyLinkStatus.ACTIVE
