"""The staff side in Debian's chromium under the Content-Security-Policy: the admin index draws its dashboard
(server-side SVG bars and tables) with no violation, and a background bill import's progress page swaps its
status region in place when the job finishes, then stops polling."""

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from billing import roles
from billing.models import BillImportJob
from tests.csp_watch import watch_csp
from tests.factories import BillerFactory
from tests.staff_login import sign_in_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_dashboard_and_a_running_imports_live_progress_under_the_csp(
    live_server, page, screenshot, django_user_model
):
    biller = BillerFactory(code="WATER-L", name="滨江水务")
    admin = django_user_model.objects.create_user("alice", "a@example.com", "pw-alice-1234", is_staff=True)
    admin.groups.add(Group.objects.get(name=roles.PLATFORM_ADMIN))
    job = BillImportJob.objects.create(
        biller=biller,
        created_by=admin,
        file_name="bills.csv",
        data=b"",
        status=BillImportJob.Status.RUNNING,
        rows_total=10,
        rows_done=4,
    )
    violations = watch_csp(page)
    sign_in_in_browser(page, live_server.url, admin, "pw-alice-1234")
    assert page.locator(".staff-dashboard h2").inner_text() == "今日概览"
    assert page.locator(".dashboard-panel").count() == 10  # empty ones say so; counts draw bars and a table
    assert page.locator(".dashboard-panel svg + table caption").count() == 2
    screenshot("staff-dashboard")

    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if "/status/" in request.url else None)
    page.goto(f"{live_server.url}/admin/billing/bill/import-jobs/{job.pk}/")
    assert page.locator("[aria-live=polite] #job-percent").inner_text() == "40%"
    page.evaluate("window.sameDocument = 'still here'")
    BillImportJob.objects.filter(pk=job.pk).update(
        status=BillImportJob.Status.DONE,
        rows_done=10,
        summary={"rows": 10, "created": 10, "updated": 0, "unchanged": 0},
        finished_at=timezone.now(),
    )
    page.wait_for_selector("#job-summary", timeout=10_000)
    assert page.locator("#job-percent").inner_text() == "100%"
    assert "新增 10 张账单" in page.locator("#job-summary").inner_text()
    assert page.evaluate("window.sameDocument") == "still here"  # swapped in place, not reloaded
    polled = len(polls)
    page.wait_for_timeout(3000)  # more than one polling interval
    assert polls and len(polls) == polled
    assert violations == []
