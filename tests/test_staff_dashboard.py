"""The staff home (the admin index) is a dashboard scoped by role: each panel a server-drawn bar chart with
the same figures in a table, one query per panel, and each role sees only its own biller's or branch's rows.

alice is a platform admin, bob operates biller A, dave clerks at outlet X and erin supervises it, frank
reconciles. Biller A took ¥100 online and ¥50 at outlet X today, biller B ¥70 at outlet Y (suspended)."""

import datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from api import services as api_services
from api.choices import DeliveryStatus, WebhookEvent
from api.models import WebhookDelivery
from billing import dashboard, failed_tasks, roles
from billing.choices import BillerStatus, Channel
from billing.models import BillerStaff, BillImportJob
from branches.choices import BranchRole, BranchStatus
from branches.models import BranchStaff
from reconciliation.choices import DiscrepancyStatus, MatchClass, RunStatus, SettlementStatus
from reconciliation.models import Discrepancy, MatchResult, ReconciliationRun, SettlementBatch, StatementFile
from tests.factories import (
    BillerFactory,
    BillFactory,
    BranchFactory,
    CustomerAccountFactory,
    OnboardingBillerFactory,
)
from tests.support import log_in, make_staff, pay

pytestmark = pytest.mark.django_db

USER_ROLES = {
    "alice": roles.PLATFORM_ADMIN,
    "bob": roles.BILLER_OPERATOR,
    "dave": roles.BRANCH_CLERK,
    "erin": roles.BRANCH_SUPERVISOR,
    "frank": roles.RECONCILIATION_OFFICER,
}


def _discrepancy(klass, days_old, status=DiscrepancyStatus.OPEN, n=[0], **fields):  # noqa: B006 - a counter
    n[0] += 1
    day = timezone.localdate() - datetime.timedelta(days=days_old)
    statement = StatementFile.objects.create(
        channel_code="SANDBOX",
        business_date=day,
        format="billpay",
        file_name="s.csv",
        sha256=f"{n[0]:064d}",
        size=1,
        content=b"x",
        line_count=1,
    )
    run = ReconciliationRun.objects.create(
        statement=statement, channel_code="SANDBOX", business_date=day, status=RunStatus.DONE
    )
    result = MatchResult.objects.create(run=run, klass=klass)
    return Discrepancy.objects.create(
        run=run,
        result=result,
        klass=klass,
        channel_code="SANDBOX",
        business_date=day,
        status=status,
        **fields,
    )


@pytest.fixture(scope="module")
def world(module_db):
    with module_db.unblock():
        users = {name: make_staff(get_user_model(), name, role) for name, role in USER_ROLES.items()}
        biller_a = BillerFactory(code="WATER-A", name="甲水务", name_en="Water A")
        biller_b = BillerFactory(code="WATER-B", name="乙水务", name_en="Water B")
        OnboardingBillerFactory(code="NEW-C", status=BillerStatus.SUBMITTED)
        branch_x = BranchFactory(code="BR-X", district="江南区", takes_all_billers=True)
        branch_y = BranchFactory(code="BR-Y", district="西湖区", takes_all_billers=True)
        account_a = CustomerAccountFactory(biller=biller_a, account_no="11110001")
        account_b = CustomerAccountFactory(biller=biller_b, account_no="22220002")
        BillFactory(account=account_a, period="2026-10", amount_due=Decimal("100.00"))
        BillFactory(account=account_a, period="2026-11", amount_due=Decimal("50.00"))
        BillFactory(account=account_b, period="2026-11", amount_due=Decimal("70.00"))
        payment_a = pay(account_a, "100.00", key="a-online").payment
        pay(account_a, "50.00", key="a-x", channel=Channel.COUNTER, branch=branch_x)
        pay(account_b, "70.00", key="b-y", channel=Channel.COUNTER, branch=branch_y)
        branch_y.status = BranchStatus.SUSPENDED
        branch_y.save(update_fields=["status"])
        BillerStaff.objects.create(user=users["bob"], biller=biller_a)
        BranchStaff.objects.create(user=users["dave"], branch=branch_x, role=BranchRole.CLERK)
        BranchStaff.objects.create(user=users["erin"], branch=branch_x, role=BranchRole.SUPERVISOR)
        for biller in (biller_a, biller_b):
            BillImportJob.objects.create(
                biller=biller,
                created_by=users["alice"],
                file_name="bills.csv",
                data=b"",
                status=BillImportJob.Status.FAILED,
            )
        _discrepancy(MatchClass.AMOUNT_MISMATCH, 0)
        _discrepancy(MatchClass.AMOUNT_MISMATCH, 3)
        _discrepancy(MatchClass.MISSING_PLATFORM, 10, status=DiscrepancyStatus.AWAITING_APPROVAL)
        _discrepancy(MatchClass.DUPLICATE, 1, status=DiscrepancyStatus.RESOLVED, resolution="reverse_ours")
        today = timezone.localdate()
        SettlementBatch.objects.create(
            reference="S-A", biller=biller_a, business_date=today, gross=150, fees=0, net=150
        )
        SettlementBatch.objects.create(
            reference="S-B",
            biller=biller_b,
            business_date=today - datetime.timedelta(days=1),
            gross=70,
            fees=0,
            net=70,
            status=SettlementStatus.CONFIRMED,
        )
        failed_tasks.record_failure(task_name="billing.tasks.example", args=[1], error="boom", attempts=3)
        access_a = api_services.ensure_biller_api_access(biller=biller_a, actor=users["alice"])
        WebhookDelivery.objects.create(
            biller_access=access_a,
            event=WebhookEvent.PAYMENT_POSTED,
            payment=payment_a,
            event_id="evt-1",
            payload={},
            status=DeliveryStatus.FAILED,
            attempts=8,
        )
        return users


def panels(world, name) -> dict[str, dashboard.Chart]:
    user = get_user_model().objects.get(pk=world[name].pk)  # a fresh user: no cached roles
    return {panel.key: panel.chart for panel in dashboard.panels_for(user)}


def rows(chart) -> list[tuple]:
    return [tuple(row) for row in chart.rows]


def test_the_platform_admin_sees_every_panel_with_every_billers_and_outlets_figures(world):
    shown = panels(world, "alice")
    assert list(shown) == [
        "payments_by_channel",
        "payments_by_hour",
        "collections_by_biller",
        "approvals",
        "discrepancies",
        "disputes",
        "settlements",
        "outlets",
        "low_float",
        "failed_tasks",
    ]
    assert rows(shown["payments_by_channel"]) == [
        ("现金柜台", 2, Decimal("120.00")),
        ("线上", 1, Decimal("100.00")),
    ]
    assert sum(row[1] for row in rows(shown["payments_by_hour"])) == 3
    assert rows(shown["collections_by_biller"]) == [
        ("甲水务", Decimal("150.00"), 2),
        ("乙水务", Decimal("70.00"), 1),
    ]
    assert rows(shown["approvals"]) == [
        ("已提交、等待另一位管理员批准的缴费单位", 1),  # NEW-C
        ("等待另一位对账员批准的核销", 1),
    ]
    assert shown["approvals"].links == ["/admin/billing/biller/", "/admin/reconciliation/discrepancy/"]
    # Open ones by class, then by age: 0-1, 2-7, over 7 days; the resolved one is left out.
    assert rows(shown["discrepancies"]) == [
        ("金额不符", 2, 1, 1, 0),
        ("平台缺失（长款）", 1, 0, 0, 1),
    ]
    today = timezone.localdate()
    yesterday = today - datetime.timedelta(days=1)
    assert rows(shown["settlements"]) == [
        (f"{today:%m-%d} 已生成", 1, Decimal("150.00")),
        (f"{yesterday:%m-%d} 已获缴费单位银行确认", 1, Decimal("70.00")),
    ]
    assert rows(shown["outlets"]) == [("江南区", 1, 0, 0), ("西湖区", 0, 1, 0)]
    assert rows(shown["failed_tasks"]) == [
        ("重试用尽、尚未重新发送的任务", 1),
        ("失败的账单导入（近 7 天）", 2),
        ("重试用尽仍未送达的 Webhook 通知（近 7 天）", 1),
    ]


def test_a_biller_operator_sees_only_its_billers_payments_and_imports(world):
    shown = panels(world, "bob")
    assert set(shown) == {
        "payments_by_channel",
        "payments_by_hour",
        "collections_by_biller",
        "approvals",
        "failed_tasks",
    }
    assert sum(row[1] for row in rows(shown["payments_by_channel"])) == 2
    assert rows(shown["collections_by_biller"]) == [("甲水务", Decimal("150.00"), 2)]
    assert list(dict(rows(shown["approvals"])).values()) == [0]  # NEW-C is not its biller
    assert list(dict(rows(shown["failed_tasks"])).values()) == [1]  # its import; webhooks are the platform's


@pytest.mark.parametrize("name", ["dave", "erin"])
def test_an_outlets_staff_see_only_their_outlets_takings_and_the_outlet_itself(world, name):
    shown = panels(world, name)
    own = {"payments_by_channel", "payments_by_hour", "collections_by_biller", "outlets"}
    # The supervisor also watches the operator's agents' floats (issue 18, item 4).
    assert set(shown) == own | ({"low_float"} if name == "erin" else set())
    assert rows(shown["payments_by_channel"]) == [("现金柜台", 1, Decimal("50.00"))]
    assert rows(shown["collections_by_biller"]) == [("甲水务", Decimal("50.00"), 1)]
    assert rows(shown["outlets"]) == [("江南区", 1, 0, 0)]


def test_a_reconciliation_officer_sees_payments_exceptions_settlement_and_write_offs(world):
    shown = panels(world, "frank")
    assert set(shown) == {
        "payments_by_channel",
        "payments_by_hour",
        "collections_by_biller",
        "approvals",
        "discrepancies",
        "disputes",
        "settlements",
    }
    assert len(rows(shown["approvals"])) == 1  # write-offs only: billers are the platform admins'
    assert sum(row[1] for row in rows(shown["discrepancies"])) == 3


@pytest.mark.parametrize("name", list(USER_ROLES))
def test_each_panel_is_one_query(world, name, django_assert_max_num_queries):
    user = get_user_model().objects.get(pk=world[name].pk)
    dashboard.panels_for(user)  # warm: the user's roles are read once and kept on the user
    with django_assert_max_num_queries(13):  # 8 panels (disputes and low floats added) + 5 gathered lines
        dashboard.panels_for(user)


def test_the_admin_index_draws_each_panel_with_a_table_behind_it_in_chinese(client, world):
    log_in(client, get_user_model().objects.get(pk=world["alice"].pk))
    page = client.get(reverse("admin:index")).content.decode()
    assert "今日概览" in page and "今日各渠道缴费" in page
    assert (
        page.count('<svg class="dashboard-chart" aria-hidden="true"') == 8
    )  # the disputes panel is empty: its sentence, no chart
    assert page.count('<table class="dashboard-table">') == 8
    assert "<caption>今日各渠道缴费</caption>" in page and '<th scope="row">江南区</th>' in page
    dashboard_html = page[page.index('<div class="staff-dashboard"') : page.index('<div id="content-main"')]
    assert "style=" not in dashboard_html and "<script" not in dashboard_html  # nothing the CSP refuses


def test_the_admin_index_dashboard_speaks_english_on_request(client, world):
    log_in(client, get_user_model().objects.get(pk=world["bob"].pk))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(reverse("admin:index")).content.decode()
    assert "Today at a glance" in page and "<caption>Today&#x27;s payments by channel</caption>" in page
    assert '<th scope="row">Water A</th>' in page and "Water B" not in page
