"""A citizen files a complaint from a receipt in Chromium; the officer sees the day's report chart."""

import pytest
from django.contrib.auth.models import Group

from billing import roles
from reconciliation import services
from reconciliation.models import Complaint
from tests.reconciliation.conftest import CHANNEL, Shop, billpay_csv
from tests.staff_login import sign_in_in_browser


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_citizen_files_a_complaint_and_an_officer_reads_the_report(
    live_server, page, screenshot, django_user_model
):
    from django.utils import timezone

    shop = Shop()
    payment = shop.pay("88.00")
    shop.pay("20.00")
    today = timezone.localdate()
    lines = [("PAYMENT", payment.channel_ref, "88.00", "", None), ("PAYMENT", "GHOST", "5.00", "", None)]
    services.reconcile_file(
        channel_code=CHANNEL, business_date=today, data=billpay_csv(today, lines), file_name="s"
    )

    page.goto(f"{live_server.url}/complaints/new/?receipt={payment.receipt_no}")
    page.get_by_label("已缴费但账单仍显示欠费").check()
    page.get_by_label("您的姓名").fill("张三")
    page.get_by_label("电子邮箱").fill("zhang@example.com")
    screenshot("recon-complaint-form")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url("**/complaints/*/")
    assert page.locator(".status").inner_text() == "已登记"
    screenshot("recon-complaint-status")
    assert Complaint.objects.get().payment == payment

    officer = django_user_model.objects.create_user("frank", "f@example.com", "pw-frank-1234", is_staff=True)
    officer.groups.add(Group.objects.get(name=roles.RECONCILIATION_OFFICER))
    sign_in_in_browser(page, live_server.url, officer, "pw-frank-1234")  # the officer must pass TOTP too
    page.goto(f"{live_server.url}/admin/reconciliation/reconciliationrun/report/?day={today:%Y-%m-%d}")
    assert page.locator("svg rect.bar-matched").count() == 1
    assert page.locator("svg rect.bar-missing_platform").get_attribute("width") != "0"
    screenshot("recon-daily-report")
