"""Bills fetched or validated live from a biller's own system (issue 17, items 1 and 7), over real HTTP: the
sandbox biller (billing/sandbox_biller) is served by pytest-django's live server, and the platform calls it
through billing.presentment as it calls a real biller. Every bad answer refuses with a message in the
payer's language and posts nothing; through the partner API, the counter and the portal."""

import datetime
import importlib
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import clear_url_caches
from django.utils import timezone, translation

from api import services as api_services
from api.models import Partner
from billing import presentment
from billing.choices import PaymentStatus
from billing.models import AuditEvent, Bill, BillerCategory, CustomerAccount, JournalEntry, Payment
from billing.presentment_models import BillerCheck, BillerLink, PresentmentMode, StandIn
from billing.sandbox_biller import store
from billing.services import post_payment
from tests.api.conftest import SignedClient
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "sandbox-biller-test-secret-7d1e"


@pytest.fixture(autouse=True)
def _sandbox_biller_mounted():
    """The sandbox biller's URLs are mounted with the sandboxes (SANDBOX_BANK_ENABLED)."""
    from config import urls

    if not any(str(p.pattern) == "sandbox-biller/" for p in urls.urlpatterns):
        with override_settings(SANDBOX_BANK_ENABLED=True, SANDBOX_BANK_KEY=settings.SANDBOX_BANK_KEY or "k"):
            importlib.reload(urls)
        clear_url_caches()


def _link(biller, live_server, mode, *, stand_in=StandIn.REFUSE, timeout="0.5"):
    return BillerLink.objects.create(
        biller=biller,
        mode=mode,
        endpoint_url=f"{live_server.url}/sandbox-biller/{biller.code}",
        key_id=f"BL-{biller.code}",
        secret=SECRET,
        timeout_seconds=Decimal(timeout),
        stand_in=stand_in,
        cache_seconds=60,
    )


@pytest.fixture
def power(live_server):
    """A fetch-mode power grid: its bills live in its own system."""
    biller = BillerFactory(code="POWER01", name="滨江电网", name_en="Binjiang Power Grid")
    _link(biller, live_server, PresentmentMode.FETCH)
    return biller


@pytest.fixture
def hospital(live_server):
    """A validate-mode hospital: its bills are pushed, and it accepts each payment before it is posted."""
    biller = BillerFactory(code="HOSP01", name="滨江人民医院", name_en="Binjiang People's Hospital")
    _link(biller, live_server, PresentmentMode.VALIDATE)
    return biller


def hospital_bill(biller, account_no, amount="320.00"):
    account = CustomerAccountFactory(biller=biller, account_no=account_no, holder_name="李四")
    return BillFactory(
        account=account,
        period="2026-11",
        amount_due=Decimal(amount),
        due_date=timezone.localdate() + datetime.timedelta(days=10),
    )


@pytest.fixture
def partner(admin_user):
    partner = Partner.objects.create(code="ACME", name="Acme Pay", rate_limit_per_minute=1000)
    partner.allowed_categories.add(BillerCategory.objects.get(code="water"))
    return partner


@pytest.fixture
def api(client, partner, admin_user):
    issued = api_services.issue_credential(owner=partner, actor=admin_user)
    return SignedClient(client, issued.credential.key_id, issued.secret)


def nothing_posted(before: int) -> bool:
    return JournalEntry.objects.count() == before and not Payment.objects.exists()


def partner_pay(api, biller, account_no, amount, *, key="k-1", language="en"):
    api.language = language
    return api.post(
        "/api/v1/partner/payments",
        {"biller_code": biller.code, "account_no": account_no, "amount": amount, "partner_ref": "REF-1"},
        idempotency_key=key,
    )


# --- fetch mode -----------------------------------------------------------------------------------------


def test_a_partner_enquiry_of_a_fetch_biller_brings_its_live_bill_in_as_a_bill_row(api, power):
    response = api.get(f"/api/v1/partner/billers/{power.code}/accounts/55550001")
    assert response.status_code == 200, response.content
    amount = store.current_amount(power.code, "55550001")
    bill = Bill.objects.get(account__biller=power, account__account_no="55550001")
    assert bill.amount_due == amount and bill.period == f"{timezone.localdate():%Y-%m}"
    assert response.json()["bills"][0]["amount_due"] == f"{amount:.2f}"


def test_a_fetched_bill_is_paid_through_the_partner_api_after_the_biller_is_asked_again(api, power):
    api.get(f"/api/v1/partner/billers/{power.code}/accounts/55550001")
    amount = store.current_amount(power.code, "55550001")
    response = partner_pay(api, power, "55550001", f"{amount:.2f}")
    assert response.status_code == 201, response.content
    payment = Payment.objects.get()
    assert payment.biller_check.status == BillerCheck.Status.ACCEPTED
    assert Bill.objects.get(account__account_no="55550001").status == "paid"


def test_a_partner_may_pay_a_fetch_billers_account_it_never_looked_up(api, power):
    amount = store.current_amount(power.code, "55550002")
    response = partner_pay(api, power, "55550002", f"{amount:.2f}")
    assert response.status_code == 201, response.content
    assert Payment.objects.get().biller_check.status == BillerCheck.Status.ACCEPTED


def test_the_biller_changing_the_amount_after_the_lookup_refuses_the_payment_in_both_languages(api, power):
    api.get(f"/api/v1/partner/billers/{power.code}/accounts/55559006")  # sees the bill at its first amount
    shown = Bill.objects.get(account__account_no="55559006").amount_due
    before = JournalEntry.objects.count()
    english = partner_pay(api, power, "55559006", f"{shown:.2f}")
    assert english.status_code == 409
    assert english.json()["error"]["code"] == "biller_amount_changed"
    assert "look the bills up again" in english.json()["error"]["message"]
    assert nothing_posted(before)
    # Each fetch sees it ¥10 higher; the stored bill now has the biller's latest amount, and Chinese reads it.
    shown = Bill.objects.get(account__account_no="55559006").amount_due
    chinese = partner_pay(api, power, "55559006", f"{shown:.2f}", language="zh-hans")
    assert chinese.json()["error"]["code"] == "biller_amount_changed"
    assert "未扣款" in chinese.json()["error"]["message"]
    assert nothing_posted(before)


@pytest.mark.parametrize(
    ("suffix", "code", "status"),
    [
        ("9001", "biller_timeout", 504),
        ("9002", "biller_bad_signature", 502),
        ("9003", "biller_bad_answer", 502),
    ],
)
def test_a_bad_answer_to_a_lookup_refuses_it_and_stores_nothing(api, power, suffix, code, status):
    response = api.get(f"/api/v1/partner/billers/{power.code}/accounts/5555{suffix}")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert "Binjiang Power Grid" in response.json()["error"]["message"]
    assert not CustomerAccount.objects.filter(biller=power).exists()


# --- validate mode --------------------------------------------------------------------------------------


def test_a_validated_payment_is_posted_with_the_billers_reference(api, hospital):
    hospital_bill(hospital, "66660001")
    response = partner_pay(api, hospital, "66660001", "320.00")
    assert response.status_code == 201, response.content
    check = Payment.objects.get().biller_check
    assert check.status == BillerCheck.Status.ACCEPTED
    assert check.biller_ref.startswith("SBV") and check.fiscal_receipt_no.startswith("FP")


@pytest.mark.parametrize(
    ("suffix", "code", "status", "english", "chinese"),
    [
        ("9001", "biller_timeout", 504, "did not answer in time", "未能及时答复"),
        ("9002", "biller_bad_signature", 502, "could not verify", "无法验证"),
        ("9003", "biller_bad_answer", 502, "could not read", "无法读取"),
        ("9005", "biller_declined", 422, "declined this payment", "拒绝了这笔缴费"),
        ("9006", "biller_amount_changed", 409, "now owes ¥330.00", "现欠费 ¥330.00"),
    ],
)
def test_a_bad_answer_to_a_validation_refuses_the_payment_in_both_languages_and_posts_nothing(
    api, hospital, suffix, code, status, english, chinese
):
    hospital_bill(hospital, f"6666{suffix}")
    before = JournalEntry.objects.count()
    for language, words in (("en", english), ("zh-hans", chinese)):
        response = partner_pay(api, hospital, f"6666{suffix}", "320.00", language=language)
        assert response.status_code == status, response.content
        assert response.json()["error"]["code"] == code
        assert words in response.json()["error"]["message"]
        assert nothing_posted(before)


def test_a_biller_down_with_the_refuse_rule_refuses_and_posts_nothing(api, hospital):
    hospital_bill(hospital, "66660001")
    store.set_down(hospital.code, True)
    before = JournalEntry.objects.count()
    response = partner_pay(api, hospital, "66660001", "320.00", language="zh-hans")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "biller_unavailable"
    assert "暂时无法连接" in response.json()["error"]["message"]
    assert nothing_posted(before)
    store.set_down(hospital.code, False)


def test_a_biller_that_cannot_be_reached_at_all_is_down(api, hospital):
    hospital_bill(hospital, "66660001")
    BillerLink.objects.filter(biller=hospital).update(endpoint_url="http://127.0.0.1:9/nothing-listens-here")
    response = partner_pay(api, hospital, "66660001", "320.00")
    assert response.json()["error"]["code"] == "biller_unavailable"
    assert not Payment.objects.exists()


def test_a_biller_down_with_the_accept_rule_takes_the_payment_and_confirms_it_later(api, hospital):
    BillerLink.objects.filter(biller=hospital).update(stand_in=StandIn.ACCEPT)
    hospital_bill(hospital, "66660001")
    store.set_down(hospital.code, True)
    response = partner_pay(api, hospital, "66660001", "320.00")
    assert response.status_code == 201, response.content
    check = Payment.objects.get().biller_check
    # Its confirmation ran after commit (eagerly here) and found the biller still down: tried again later.
    assert check.status == BillerCheck.Status.PENDING and check.attempts == 1
    assert "HTTP 503" in check.last_error
    assert AuditEvent.objects.filter(action="presentment.posted_under_stand_in").exists()

    store.set_down(hospital.code, False)
    assert presentment.confirm(check_id=check.pk, attempt=2) == BillerCheck.Status.CONFIRMED
    check.refresh_from_db()
    assert check.fiscal_receipt_no.startswith("FP")
    assert Payment.objects.get().status == PaymentStatus.POSTED


def test_a_confirmation_that_never_gets_an_answer_is_left_to_staff(api, hospital):
    from billing.models import FailedTask

    BillerLink.objects.filter(biller=hospital).update(stand_in=StandIn.ACCEPT)
    hospital_bill(hospital, "66660001")
    store.set_down(hospital.code, True)
    partner_pay(api, hospital, "66660001", "320.00")
    check = BillerCheck.objects.get()
    last = presentment.retries.BILLER_CONFIRM.max_attempts
    assert presentment.confirm(check_id=check.pk, attempt=last) == BillerCheck.Status.FAILED
    assert FailedTask.objects.filter(task_name=presentment.CONFIRM_TASK).exists()
    store.set_down(hospital.code, False)


def test_a_payment_the_biller_rejects_when_confirming_is_reversed(api, hospital):
    BillerLink.objects.filter(biller=hospital).update(stand_in=StandIn.ACCEPT)
    bill = hospital_bill(hospital, "66669005")
    store.set_down(hospital.code, True)
    assert partner_pay(api, hospital, "66669005", "320.00").status_code == 201
    store.set_down(hospital.code, False)
    check = BillerCheck.objects.get()
    assert presentment.confirm(check_id=check.pk) == BillerCheck.Status.REJECTED
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.REVERSED
    assert payment.journal_entries.count() == 2  # the payment and its mirror: nothing edited
    bill.refresh_from_db()
    assert bill.amount_paid == 0 and bill.status == "open"


def test_a_portal_payment_the_biller_rejects_later_is_refunded_to_the_payer_once(client, hospital, settings):
    """The bank took the payer's money while the hospital was down (stand-in: accept); when the hospital
    later rejects the payment, billing reverses it and the portal refunds the order line through the bank,
    once however often the outbox offers the reversal."""
    from billing import outbox
    from payers.choices import BankTradeStatus, LineOutcome
    from payers.models import OrderLine, SandboxBankTrade
    from tests.payers.conftest import SANDBOX_TEST_KEY, Bank

    settings.SANDBOX_BANK_ENABLED, settings.SANDBOX_BANK_KEY = True, SANDBOX_TEST_KEY
    BillerLink.objects.filter(biller=hospital).update(stand_in=StandIn.ACCEPT)
    bill = hospital_bill(hospital, "66669005")
    store.set_down(hospital.code, True)
    bank = Bank(client)
    order = bank.checkout({"biller": hospital.code, "account_no": "66669005", "bill": [bill.pk]})
    bank.pay(order)
    assert bank.notify(order).status_code == 200
    line = OrderLine.objects.get()
    assert (
        line.outcome == LineOutcome.POSTED and line.payment.biller_check.status == BillerCheck.Status.PENDING
    )

    store.set_down(hospital.code, False)
    assert presentment.confirm(check_id=line.payment.biller_check.pk) == BillerCheck.Status.REJECTED
    outbox.relay()
    outbox.relay()  # the reversal offered again: nothing more happens
    line.refresh_from_db()
    assert (line.outcome, line.refusal_code) == (LineOutcome.REFUNDED, "biller_rejected")
    assert SandboxBankTrade.objects.get(merchant_order_no=order.order_no).status == BankTradeStatus.REFUNDED
    assert AuditEvent.objects.filter(action="order_line.refund_pending", target_id=str(line.pk)).count() == 1
    assert Payment.objects.get().status == PaymentStatus.REVERSED
    bill.refresh_from_db()
    assert bill.amount_paid == 0


def test_a_partner_payment_the_biller_rejects_is_reversed_but_refunds_nothing_at_the_bank(api, hospital):
    """Only portal lines are refunded here: the partner hears of the reversal by its webhook and refunds its
    own user (docs/partner-api.md)."""
    from billing import outbox
    from payers.models import OrderLine

    BillerLink.objects.filter(biller=hospital).update(stand_in=StandIn.ACCEPT)
    hospital_bill(hospital, "66669005")
    store.set_down(hospital.code, True)
    assert partner_pay(api, hospital, "66669005", "320.00").status_code == 201
    store.set_down(hospital.code, False)
    assert presentment.confirm(check_id=BillerCheck.objects.get().pk) == BillerCheck.Status.REJECTED
    outbox.relay()
    assert not OrderLine.objects.exists()
    assert not AuditEvent.objects.filter(action="order_line.refund_pending").exists()


def test_the_same_payment_key_is_asked_once_and_replayed(api, hospital):
    hospital_bill(hospital, "66660001")
    first = partner_pay(api, hospital, "66660001", "320.00", key="same")
    store.set_down(hospital.code, True)  # a replay does not ask the biller again
    second = partner_pay(api, hospital, "66660001", "320.00", key="same")
    store.set_down(hospital.code, False)
    assert second.status_code == 201 and second.json()["receipt_no"] == first.json()["receipt_no"]
    assert Payment.objects.count() == 1


def test_a_bank_notification_inside_a_transaction_posts_and_confirms_with_the_biller_after_commit(hospital):
    """The portal's bank notification posts inside its transaction, with the money already taken: the
    biller is not called there; its check is pending until the confirmation task asks after commit."""
    from django.db import transaction

    hospital_bill(hospital, "66660001")
    with transaction.atomic():
        result = post_payment(
            channel="online",
            idempotency_key="line-1",
            biller_code=hospital.code,
            account_no="66660001",
            amount="320.00",
        )
        assert result.payment.biller_check.status == BillerCheck.Status.PENDING
    assert BillerCheck.objects.get().status == BillerCheck.Status.CONFIRMED


# --- the counter ----------------------------------------------------------------------------------------


@pytest.fixture
def clerk_till(django_user_model):
    from billing import roles
    from branches import services as counter
    from branches.choices import BranchRole
    from branches.models import BranchStaff
    from tests.factories import BranchFactory
    from tests.support import make_staff

    branch = BranchFactory(code="BR-X", name="X支局", district="滨江区")
    clerk = make_staff(django_user_model, "dave", roles.BRANCH_CLERK, password="pw-counter-1234")
    BranchStaff.objects.create(user=clerk, branch=branch, role=BranchRole.CLERK)
    return clerk, counter.open_till(clerk=clerk, branch=branch, opening_float="500.00")


def test_the_counter_looks_a_fetch_billers_account_up_live(client, power, clerk_till):
    clerk, _till = clerk_till
    client.force_login(clerk)
    page = client.get(
        "/counter/lookup/", {"q": "55550001", "biller": power.code}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert page.status_code == 200
    amount = store.current_amount(power.code, "55550001")
    assert f"{amount:,.2f}" in page.content.decode()
    bad = client.get(
        "/counter/lookup/", {"q": "55559002", "biller": power.code}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert "无法验证" in bad.content.decode()


def test_a_scanned_slip_of_a_fetched_bill_is_checked_against_the_grids_live_amount(power, clerk_till):
    from branches import selectors as counter_selectors
    from branches.exceptions import CounterError
    from branches.slips import slip_code_for

    _clerk, till = clerk_till
    presentment.present(power, "55550001")
    bill = Bill.objects.select_related("account", "biller").get(account__account_no="55550001")
    slip = slip_code_for(bill).text
    found = counter_selectors.counter_lookup(query=slip, biller_code="", branch=till.branch)
    assert found.selected_periods == {bill.period}

    store.set_amount(power.code, "55550001", bill.amount_due + 5)  # the grid re-reads the meter
    presentment.forget_fetched(BillerLink.objects.get(biller=power), "55550001")  # the cached look expired
    with pytest.raises(CounterError) as refused:
        counter_selectors.counter_lookup(query=slip, biller_code="", branch=till.branch)
    assert refused.value.code == "slip_amount_changed"
    assert not Payment.objects.exists()


@pytest.mark.parametrize(("suffix", "code"), [("9006", "biller_amount_changed"), ("9001", "biller_timeout")])
def test_the_counter_takes_no_cash_when_the_biller_refuses(hospital, clerk_till, suffix, code):
    from branches import services as counter

    clerk, till = clerk_till
    hospital_bill(hospital, f"6666{suffix}")
    before = JournalEntry.objects.count()
    with pytest.raises(presentment.BillerRefused) as refused, translation.override("en"):
        counter.take_cash(
            clerk=clerk,
            till_id=till.pk,
            biller_code=hospital.code,
            account_no=f"6666{suffix}",
            periods=["2026-11"],
            amount="320.00",
            tendered="400.00",
            form_key="f" * 32,
        )
    assert refused.value.code == code
    assert nothing_posted(before)


def test_the_counter_posts_a_validated_payment(hospital, clerk_till):
    from branches import services as counter

    clerk, till = clerk_till
    hospital_bill(hospital, "66660001")
    taken = counter.take_cash(
        clerk=clerk,
        till_id=till.pk,
        biller_code=hospital.code,
        account_no="66660001",
        periods=["2026-11"],
        amount="320.00",
        tendered="400.00",
        form_key="g" * 32,
    )
    assert taken.counter_payment.payment.biller_check.status == BillerCheck.Status.ACCEPTED


# --- the portal -----------------------------------------------------------------------------------------


def test_the_portal_lookup_page_shows_a_fetch_billers_live_bill_and_its_refusals(client, power):
    page = client.get(f"/billers/{power.code}/", {"account_no": "55550001"}, HTTP_ACCEPT_LANGUAGE="en")
    amount = store.current_amount(power.code, "55550001")
    assert f"{amount:,.2f}" in page.content.decode()
    slow = client.get(f"/billers/{power.code}/", {"account_no": "55559001"})
    assert "滨江电网的系统未能及时答复" in slow.content.decode()
    assert not CustomerAccount.objects.filter(account_no="55559001").exists()


def test_the_portal_checkout_is_refused_before_the_bank_when_the_biller_declines(client, hospital):
    from payers.models import GatewayOrder

    bill = hospital_bill(hospital, "66669005")
    response = client.post(
        "/checkout/",
        {
            "biller": hospital.code,
            "account_no": "66669005",
            "bill": [bill.pk],
            "back": f"/billers/{hospital.code}/",
        },
        HTTP_ACCEPT_LANGUAGE="zh-hans",
        follow=True,
    )
    assert "拒绝了这笔缴费" in response.content.decode()
    assert not GatewayOrder.objects.exists() and not Payment.objects.exists()


# --- item 7: receipts whatever the channel ---------------------------------------------------------------


def test_the_biller_api_returns_the_receipt_of_a_payment_taken_by_any_channel(client, hospital, admin_user):
    other = BillerFactory(code="WATER01", name="滨江水务")
    hospital_bill(hospital, "66660001")
    payment = post_payment(
        channel="partner",
        idempotency_key="ACME:r-1",
        biller_code=hospital.code,
        account_no="66660001",
        amount="320.00",
    ).payment
    CustomerAccountFactory(biller=other, account_no="31005678")
    access = api_services.ensure_biller_api_access(biller=hospital, actor=admin_user)
    issued = api_services.issue_credential(owner=access, actor=admin_user)
    biller_api = SignedClient(client, issued.credential.key_id, issued.secret)
    response = biller_api.get(f"/api/v1/biller/receipts/{payment.receipt_no}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["receipt_no"] == payment.receipt_no and body["channel"] == "partner"
    assert body["amount"] == "320.00" and body["payer"] == "李*"
    assert body["fiscal_receipt_no"].startswith("FP") and body["biller_check"] == "accepted"
    assert body["e_receipt"]["url"].startswith("http")

    other_access = api_services.ensure_biller_api_access(biller=other, actor=admin_user)
    other_issued = api_services.issue_credential(owner=other_access, actor=admin_user)
    other_api = SignedClient(client, other_issued.credential.key_id, other_issued.secret)
    assert other_api.get(f"/api/v1/biller/receipts/{payment.receipt_no}").status_code == 404


# --- the admin ------------------------------------------------------------------------------------------


def test_a_platform_admin_links_a_biller_audited_and_the_secret_is_never_shown(client, admin_user):
    biller = BillerFactory(code="GRID02")
    client.force_login(admin_user)
    form = {
        "biller": biller.pk,
        "mode": "validate",
        "endpoint_url": "https://his.example.org/billpay",
        "key_id": "BILLPAY-GRID02",
        "secret": "s3cret-shared-with-the-biller",
        "timeout_seconds": "2.0",
        "stand_in": "accept_and_confirm_later",
        "cache_seconds": "60",
    }
    assert client.post("/admin/billing/billerlink/add/", form).status_code == 302
    link = BillerLink.objects.get()
    event = AuditEvent.objects.get(action="presentment.link_saved")
    assert event.data["secret_changed"] == "True" and "s3cret" not in str(event.data)

    page = client.get(f"/admin/billing/billerlink/{link.pk}/change/")
    assert "s3cret" not in page.content.decode()
    changed = {**form, "secret": "", "timeout_seconds": "4.0"}  # an empty secret keeps the one set
    assert client.post(f"/admin/billing/billerlink/{link.pk}/change/", changed).status_code == 302
    link.refresh_from_db()
    assert link.secret == "s3cret-shared-with-the-biller" and link.timeout_seconds == Decimal("4.0")

    plain = {**form, "biller": BillerFactory(code="GRID03").pk, "endpoint_url": "http://his.example.org/"}
    refused = client.post("/admin/billing/billerlink/add/", plain)
    assert refused.status_code == 200 and BillerLink.objects.count() == 1


# --- the demo -------------------------------------------------------------------------------------------


def test_the_demos_live_billers_work_end_to_end_on_the_sandbox_biller(api, live_server, partner):
    """demo/presentment.py as `seed_demo` runs it, pointed at this test's server: the grid's bills come
    from its system, the hospital accepts a payment, declines another, and a changed amount is refused."""
    from demo import presentment as demo_presentment

    billers = {
        demo_presentment.GRID: BillerFactory(code=demo_presentment.GRID, account_pattern=r"^\d{8}$"),
        demo_presentment.HOSPITAL: BillerFactory(code=demo_presentment.HOSPITAL, account_pattern=r"^7\d{7}$"),
    }
    with override_settings(SITE_URL=live_server.url):
        demo_presentment.seed(users={}, billers=billers, branches={}, summary=None)
        demo_presentment.seed(users={}, billers=billers, branches={}, summary=None)  # idempotent
    assert BillerLink.objects.count() == 2

    enquiry = api.get(f"/api/v1/partner/billers/{demo_presentment.GRID}/accounts/12345678")
    assert enquiry.status_code == 200 and len(enquiry.json()["bills"]) == 1
    grid_amount = enquiry.json()["bills"][0]["amount_due"]
    assert (
        partner_pay(api, billers[demo_presentment.GRID], "12345678", grid_amount, key="g").status_code == 201
    )

    hospital = billers[demo_presentment.HOSPITAL]
    assert partner_pay(api, hospital, "70000001", "268.00", key="h1").status_code == 201
    assert (
        partner_pay(api, hospital, "70009005", "88.00", key="h2").json()["error"]["code"] == "biller_declined"
    )
    changed = partner_pay(api, hospital, "70009006", "430.00", key="h3")
    assert changed.json()["error"]["code"] == "biller_amount_changed"
    assert Payment.objects.count() == 2
    assert set(BillerCheck.objects.values_list("status", flat=True)) == {BillerCheck.Status.ACCEPTED}
