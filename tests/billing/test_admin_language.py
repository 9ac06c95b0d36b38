"""The back office speaks the user's language (issue 14): it is named after the platform rather than
"Django 管理", and the audit trail shows what each action code means, in Chinese by default."""

import re

import pytest
from axes.models import AccessAttempt
from django.conf import settings

from billing import roles
from billing.audit import ACTION_LABELS, record_audit
from tests.factories import BillerFactory, BillFactory
from tests.support import log_in, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def platform_admin(django_user_model):
    return make_staff(django_user_model, "admin14", roles.PLATFORM_ADMIN)


@pytest.mark.parametrize(
    ("language", "header", "index_title"),
    [("zh-hans", "开放式便民缴费平台", "后台管理"), ("en", "Open Bill Payment Platform", "Back office")],
)
def test_the_admin_is_named_after_the_platform_in_the_users_language(
    client, platform_admin, language, header, index_title
):
    log_in(client, platform_admin)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    page = client.get("/admin/").content.decode()
    assert f'<a href="/admin/">{header}</a>' in page
    assert f"<title>{index_title} | {header}</title>" in page
    assert "Django" not in page


def test_the_audit_list_shows_readable_actions_in_chinese_with_the_code_beside(client, platform_admin):
    biller = BillerFactory()
    record_audit(actor=platform_admin, action="biller.status_changed", target=biller, reason="test")
    log_in(client, platform_admin)
    page = client.get("/admin/billing/auditevent/").content.decode()
    assert "缴费单位状态变更" in page and "(biller.status_changed)" in page
    filtered = client.get("/admin/billing/auditevent/?action=biller.status_changed").content.decode()
    assert "缴费单位状态变更" in filtered


def test_the_audit_list_speaks_english_when_english_is_chosen(client, platform_admin):
    record_audit(actor=platform_admin, action="biller.status_changed", target=BillerFactory(), reason="test")
    log_in(client, platform_admin)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "Biller status changed" in client.get("/admin/billing/auditevent/").content.decode()


def test_every_audit_action_the_code_records_has_a_readable_name():
    """A new literal action code in the source must be named in billing.audit.ACTION_LABELS."""
    from pathlib import Path

    root = Path(settings.BASE_DIR)
    found = set()
    for app in ("billing", "branches", "payers", "reconciliation", "disputes", "api", "config"):
        for path in (root / app).rglob("*.py"):
            found |= set(re.findall(r'action="([a-z_]+\.[a-z_]+)"', path.read_text(encoding="utf-8")))
    assert found and found <= set(ACTION_LABELS), sorted(found - set(ACTION_LABELS))


def test_the_admin_index_names_the_login_records_and_authenticators_in_chinese(client, platform_admin):
    log_in(client, platform_admin)
    page = client.get("/admin/").content.decode()
    assert "登录锁定" in page and "登录失败记录" in page and "身份验证器" in page
    for english in ("Axes", "Access attempts", "Authenticators"):
        assert english not in page, english
    AccessAttempt.objects.create(
        username="mallory",
        ip_address="203.0.113.9",
        user_agent="ua",
        http_accept="*/*",
        path_info="/admin/login/",
        get_data="",
        post_data="",
        failures_since_start=3,
    )
    lockouts = client.get("/admin/axes/accessattempt/").content.decode()
    assert "失败次数" in lockouts and "Failed Logins" not in lockouts


def test_the_bill_list_names_its_columns_and_filters_in_chinese(client, platform_admin):
    BillFactory(), BillFactory()
    log_in(client, platform_admin)
    page = client.get("/admin/billing/bill/").content.decode()
    assert "以 缴费单位" in page and "以 biller" not in page
    headers = re.findall(r'<th scope="col" class="[^"]*column-[^"]*">.*?<a [^>]*>([^<]+)</a>', page, re.S)
    assert "户号" in headers and "account" not in headers


@pytest.mark.parametrize("app_label", ["billing", "reconciliation", "api"])
def test_every_relation_field_has_a_chinese_name(app_label):
    from django.apps import apps
    from django.utils import translation

    with translation.override("zh-hans"):
        english = [
            f"{model.__name__}.{field.name}={field.verbose_name}"
            for model in apps.get_app_config(app_label).get_models()
            for field in model._meta.get_fields()
            if field.is_relation and field.concrete and re.search(r"[a-z]{3}", str(field.verbose_name))
        ]
    assert english == []
