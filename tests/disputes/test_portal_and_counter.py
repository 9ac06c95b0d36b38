"""The portal (a citizen on their own payment) and the counter (a clerk for a cash payer) raise disputes with
the same taxonomy; overdue ones are escalated once and counted on the staff home."""

import datetime

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from billing import roles
from billing.choices import Channel
from billing.models import AuditEvent
from disputes import selectors, services
from disputes.models import Dispute
from payers.models import Payer
from tests.branches.conftest import make_user
from tests.factories import BranchFactory
from tests.support import log_in, pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def xiaoming(django_user_model):
    user = django_user_model.objects.create_user("xm", "xm@example.com", "pw-xm-12345")
    Payer.objects.create(user=user, mobile="+8613800138000")
    return user


@pytest.fixture
def her_payment(bill, xiaoming):
    return pay(bill.account, "128.40", key="SANDBOX:o-1", payer=xiaoming.payer).payment


@pytest.fixture
def someone_elses(water):
    from tests.factories import BillFactory, CustomerAccountFactory

    other = BillFactory(
        account=CustomerAccountFactory(biller=water, account_no="31007777"), amount_due="30.00"
    )
    return pay(other.account, "30.00", key="SANDBOX:o-2").payment


def test_a_citizen_raises_a_dispute_on_her_payment_and_is_told_in_chinese(
    client, xiaoming, her_payment, django_capture_on_commit_callbacks
):
    log_in(client, xiaoming)
    page = client.get(reverse("disputes:portal_new"), {"receipt": her_payment.receipt_no}).content.decode()
    assert "提出争议" in page and "D12 已缴费但账单仍显示欠费" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("disputes:portal_new"),
            {"reason": "D12", "receipt_no": her_payment.receipt_no, "contact_email": "xm@example.com"},
        )
    dispute = Dispute.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "disputes:portal_detail", args=[dispute.ref]
    )
    assert (dispute.channel, dispute.payer_user, dispute.answerer) == ("portal", xiaoming, "biller")
    assert dispute.ref in mail.outbox[-1].subject and "我们已收到" in mail.outbox[-1].subject
    detail = client.get(response["Location"]).content.decode()
    assert dispute.ref in detail and "处理中" in detail
    assert dispute.ref in client.get(reverse("disputes:portal_list")).content.decode()


def test_a_citizen_cannot_dispute_someone_elses_payment(client, xiaoming, someone_elses):
    log_in(client, xiaoming)
    response = client.post(
        reverse("disputes:portal_new"),
        {"reason": "D13", "receipt_no": someone_elses.receipt_no, "contact_email": "xm@example.com"},
    )
    assert response.status_code == 200
    assert f"您没有凭证号为 {someone_elses.receipt_no} 的缴费。" in response.content.decode()
    assert Dispute.objects.count() == 0 and not AuditEvent.objects.filter(action="dispute.raised").exists()


def test_a_citizen_cannot_see_another_citizens_dispute(client, xiaoming, django_user_model, her_payment):
    theirs = services.raise_dispute(
        channel="portal",
        user=xiaoming,
        reason="D17",
        receipt_no=her_payment.receipt_no,
        contact_email="x@e.com",
    )
    other = django_user_model.objects.create_user("li", "li@example.com", "pw-li-12345")
    log_in(client, other)
    assert client.get(reverse("disputes:portal_detail", args=[theirs.ref])).status_code == 404
    assert client.post(reverse("disputes:portal_close", args=[theirs.ref])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "open"


def test_a_citizen_withdraws_her_dispute(client, xiaoming, her_payment):
    dispute = services.raise_dispute(
        channel="portal",
        user=xiaoming,
        reason="D17",
        receipt_no=her_payment.receipt_no,
        contact_email="x@e.com",
    )
    log_in(client, xiaoming)
    client.post(reverse("disputes:portal_close", args=[dispute.ref]))
    dispute.refresh_from_db()
    assert dispute.status == "closed" and dispute.outcome == "withdrawn"


@pytest.fixture
def cash_payment(water, django_user_model):
    from tests.factories import BillFactory, CustomerAccountFactory

    branch = BranchFactory(code="BR-Q")
    clerk = make_user(django_user_model, "dave", roles.BRANCH_CLERK, branch)
    bill = BillFactory(
        account=CustomerAccountFactory(biller=water, account_no="31005555"), amount_due="60.00"
    )
    payment = pay(bill.account, "60.00", key="ctr-1", channel=Channel.COUNTER, branch=branch).payment
    return clerk, payment


def test_a_clerk_raises_a_dispute_for_a_cash_payer(client, cash_payment):
    clerk, payment = cash_payment
    log_in(client, clerk)
    assert "为客户提出争议" in client.get(reverse("disputes:counter_new")).content.decode()
    response = client.post(
        reverse("disputes:counter_new"),
        {
            "reason": "D22",
            "receipt_no": payment.receipt_no,
            "contact_name": "王五",
            "contact_phone": "13900000000",
        },
    )
    dispute = Dispute.objects.get()
    assert dispute.ref in response.content.decode()
    assert (dispute.channel, dispute.source, dispute.raised_by, dispute.payment) == (
        "counter",
        "BR-Q",
        clerk,
        payment,
    )


def test_a_citizen_is_not_let_into_the_counters_dispute_page(client, xiaoming):
    log_in(client, xiaoming)
    assert client.get(reverse("disputes:counter_new")).status_code in (302, 403)


def test_the_counter_cannot_dispute_an_online_payment(client, cash_payment, her_payment):
    clerk, _payment = cash_payment
    log_in(client, clerk)
    response = client.post(
        reverse("disputes:counter_new"),
        {
            "reason": "D13",
            "receipt_no": her_payment.receipt_no,
            "contact_name": "王五",
            "contact_phone": "139",
        },
    )
    assert "您没有凭证号为" in response.content.decode() and Dispute.objects.count() == 0


def test_the_counter_refuses_a_d11_without_a_payment_cash_is_counted_at_the_till(client, cash_payment):
    clerk, _payment = cash_payment
    log_in(client, clerk)
    response = client.post(
        reverse("disputes:counter_new"),
        {
            "reason": "D11",
            "biller_code": "WATER01",
            "account_no": "31005678",
            "amount": "60.00",
            "channel_ref": "CASH-1",
            "contact_name": "王五",
            "contact_phone": "13900000000",
        },
    )
    assert response.status_code == 200
    assert "现金在柜台清点" in response.content.decode() and Dispute.objects.count() == 0


def test_an_overdue_dispute_is_escalated_once_and_counted_on_the_staff_home(her_payment, xiaoming):
    dispute = services.raise_dispute(
        channel="portal",
        user=xiaoming,
        reason="D13",
        receipt_no=her_payment.receipt_no,
        contact_email="x@e.com",
    )
    assert services.escalate_overdue() == []
    later = dispute.due_at + datetime.timedelta(seconds=1)
    assert services.escalate_overdue(now=later) == [dispute.pk]
    assert services.escalate_overdue(now=later) == []
    dispute.refresh_from_db()
    assert dispute.status == "escalated" and dispute.escalated_at is not None
    assert AuditEvent.objects.filter(action="dispute.escalated").count() == 1
    assert selectors.open_disputes_by_answerer(None, timezone.localdate()) == [("platform", 1, 1)]


def test_a_citizens_d11_from_the_portal_is_settled_from_the_online_statement(client, xiaoming, bill):
    from billing.models import Payment
    from reconciliation import services as recon
    from reconciliation import tasks
    from tests.reconciliation.conftest import billpay_csv

    log_in(client, xiaoming)
    client.post(
        reverse("disputes:portal_new"),
        {
            "reason": "D11",
            "biller_code": "WATER01",
            "account_no": "31005678",
            "amount": "128.40",
            "channel_ref": "SBX-LOST-1",
            "contact_email": "xm@example.com",
        },
    )
    dispute = Dispute.objects.get()
    day = timezone.localdate()
    csv = billpay_csv(day, [("PAYMENT", "SBX-LOST-1", "128.40", "", None)]).replace(
        b",SBX-LOST-1,,,,", b",SBX-LOST-1,,WATER01,31005678,"
    )
    recon.reconcile_file(channel_code="ONLINE:SANDBOX", business_date=day, data=csv, file_name="s")
    assert tasks.resolve_disputed_debits() == {"posted": 1}
    dispute.refresh_from_db()
    payment = Payment.objects.get()
    assert dispute.outcome == "payment_posted" and dispute.resolution_payment == payment
    assert payment.payer.user == xiaoming and payment.idempotency_key == "SANDBOX:SBX-LOST-1"
    assert (
        payment.receipt_no
        in client.get(reverse("disputes:portal_detail", args=[dispute.ref])).content.decode()
    )
