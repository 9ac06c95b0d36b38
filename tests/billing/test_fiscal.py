"""Fiscal e-receipts (issue 17, item 5), over real HTTP: the sandbox fiscal issuer (billing/sandbox_fiscal) is
served by pytest-django's live server and the platform calls it through billing.fiscal as it would call a
province's e-receipt platform. Requested from the outbox's payment events once per event id, issued with
retries, refused when the issuer's answer cannot be trusted, reversed in red letters when the payment is."""

import base64
import hashlib
import importlib
import threading
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings
from django.urls import clear_url_caches

from billing import failed_tasks, fiscal, outbox
from billing.choices import PaymentStatus
from billing.fiscal_models import FiscalIssuerKind, FiscalReceipt, FiscalSetup, FiscalStatus
from billing.models import AuditEvent, FailedTask, JournalEntry, OutboxEvent
from billing.sandbox_fiscal import store
from billing.services import reverse_payment
from config import retries
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory
from tests.support import pay

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "sandbox-fiscal-test-secret-5c2a"
AGENCY = "330100NT001"


@pytest.fixture(autouse=True)
def _sandboxes_mounted():
    from config import urls

    if not any(str(p.pattern) == "sandbox-fiscal/" for p in urls.urlpatterns):
        with override_settings(SANDBOX_BANK_ENABLED=True, SANDBOX_BANK_KEY=settings.SANDBOX_BANK_KEY or "k"):
            importlib.reload(urls)
        clear_url_caches()


def configure(biller, live_server, *, agency=AGENCY, issuer=FiscalIssuerKind.SANDBOX):
    return FiscalSetup.objects.create(
        biller=biller,
        issuer=issuer,
        agency_code=agency,
        endpoint_url=f"{live_server.url}/sandbox-fiscal/{agency}",
        key_id="FK-TEST",
        secret=SECRET,
        timeout_seconds=Decimal("5"),
    )


@pytest.fixture
def office(live_server):
    """A non-tax office (a natural-resources bureau) whose payments get fiscal e-receipts."""
    biller = BillerFactory(code="NTAX01", name="滨江区自然资源局", name_en="Binjiang Land Bureau")
    configure(biller, live_server)
    return biller


def notice_bill(biller, notice_no="3301002026000123", account_no="20260001", amount="250.00"):
    account = CustomerAccountFactory(biller=biller, account_no=account_no, holder_name="王五")
    return BillFactory(account=account, amount_due=Decimal(amount), notice_no=notice_no)


def paid(bill, key="fk-1"):
    payment = pay(bill.account, bill.amount_due, key=key).payment
    outbox.relay()  # the relay also ran on commit; whatever is left is published now
    return payment


def test_a_payment_to_a_configured_biller_gets_its_fiscal_receipt_referring_to_its_notice(office):
    payment = paid(notice_bill(office))

    receipt = FiscalReceipt.objects.get(payment=payment)
    assert receipt.status == FiscalStatus.ISSUED
    assert receipt.notice_no == "3301002026000123"
    assert len(receipt.invoice_code) == 8 and len(receipt.invoice_no) == 10
    assert len(receipt.check_code) == 6
    pdf = bytes(receipt.pdf)
    assert pdf.startswith(b"%PDF-") and hashlib.sha256(pdf).hexdigest() == receipt.pdf_sha256
    assert store.calls(AGENCY, "issue", payment.receipt_no) == 1
    actions = set(AuditEvent.objects.filter(target_id=str(receipt.pk)).values_list("action", flat=True))
    assert {"fiscal_receipt.requested", "fiscal_receipt.issued"} <= actions
    issued_event = OutboxEvent.objects.get(type="fiscal_receipt.issued")
    assert issued_event.payload["invoice_no"] == receipt.invoice_no
    assert issued_event.payload["notice_no"] == receipt.notice_no


def test_a_biller_not_configured_issues_nothing(office, live_server):
    other = BillerFactory(code="WATER9")
    quiet = BillerFactory(code="NTAX02")
    configure(quiet, live_server, agency="330100NT002", issuer=FiscalIssuerKind.NONE)
    first = paid(notice_bill(other, account_no="20260002"), key="fk-2")
    second = paid(notice_bill(quiet, account_no="20260003"), key="fk-3")
    assert not FiscalReceipt.objects.exists()
    assert store.calls(AGENCY, "issue", first.receipt_no) == 0
    assert store.calls("330100NT002", "issue", second.receipt_no) == 0


def test_an_issuer_that_is_down_is_retried_then_failed_for_staff_and_the_payment_stands(office, admin_user):
    store.set_mode(AGENCY, store.DOWN)
    payment = paid(notice_bill(office))
    entries = JournalEntry.objects.count()
    receipt = FiscalReceipt.objects.get(payment=payment)
    assert receipt.status == FiscalStatus.REQUESTED and "unavailable" in receipt.last_error

    for attempt in range(2, retries.FISCAL_ISSUER.max_attempts + 1):  # the retries the policy schedules
        outcome = fiscal.work(receipt_id=receipt.pk, attempt=attempt)
    assert outcome == FiscalStatus.FAILED
    receipt.refresh_from_db()
    assert receipt.status == FiscalStatus.FAILED and not receipt.invoice_no
    failed = FailedTask.objects.get(task_name=fiscal.WORK_TASK)
    assert failed.args == [receipt.pk]
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.POSTED and JournalEntry.objects.count() == entries

    store.set_mode(AGENCY, None)  # the issuer is back: staff send the task again from the admin
    failed_tasks.retry_failed_task(failed_task=failed, actor=admin_user)
    receipt.refresh_from_db()
    assert receipt.status == FiscalStatus.ISSUED and receipt.invoice_no
    assert AuditEvent.objects.filter(action="fiscal_receipt.retried", actor=admin_user).exists()


@pytest.mark.parametrize("mode", [store.BAD_SIGNATURE, store.MALFORMED])
def test_an_answer_that_cannot_be_trusted_is_refused_and_nothing_of_it_kept(office, mode):
    store.set_mode(AGENCY, mode)
    payment = paid(notice_bill(office))
    receipt = FiscalReceipt.objects.get(payment=payment)
    assert receipt.status == FiscalStatus.REQUESTED
    assert (receipt.invoice_no, receipt.check_code, bytes(receipt.pdf)) == ("", "", b"")
    assert ("bad signature" if mode == store.BAD_SIGNATURE else "bad answer") in receipt.last_error
    assert not OutboxEvent.objects.filter(type="fiscal_receipt.issued").exists()

    store.set_mode(AGENCY, None)  # the next try asks whether it was issued, and takes it
    assert fiscal.work(receipt_id=receipt.pk, attempt=2) == FiscalStatus.ISSUED
    assert store.calls(AGENCY, "query", payment.receipt_no) == 1


def test_a_file_that_is_not_the_one_its_hash_names_is_refused():
    pdf = b"%PDF-1.4 a receipt"
    answer = {
        "business_no": "R1",
        "invoice_code": "33012601",
        "invoice_no": "0000000001",
        "check_code": "ABC123",
        "issued_at": "2026-12-02T10:00:00+08:00",
        "pdf_base64": base64.b64encode(pdf + b" changed").decode(),
        "pdf_sha256": hashlib.sha256(pdf).hexdigest(),
    }
    with pytest.raises(fiscal.IssuerError, match="not the PDF"):
        fiscal.read_issued(answer, "R1")
    with pytest.raises(fiscal.IssuerError, match="another payment"):
        fiscal.read_issued({**answer, "business_no": "R2"}, "R1")


def test_reversing_a_paid_notice_requests_its_red_letter_reversal_once(office, admin_user):
    payment = paid(notice_bill(office))
    reverse_payment(payment=payment, actor=admin_user, reason="重复缴款")
    outbox.relay()

    receipt = FiscalReceipt.objects.get(payment=payment)
    assert receipt.status == FiscalStatus.REVERSED
    assert receipt.red_invoice_no and receipt.red_invoice_code != receipt.invoice_code
    assert store.calls(AGENCY, "reverse", payment.receipt_no) == 1

    event = OutboxEvent.objects.get(type="payment.reversed")
    with transaction.atomic():  # the relay offers the event again (a relay that died after its consumers)
        assert fiscal.receipts_for_events([event]) == []
    assert store.calls(AGENCY, "reverse", payment.receipt_no) == 1
    assert AuditEvent.objects.filter(action="fiscal_receipt.reversal_requested").count() == 1


def test_a_payment_reversed_before_its_receipt_was_issued_is_issued_then_reversed(office, admin_user):
    store.set_mode(AGENCY, store.DOWN)
    payment = paid(notice_bill(office))
    reverse_payment(payment=payment, actor=admin_user, reason="错缴")
    outbox.relay()
    receipt = FiscalReceipt.objects.get(payment=payment)
    assert receipt.status == FiscalStatus.REVERSAL_REQUESTED

    store.set_mode(AGENCY, None)
    assert fiscal.work(receipt_id=receipt.pk, attempt=2) == FiscalStatus.REVERSED
    receipt.refresh_from_db()
    assert receipt.invoice_no and receipt.red_invoice_no
    assert not OutboxEvent.objects.filter(type="fiscal_receipt.issued").exists()  # nobody is told of it


def test_a_replayed_event_issues_once_even_side_by_side(office, monkeypatch):
    monkeypatch.setattr(outbox, "relay_soon", lambda: None)  # the two threads below are the relays
    payment = pay(notice_bill(office).account, "250.00", key="fk-9").payment
    event = OutboxEvent.objects.get(type="payment.posted")
    barrier = threading.Barrier(2)
    queued, errors = [], []

    def relay_again():
        try:
            barrier.wait(timeout=5)
            with transaction.atomic():
                queued.append(fiscal.receipts_for_events([event]))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=relay_again) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert sorted(len(ids) for ids in queued) == [0, 1]
    receipt = FiscalReceipt.objects.get(payment=payment)
    assert receipt.status == FiscalStatus.ISSUED
    assert store.calls(AGENCY, "issue", payment.receipt_no) == 1

    # The same task twice (a retry and a redelivery): the receipt is no longer workable, nobody is called.
    assert fiscal.work(receipt_id=receipt.pk) == FiscalStatus.ISSUED
    assert store.calls(AGENCY, "issue", payment.receipt_no) == 1


# --- where the payer, the counter and the biller see it -------------------------------------------------


def test_the_payer_is_sent_the_issued_receipt_by_mail_and_text_message(office, settings, mailoutbox):
    from payers import sms
    from tests.factories import PayerFactory

    settings.SMS_BACKEND = "payers.sms.LocmemSMSBackend"
    sms.outbox.clear()
    payer = PayerFactory(
        email="wang@example.cn", mobile="13800000001", mobile_verified=True, language="zh-hans"
    )
    bill = notice_bill(office)
    payment = pay(bill.account, bill.amount_due, key="fk-5", payer=payer).payment
    outbox.relay()
    receipt = FiscalReceipt.objects.get(payment=payment)
    assert receipt.status == FiscalStatus.ISSUED
    (mail,) = mailoutbox
    assert mail.to == ["wang@example.cn"]
    assert receipt.invoice_no in mail.subject and receipt.check_code in mail.subject
    assert "3301002026000123" in mail.body and "/receipts/" in mail.body
    assert [m.to for m in sms.outbox] == ["13800000001"]


def test_the_receipt_page_shows_the_fiscal_receipt_and_hands_over_its_file(office, client):
    from payers import selectors

    payment = paid(notice_bill(office))
    receipt = FiscalReceipt.objects.get(payment=payment)
    token = selectors.receipt_token(payment)
    page = client.get(f"/receipts/{token}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert receipt.invoice_no in page and receipt.check_code in page
    assert "3301002026000123" in page  # the notice number, on the receipt's own lines too
    response = client.get(f"/receipts/{token}/fiscal.pdf")
    assert response.status_code == 200 and response.content == bytes(receipt.pdf)
    assert client.get("/receipts/not-a-token/fiscal.pdf").status_code == 404


def test_the_biller_api_returns_the_fiscal_receipt_of_a_payment(office, client, admin_user):
    from api import services as api_services
    from tests.api.conftest import SignedClient

    payment = paid(notice_bill(office))
    receipt = FiscalReceipt.objects.get(payment=payment)
    access = api_services.ensure_biller_api_access(biller=office, actor=admin_user)
    issued = api_services.issue_credential(owner=access, actor=admin_user)
    biller_api = SignedClient(client, issued.credential.key_id, issued.secret)
    response = biller_api.get(f"/api/v1/biller/receipts/{payment.receipt_no}")
    assert response.status_code == 200, response.content
    body = response.json()["fiscal_receipt"]
    assert body["status"] == "issued" and body["notice_no"] == "3301002026000123"
    assert (body["invoice_code"], body["invoice_no"], body["check_code"]) == (
        receipt.invoice_code,
        receipt.invoice_no,
        receipt.check_code,
    )


def test_a_payment_notice_is_found_by_its_number_on_the_portal_and_at_the_counter(office, client):
    from branches import selectors as counter
    from tests.factories import BranchFactory

    notice_bill(office, notice_no="3301002026000777", account_no="20260077")
    page = client.get(f"/billers/{office.code}/?account_no=3301002026000777", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.status_code == 200
    assert page.context["lookup"].account.account_no == "20260077"
    branch = BranchFactory()
    found = counter.counter_lookup(query=" 3301002026000777 ", biller_code=office.code, branch=branch)
    assert found.account.account_no == "20260077"


def test_a_partner_enquires_by_payment_notice_number(office, client, admin_user):
    from api import services as api_services
    from api.models import Partner
    from tests.api.conftest import SignedClient

    notice_bill(office, notice_no="3301002026000778", account_no="20260078")
    partner = Partner.objects.create(code="ACME", name="Acme Pay", rate_limit_per_minute=1000)
    partner.allowed_categories.add(office.category)
    issued = api_services.issue_credential(owner=partner, actor=admin_user)
    api = SignedClient(client, issued.credential.key_id, issued.secret)
    response = api.get(f"/api/v1/partner/billers/{office.code}/accounts/3301002026000778")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["account_no"] == "20260078"
    assert [bill["notice_no"] for bill in body["bills"]] == ["3301002026000778"]


def test_a_receipt_whose_worker_died_is_found_and_finished(office):
    import datetime

    from django.utils import timezone

    store.set_mode(AGENCY, store.DOWN)
    payment = paid(notice_bill(office))
    receipt = FiscalReceipt.objects.get(payment=payment)
    assert fiscal.stalled_receipt_ids() == []  # waiting for its retry: not stalled
    FiscalReceipt.objects.filter(pk=receipt.pk).update(
        lease_token="dead", lease_until=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert fiscal.stalled_receipt_ids() == [receipt.pk]
    store.set_mode(AGENCY, None)
    from billing.tasks import resume_fiscal_receipts

    assert resume_fiscal_receipts() == 1
    receipt.refresh_from_db()
    assert receipt.status == FiscalStatus.ISSUED and fiscal.stalled_receipt_ids() == []


def test_a_billers_operator_sees_only_its_own_fiscal_receipts_in_the_admin(office, live_server, client):
    from django.contrib.auth import get_user_model

    from billing import roles
    from billing.models import BillerStaff
    from tests.support import make_staff

    other = BillerFactory(code="NTAX03")
    configure(other, live_server, agency="330100NT003")
    mine = FiscalReceipt.objects.get(payment=paid(notice_bill(office)))
    paid(notice_bill(other, notice_no="3301002026000999", account_no="20269999"), key="fk-7")
    bob = make_staff(get_user_model(), "bob", roles.BILLER_OPERATOR)
    BillerStaff.objects.create(user=bob, biller=office)
    client.force_login(bob)
    listed = client.get("/admin/billing/fiscalreceipt/")
    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == [mine]
    assert client.get(f"/admin/billing/fiscalreceipt/{mine.pk}/change/").status_code == 200
    assert client.post(f"/admin/billing/fiscalreceipt/{mine.pk}/delete/").status_code == 403
    assert client.get("/admin/billing/fiscalsetup/").status_code == 403


def test_the_receipt_page_polls_its_fiscal_receipt_while_it_is_being_issued(office, client):
    from payers import selectors

    store.set_mode(AGENCY, store.DOWN)
    payment = paid(notice_bill(office))
    token = selectors.receipt_token(payment)
    page = client.get(f"/receipts/{token}/").content.decode()
    assert f'hx-get="/receipts/{token}/fiscal/"' in page and "htmx-2.0.4.min.js" in page

    store.set_mode(AGENCY, None)
    receipt = FiscalReceipt.objects.get(payment=payment)
    fiscal.work(receipt_id=receipt.pk, attempt=2)
    fragment = client.get(f"/receipts/{token}/fiscal/").content.decode()
    receipt.refresh_from_db()
    assert receipt.invoice_no in fragment and "hx-get" not in fragment  # issued: the polling stops


def test_the_issuer_numbers_each_receipt_once_even_after_its_cache_is_gone(office):
    from django.core.cache import cache

    first = FiscalReceipt.objects.get(payment=paid(notice_bill(office)))
    cache.clear()  # the sandbox's modes and counts are disposable; what it issued is not
    second_bill = notice_bill(office, notice_no="3301002026000124", account_no="20260002")
    second = FiscalReceipt.objects.get(payment=paid(second_bill, key="fk-2"))
    assert first.invoice_code == second.invoice_code
    assert int(second.invoice_no) == int(first.invoice_no) + 1


def test_an_issuer_setting_without_address_or_secret_is_refused_in_the_admin(admin_client):
    biller = BillerFactory(code="NTAX05")
    response = admin_client.post(
        "/admin/billing/fiscalsetup/add/",
        {"biller": biller.pk, "issuer": "sandbox", "agency_code": "", "timeout_seconds": "5"},
    )
    assert response.status_code == 200  # the form again, with its errors
    errors = response.context["adminform"].form.errors
    assert {"endpoint_url", "agency_code", "key_id", "secret"} <= set(errors)
    assert not FiscalSetup.objects.exists()
