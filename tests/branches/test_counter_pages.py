"""The counter pages: login and role required, keyboard-first forms, a clerk sees only their branch."""

import datetime
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from billing.models import Payment
from branches import services
from branches.choices import TillStatus
from branches.models import Till
from branches.slips import slip_code_for
from tests.branches.conftest import PASSWORD
from tests.support import log_in, take_cash

pytestmark = pytest.mark.django_db


def form_key(response):
    return re.search(r'name="form_key" value="([0-9a-f]+)"', response.text).group(1)


@pytest.fixture
def dave_client(client, dave):
    log_in(client, dave)
    return client


def open_till(client):
    return client.post(reverse("counter:home"), {"branch": client.branch_id, "opening_float": "500.00"})


class TestAccess:
    def test_the_counter_needs_a_login(self, client):
        response = client.get(reverse("counter:home"))
        assert response.status_code == 302 and "/admin/login/" in response["Location"]

    def test_a_user_without_a_branch_role_is_refused(self, client, django_user_model):
        log_in(client, django_user_model.objects.create_user("nobody", password="x", is_staff=True))
        assert client.get(reverse("counter:home")).status_code == 403

    def test_a_clerk_cannot_see_another_branchs_receipt(self, client, dave, erin, branch_y, bill):
        till = services.open_till(clerk=erin, branch=branch_y, opening_float="0")
        taken = take_cash(erin, till, bill, "y1", tendered="86.50")
        receipt = taken.counter_payment.payment.receipt_no
        log_in(client, dave)
        assert client.get(reverse("counter:receipt", args=[receipt])).status_code == 404
        assert client.get(reverse("counter:void", args=[receipt])).status_code == 404
        assert client.get(reverse("counter:day_report_till", args=[till.pk])).status_code == 404

    def test_a_clerk_sees_no_other_branchs_till_or_payments_in_the_admin(
        self, client, dave, erin, branch_x, branch_y, bill
    ):
        till_y = services.open_till(clerk=erin, branch=branch_y, opening_float="0")
        take_cash(erin, till_y, bill, "y1", tendered="86.50")
        till_x = services.open_till(clerk=dave, branch=branch_x, opening_float="0")
        log_in(client, dave)
        tills = client.get(reverse("admin:branches_till_changelist"))
        assert list(tills.context["cl"].result_list) == [till_x]
        assert client.get(reverse("admin:branches_till_change", args=[till_y.pk])).status_code == 404
        payments = client.get(reverse("admin:branches_counterpayment_changelist"))
        assert list(payments.context["cl"].result_list) == []
        assert list(client.get(reverse("admin:billing_payment_changelist")).context["cl"].result_list) == []

    def test_a_supervisor_sees_the_reports_of_the_branch_only(self, client, sam, erin, branch_y, bill):
        till = services.open_till(clerk=erin, branch=branch_y, opening_float="0")
        take_cash(erin, till, bill, "y1", tendered="86.50")
        log_in(client, sam)
        response = client.get(reverse("counter:reports"), {"by": "branch"})
        assert response.status_code == 200
        assert response.context["rows"] == []
        assert "Y支局" not in response.text


class TestTheCounterFlow:
    def test_open_lookup_pay_receipt_and_close(self, dave_client, branch_x, bill):
        dave_client.branch_id = branch_x.pk
        assert open_till(dave_client).status_code == 302
        page = dave_client.get(reverse("counter:lookup"), {"biller": "WATER", "q": "12345678"})
        assert page.status_code == 200 and "2026-10" in page.text and "86.50" in page.text
        key = form_key(page)
        data = {
            "form_key": key,
            "biller": "WATER",
            "account_no": "12345678",
            "period": ["2026-10"],
            "amount": "86.50",
            "tendered": "100",
        }
        paid = dave_client.post(reverse("counter:pay"), data)
        assert paid.status_code == 302
        again = dave_client.post(reverse("counter:pay"), data)  # a retry after a network blip
        assert again["Location"] == paid["Location"]
        assert Payment.objects.count() == 1
        receipt = dave_client.get(paid["Location"])
        assert "13.50" in receipt.text and "branches/receipt.css" in receipt.text  # the 80 mm print styles
        assert "@page { size: 80mm auto" in Path(finders.find("branches/receipt.css")).read_text()
        closed = dave_client.post(
            reverse("counter:close"),
            {
                "n10000": "5",
                "n5000": "1",
                "n2000": "1",
                "n1000": "1",
                "n500": "1",
                "n100": "1",
                "n50": "1",
                "note": "",
            },
        )
        assert closed.status_code == 302
        till = Till.objects.get()
        assert till.status == TillStatus.CLOSED and till.variance == Decimal("0.00")
        report = dave_client.get(closed["Location"])
        assert "586.50" in report.text

    def test_a_scanned_slip_finds_the_bill(self, dave_client, dave, branch_x, bill):
        services.open_till(clerk=dave, branch=branch_x, opening_float="0")
        page = dave_client.get(reverse("counter:lookup"), {"q": slip_code_for(bill).text})
        assert page.status_code == 200
        assert page.context["lookup"].from_slip
        assert page.context["lookup"].selected_periods == {"2026-10"}

    def test_a_slip_past_its_due_date_is_refused_with_the_reason(self, dave_client, dave, branch_x, bill):
        services.open_till(clerk=dave, branch=branch_x, opening_float="0")
        code = slip_code_for(bill).text
        bill.due_date = timezone.localdate() - datetime.timedelta(days=1)
        bill.save()
        from branches.slips import SlipCode

        expired = SlipCode("WATER", "12345678", "2026-10", Decimal("86.50"), bill.due_date).text
        page = dave_client.get(reverse("counter:lookup"), {"q": expired})
        assert (
            "past its due date" in page.context["error"]
            or "逾期" in page.context["error"]
            or "已过" in page.context["error"]
        )
        assert code != expired

    def test_a_suspended_billers_account_is_refused_at_lookup(
        self, dave_client, dave, branch_x, bill, admin_user
    ):
        from billing.services import change_biller_status

        services.open_till(clerk=dave, branch=branch_x, opening_float="0")
        change_biller_status(biller=bill.biller, to_status="suspended", actor=admin_user, reason="系统升级")
        page = dave_client.get(reverse("counter:lookup"), {"biller": "WATER", "q": "12345678"})
        assert "系统升级" in page.context["error"]

    def test_lookup_without_an_open_till_goes_back_to_open_one(self, dave_client):
        response = dave_client.get(reverse("counter:lookup"), {"biller": "WATER", "q": "12345678"})
        assert response.status_code == 302 and response["Location"] == reverse("counter:home")

    def test_a_void_needs_the_supervisors_password(self, dave_client, dave, sam, branch_x, bill):
        till = services.open_till(clerk=dave, branch=branch_x, opening_float="0")
        taken = take_cash(dave, till, bill, "x1", tendered="86.50")
        url = reverse("counter:void", args=[taken.counter_payment.payment.receipt_no])
        wrong = dave_client.post(
            url, {"reason": "错", "supervisor_username": "sam", "supervisor_password": "nope"}
        )
        assert wrong.status_code == 200 and Payment.objects.get().status == "posted"
        right = dave_client.post(
            url, {"reason": "错", "supervisor_username": "sam", "supervisor_password": PASSWORD}
        )
        assert right.status_code == 302 and Payment.objects.get().status == "reversed"


def test_a_supervisors_day_report_shows_every_till_of_the_branch(client, dave, sam, erin, branch_x, branch_y):
    services.open_till(clerk=dave, branch=branch_x, opening_float="100")
    services.open_till(clerk=erin, branch=branch_y, opening_float="200")
    log_in(client, sam)
    reports = client.get(reverse("counter:day_report")).context["reports"]
    assert [report.till.clerk for report in reports] == [dave]
    log_in(client, dave)
    assert [r.till.clerk for r in client.get(reverse("counter:day_report")).context["reports"]] == [dave]


def test_the_receipt_offers_a_void_only_while_the_clerks_till_is_open(client, dave, sam, branch_x, bill):
    till = services.open_till(clerk=dave, branch=branch_x, opening_float="0")
    taken = take_cash(dave, till, bill, "v1", tendered="86.50")
    receipt = reverse("counter:receipt", args=[taken.counter_payment.payment.receipt_no])
    void = reverse("counter:void", args=[taken.counter_payment.payment.receipt_no])
    log_in(client, dave)
    assert void in client.get(receipt).text
    log_in(client, sam)
    assert void not in client.get(receipt).text
    services.close_till(
        till_id=till.pk, clerk=dave, counts={5000: 1, 2000: 1, 1000: 1, 500: 1, 100: 1, 50: 1}
    )
    log_in(client, dave)
    assert void not in client.get(receipt).text
