"""Partner onboarding in the admin: partners, keys shown once, rotation with an overlap, roles."""

import datetime

import pytest
from django.utils import timezone

from api import credentials
from api.choices import PartnerStatus
from api.models import ApiCredential, Partner
from billing import roles
from billing.models import AuditEvent, BillerCategory
from tests.support import log_in, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    def make(name, role):
        return make_staff(django_user_model, name, role)

    return make


def test_a_platform_admin_onboards_a_partner(client, admin_user):
    log_in(client, admin_user)
    water = BillerCategory.objects.get(code="water")
    response = client.post(
        "/admin/api/partner/add/",
        {
            "code": "ALIPAYX",
            "name": "某支付",
            "allowed_categories": [water.pk],
            "ip_allowlist": "203.0.113.0/24",
            "rate_limit_per_minute": 300,
            "commissions-TOTAL_FORMS": 1,
            "commissions-INITIAL_FORMS": 0,
            "commissions-0-fixed_fee": "0.20",
            "commissions-0-percentage": "0.0010",
            "commissions-0-min_fee": "0.00",
            "commissions-0-valid_from": "2026-01-01",
            "return_urls-TOTAL_FORMS": 1,
            "return_urls-INITIAL_FORMS": 0,
            "return_urls-0-url": "https://pay.example.cn/billpay/return",
            "credentials-TOTAL_FORMS": 0,
            "credentials-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    partner = Partner.objects.get(code="ALIPAYX")
    assert list(partner.return_urls.values_list("url", flat=True)) == [
        "https://pay.example.cn/billpay/return"
    ]
    assert partner.status == PartnerStatus.ACTIVE
    assert str(partner.commissions.get().fixed_fee) == "0.20"
    assert AuditEvent.objects.filter(action="partner.created", target_id=str(partner.pk)).exists()


def test_a_bad_ip_allow_list_entry_is_refused(client, admin_user):
    log_in(client, admin_user)
    response = client.post(
        "/admin/api/partner/add/",
        {
            "code": "BAD",
            "name": "Bad",
            "ip_allowlist": "300.1.2.3",
            "rate_limit_per_minute": 10,
            "commissions-TOTAL_FORMS": 0,
            "commissions-INITIAL_FORMS": 0,
            "credentials-TOTAL_FORMS": 0,
            "credentials-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200
    assert "ip_allowlist" in response.context["adminform"].form.errors


def test_issuing_a_key_shows_the_secret_once(client, admin_user):
    partner = Partner.objects.create(code="ACME", name="Acme")
    log_in(client, admin_user)
    response = client.post("/admin/api/partner/", {"action": "issue_key", "_selected_action": [partner.pk]})
    assert response.status_code == 200
    credential = ApiCredential.objects.get(partner=partner)
    secret = credentials.secret_for(credential)
    assert secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    change_page = client.get(f"/admin/api/apicredential/{credential.pk}/change/").content.decode()
    assert secret not in change_page
    assert secret not in client.get(f"/admin/api/partner/{partner.pk}/change/").content.decode()


def test_rotation_keeps_the_old_key_for_the_overlap(client, admin_user):
    partner = Partner.objects.create(code="ACME", name="Acme")
    old = ApiCredential.objects.create(partner=partner)
    log_in(client, admin_user)
    form = client.post("/admin/api/apicredential/", {"action": "rotate", "_selected_action": [old.pk]})
    assert form.status_code == 200 and "overlap_hours" in form.content.decode()
    response = client.post(
        "/admin/api/apicredential/", {"action": "rotate", "_selected_action": [old.pk], "overlap_hours": 48}
    )
    assert response.status_code == 200
    old.refresh_from_db()
    new = old.replaced_by
    assert credentials.secret_for(new) in response.content.decode()
    assert old.expires_at - timezone.now() > datetime.timedelta(hours=47)
    assert old.usable_at(timezone.now()) and new.usable_at(timezone.now())


def test_suspending_a_partner_from_the_admin(client, admin_user):
    partner = Partner.objects.create(code="ACME", name="Acme")
    log_in(client, admin_user)
    client.post("/admin/api/partner/", {"action": "suspend", "_selected_action": [partner.pk]})
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.SUSPENDED and partner.status_reason


def test_an_auditor_sees_partners_but_cannot_issue_keys(client, staff):
    partner = Partner.objects.create(code="ACME", name="Acme")
    log_in(client, staff("grace", roles.AUDITOR))
    assert client.get("/admin/api/partner/").status_code == 200
    assert client.get(f"/admin/api/partner/{partner.pk}/change/").status_code == 200
    client.post("/admin/api/partner/", {"action": "issue_key", "_selected_action": [partner.pk]})
    assert not ApiCredential.objects.exists()


@pytest.mark.parametrize("role", [roles.BILLER_OPERATOR, roles.BRANCH_CLERK, roles.RECONCILIATION_OFFICER])
def test_other_roles_do_not_reach_partners_or_keys(client, staff, role):
    log_in(client, staff("someone", role))
    for page in ("partner", "apicredential", "billerapiaccess", "webhookdelivery"):
        assert client.get(f"/admin/api/{page}/").status_code == 403


def test_the_webhook_secret_is_shown_on_its_own_page(client, admin_user):
    from api import services
    from tests.factories import BillerFactory

    access = services.ensure_biller_api_access(biller=BillerFactory(code="WATER01"), actor=admin_user)
    log_in(client, admin_user)
    response = client.post(
        "/admin/api/billerapiaccess/", {"action": "show_webhook_secret", "_selected_action": [access.pk]}
    )
    assert response.status_code == 200
    assert credentials.webhook_secret_for(access) in response.content.decode()
