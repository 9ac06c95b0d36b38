"""Auto-pay mandates (代扣): set up through the sandbox bank's agreement page, a notice before each debit,
debits run by beat on a simulated date, refusals that post nothing, retries, and the portal's pages."""

import datetime
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from billing.models import AuditEvent, Bill, OutboxEvent, Payment
from billing.outbox import EventType
from demo import clock
from payers import mandates, sms, tasks
from payers.choices import DebitStatus, MandateStatus
from payers.models import BoundAccount, Mandate, MandateDebit, Payer, SandboxBankAgreement, SandboxBankTrade
from payers.sandbox_bank import services as bank
from tests.factories import BillFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 12, 2)


def at(day: datetime.date, hour: int = 10):
    """The demo's clock on a simulated day (Beijing time)."""
    return clock.at(timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour))))


@pytest.fixture
def citizen(django_user_model, settings):
    settings.SMS_BACKEND = "payers.sms.LocmemSMSBackend"
    sms.outbox.clear()
    user = django_user_model.objects.create_user("xm", "xm@example.com", "pw-xm-12345")
    Payer.objects.create(user=user, mobile="+8613800138000", mobile_verified=True, language="zh-hans")
    return user


@pytest.fixture
def bound(citizen, water):
    return BoundAccount.objects.create(user=citizen, account=water["account"], label="家里水费")


def sign_at_bank(mandate: Mandate, *, sign: bool = True) -> dict[str, str]:
    """The citizen signs (or declines) on the bank's page; returns the bank's signed return parameters."""
    url = mandates.agreement_url(mandate, return_url="http://testserver/me/autopay/return/SANDBOX/")
    agreement = bank.open_agreement(dict(parse_qsl(urlsplit(url).query)))
    agreement = bank.finish_agreement(agreement_no=agreement.agreement_no, sign=sign)
    return bank.agreement_return_params(agreement)


def awaiting_mandate(citizen, bound) -> Mandate:
    return mandates.create_mandate(
        user=citizen,
        bound=bound,
        cap_per_bill="100",
        valid_from=timezone.localdate(),
        valid_until=timezone.localdate() + datetime.timedelta(days=30),
        notice_days=2,
        gateway_code="SANDBOX",
    )


def active_mandate(citizen, bound, *, cap="200.00", notice_days=3, until=None) -> Mandate:
    mandate = mandates.create_mandate(
        user=citizen,
        bound=bound,
        cap_per_bill=cap,
        valid_from=timezone.localdate(),
        valid_until=until or timezone.localdate() + datetime.timedelta(days=365),
        notice_days=notice_days,
        gateway_code="SANDBOX",
    )
    return mandates.confirm_agreement(user=citizen, gateway_code="SANDBOX", params=sign_at_bank(mandate))


def next_bill(account, period="2026-12", amount="95.00", due=datetime.date(2027, 1, 20)) -> Bill:
    return BillFactory(account=account, period=period, amount_due=Decimal(amount), due_date=due)


def run_beat(day: datetime.date, capture) -> dict:
    """Beat's hourly run on a simulated day; the debits it queues run at once (eager tasks)."""
    with at(day), capture(execute=True):
        counts = {"expired": mandates.expire_mandates(), **mandates.schedule_debits()}
        counts["debited"] = [mandates.run_debit(debit_id=pk) for pk in mandates.due_debit_ids()]
    return counts


# --- setting up -------------------------------------------------------------------------------------------


def test_a_citizen_sets_up_auto_pay_by_signing_the_banks_agreement_once(client, citizen, bound, sandbox_bank):
    client.force_login(citizen)
    response = client.post(
        "/me/autopay/",
        {"account": bound.pk, "cap": "150.00", "valid_until": "2027-12-01", "notice_days": "3"},
    )
    assert response.status_code == 302 and response.url.startswith("/sandbox-bank/agreements/")
    mandate = Mandate.objects.get()
    assert mandate.status == MandateStatus.AWAITING_AGREEMENT
    page = client.get(client.get(response.url).url)
    assert "¥150.00" in page.content.decode()
    agreement = SandboxBankAgreement.objects.get()
    back = client.post(f"/sandbox-bank/agreements/{agreement.agreement_no}/finish/", {"action": "sign"})
    parts = urlsplit(back.url)
    done = client.get(f"{parts.path}?{parts.query}")
    mandate.refresh_from_db()
    assert done.status_code == 302 and mandate.status == MandateStatus.ACTIVE
    assert mandate.agreement_no == agreement.agreement_no
    assert AuditEvent.objects.filter(action="mandate.active", target_id=str(mandate.pk)).exists()
    assert "自动扣款已为家里水费开通" in client.get(done.url).content.decode()


def test_a_declined_agreement_sets_nothing_up(citizen, bound, sandbox_bank):
    mandate = awaiting_mandate(citizen, bound)
    with pytest.raises(mandates.PortalError) as refused:
        mandates.confirm_agreement(
            user=citizen, gateway_code="SANDBOX", params=sign_at_bank(mandate, sign=False)
        )
    assert refused.value.code == "mandate_agreement_declined"
    mandate.refresh_from_db()
    assert mandate.status == MandateStatus.CANCELLED


def test_a_forged_agreement_return_is_refused(client, citizen, bound, sandbox_bank):
    mandate = awaiting_mandate(citizen, bound)
    params = sign_at_bank(mandate)
    params["agreement_no"] = "SBA-FORGED"
    client.force_login(citizen)
    response = client.get("/me/autopay/return/SANDBOX/", params)
    assert response.status_code == 400
    mandate.refresh_from_db()
    assert mandate.status == MandateStatus.AWAITING_AGREEMENT


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"cap": "abc"}, "The most per bill must be an amount above zero"),
        ({"cap": "-5"}, "The most per bill must be an amount above zero"),
        ({"cap": "5000.01"}, "The most per bill may be at most ¥5,000.00"),
        ({"valid_until": "2020-01-01"}, "The mandate must start today or later"),
        ({"valid_until": "not a date"}, "The mandate must start today or later"),
        ({"notice_days": "0"}, "The notice must be 1 to 15 days"),
        ({"notice_days": "99"}, "The notice must be 1 to 15 days"),
        ({"account": "999999"}, "Add the account to “My accounts”"),
    ],
)
def test_bad_set_up_input_is_refused_clearly_and_nothing_is_written(
    client, citizen, bound, sandbox_bank, form, message
):
    client.force_login(citizen)
    data = {"account": bound.pk, "cap": "150.00", "valid_until": "2027-12-01", "notice_days": "3", **form}
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.post("/me/autopay/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Mandate.objects.exists()


def test_another_citizens_account_cannot_get_a_mandate(
    client, citizen, bound, sandbox_bank, django_user_model
):
    other = django_user_model.objects.create_user("ls", "ls@example.com", "pw-ls-12345")
    client.force_login(other)
    response = client.post(
        "/me/autopay/",
        {"account": bound.pk, "cap": "150.00", "valid_until": "2027-12-01", "notice_days": "3"},
    )
    assert response.status_code == 400 and not Mandate.objects.exists()


def test_one_live_mandate_per_account(citizen, bound, sandbox_bank):
    active_mandate(citizen, bound)
    with pytest.raises(mandates.PortalError) as refused:
        active_mandate(citizen, bound)
    assert refused.value.code == "mandate_exists"


# --- the notice, the debit -------------------------------------------------------------------------------


def test_next_months_bill_is_noticed_then_paid_on_the_simulated_date(
    citizen, bound, water, sandbox_bank, django_capture_on_commit_callbacks
):
    mandate = active_mandate(citizen, bound, notice_days=3)
    bill = next_bill(water["account"])
    issued = timezone.localdate() + datetime.timedelta(days=20)

    counts = run_beat(issued, django_capture_on_commit_callbacks)
    debit = MandateDebit.objects.get()
    assert counts["scheduled"] == 1 and debit.debit_on == issued + datetime.timedelta(days=3)
    assert debit.status == DebitStatus.SCHEDULED and not Payment.objects.exists()
    assert len(mail.outbox) == 1 and "自动扣款" in mail.outbox[0].subject
    assert "/me/autopay/" in mail.outbox[0].body  # the way to skip
    assert sms.outbox and sms.outbox[0].to == "+8613800138000"

    run_beat(issued + datetime.timedelta(days=2), django_capture_on_commit_callbacks)
    assert MandateDebit.objects.get().status == DebitStatus.SCHEDULED  # not before its day

    run_beat(debit.debit_on, django_capture_on_commit_callbacks)
    debit.refresh_from_db()
    bill.refresh_from_db()
    assert debit.status == DebitStatus.PAID and bill.status == "paid"
    payment = debit.payment
    assert payment.idempotency_key == f"AUTOPAY:{mandate.public_id.hex}-{bill.pk}"
    assert payment.amount == Decimal("95.00") and payment.channel_ref == debit.trade_no
    assert SandboxBankTrade.objects.get(merchant_order_no=debit.order_no).agreement_no == mandate.agreement_no
    event = OutboxEvent.objects.get(type=EventType.MANDATE_DEBIT)
    assert event.payload["receipt_no"] == payment.receipt_no and event.payload["amount"] == "95.00"
    assert "已由自动扣款缴纳" in mail.outbox[-1].subject or "Paid by auto-pay" in mail.outbox[-1].subject

    # Beat again, and the debit run by hand again: still one payment, one bank trade.
    run_beat(debit.debit_on, django_capture_on_commit_callbacks)
    assert mandates.run_debit(debit_id=debit.pk) == DebitStatus.PAID
    assert Payment.objects.count() == 1 and SandboxBankTrade.objects.count() == 1


def test_a_bill_above_the_cap_is_refused_with_a_clear_message_and_nothing_posted(
    citizen, bound, water, sandbox_bank, django_capture_on_commit_callbacks
):
    active_mandate(citizen, bound, cap="50.00")
    next_bill(water["account"], amount="95.00")
    run_beat(timezone.localdate(), django_capture_on_commit_callbacks)
    debit = MandateDebit.objects.get()
    assert debit.status == DebitStatus.REFUSED and debit.refusal_code == "mandate_cap_exceeded"
    assert "¥95.00" in debit.message and "¥50.00" in debit.message
    assert not Payment.objects.exists() and not SandboxBankTrade.objects.exists()
    assert mail.outbox  # the citizen is told to pay it themselves


def test_a_bill_that_grew_above_the_cap_before_its_day_is_not_debited(
    citizen, bound, water, sandbox_bank, django_capture_on_commit_callbacks
):
    active_mandate(citizen, bound, cap="100.00")
    bill = next_bill(water["account"], amount="95.00")
    run_beat(timezone.localdate(), django_capture_on_commit_callbacks)
    Bill.objects.filter(pk=bill.pk).update(late_fee=Decimal("10.00"))
    debit = MandateDebit.objects.get()
    run_beat(debit.debit_on, django_capture_on_commit_callbacks)
    debit.refresh_from_db()
    assert debit.status == DebitStatus.REFUSED and debit.refusal_code == "mandate_cap_exceeded"
    assert not Payment.objects.exists() and not SandboxBankTrade.objects.exists()


def test_an_expired_mandate_debits_nothing(
    citizen, bound, water, sandbox_bank, django_capture_on_commit_callbacks
):
    mandate = active_mandate(citizen, bound, until=timezone.localdate() + datetime.timedelta(days=10))
    next_bill(water["account"])
    run_beat(timezone.localdate() + datetime.timedelta(days=8), django_capture_on_commit_callbacks)
    debit = MandateDebit.objects.get()  # its day (8 + 3) falls after the mandate's end
    assert debit.status == DebitStatus.REFUSED and debit.refusal_code == "mandate_expired"
    run_beat(timezone.localdate() + datetime.timedelta(days=12), django_capture_on_commit_callbacks)
    mandate.refresh_from_db()
    assert mandate.status == MandateStatus.EXPIRED
    assert not Payment.objects.exists() and not SandboxBankTrade.objects.exists()


def test_a_bill_paid_at_another_channel_before_its_day_is_not_debited(
    citizen, bound, water, sandbox_bank, django_capture_on_commit_callbacks
):
    from billing.services import post_payment

    active_mandate(citizen, bound)
    bill = next_bill(water["account"])
    run_beat(timezone.localdate(), django_capture_on_commit_callbacks)
    post_payment(
        channel="partner",
        idempotency_key="elsewhere-1",
        biller_code=water["biller"].code,
        account_no=water["account"].account_no,
        amount=bill.outstanding,
        periods=[bill.period],
    )
    debit = MandateDebit.objects.get()
    run_beat(debit.debit_on, django_capture_on_commit_callbacks)
    debit.refresh_from_db()
    assert debit.status == DebitStatus.PAID_ELSEWHERE
    assert Payment.objects.count() == 1 and not SandboxBankTrade.objects.exists()


def test_a_bill_paid_elsewhere_while_the_bank_debited_is_refunded(
    citizen, bound, water, sandbox_bank, django_capture_on_commit_callbacks
):
    """The counter posts between the debit's check and its posting: the debit's money goes back."""
    from billing.services import post_payment

    active_mandate(citizen, bound)
    bill = next_bill(water["account"])
    run_beat(timezone.localdate(), django_capture_on_commit_callbacks)
    debit = MandateDebit.objects.get()
    real_debit = bank.agreement_debit_api

    def debit_then_counter_pays(params):
        answer = real_debit(params)
        post_payment(
            channel="partner",
            idempotency_key="elsewhere-2",
            biller_code=water["biller"].code,
            account_no=water["account"].account_no,
            amount=bill.outstanding,
            periods=[bill.period],
        )
        return answer

    bank.agreement_debit_api = debit_then_counter_pays
    try:
        run_beat(debit.debit_on, django_capture_on_commit_callbacks)
    finally:
        bank.agreement_debit_api = real_debit
    debit.refresh_from_db()
    assert debit.status == DebitStatus.REFUNDED and debit.payment is None
    assert Payment.objects.count() == 1
    trade = SandboxBankTrade.objects.get(merchant_order_no=debit.order_no)
    assert trade.refunds and trade.refunds[0]["amount"] == "95.00"


def test_a_declined_debit_is_retried_then_given_up_and_the_citizen_told(
    citizen, bound, water, sandbox_bank, settings, django_capture_on_commit_callbacks
):
    settings.SANDBOX_BANK_DEBIT_DECLINE_FROM = Decimal("90.00")  # "insufficient funds"
    active_mandate(citizen, bound)
    next_bill(water["account"])
    run_beat(timezone.localdate(), django_capture_on_commit_callbacks)
    debit = MandateDebit.objects.get()
    day = debit.debit_on
    for attempt in range(1, 5):
        MandateDebit.objects.filter(pk=debit.pk).update(next_attempt_at=None)  # its backoff has passed
        run_beat(day, django_capture_on_commit_callbacks)
        debit.refresh_from_db()
        assert debit.attempts == attempt
    assert debit.status == DebitStatus.FAILED and "insufficient funds" in debit.message
    assert not Payment.objects.exists()
    assert AuditEvent.objects.filter(action="mandate_debit.attempt_failed").count() == 3
    assert "请自行缴纳" in mail.outbox[-1].subject or "pay it yourself" in mail.outbox[-1].subject


def test_a_skipped_debit_is_not_run(
    client, citizen, bound, water, sandbox_bank, django_capture_on_commit_callbacks
):
    mandate = active_mandate(citizen, bound)
    next_bill(water["account"])
    run_beat(timezone.localdate(), django_capture_on_commit_callbacks)
    debit = MandateDebit.objects.get()
    client.force_login(citizen)
    response = client.post(f"/me/autopay/debits/{debit.pk}/skip/")
    assert response.status_code == 302 and response.url == f"/me/autopay/{mandate.public_id}/"
    run_beat(debit.debit_on, django_capture_on_commit_callbacks)
    debit.refresh_from_db()
    assert debit.status == DebitStatus.SKIPPED and not Payment.objects.exists()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    again = client.post(f"/me/autopay/debits/{debit.pk}/skip/", follow=True)
    assert "can no longer be skipped" in again.content.decode()


def test_someone_elses_debit_cannot_be_skipped(
    client, citizen, bound, water, sandbox_bank, django_user_model
):
    active_mandate(citizen, bound)
    next_bill(water["account"])
    mandates.schedule_debits()
    other = django_user_model.objects.create_user("ls", "ls@example.com", "pw-ls-12345")
    client.force_login(other)
    assert client.post(f"/me/autopay/debits/{MandateDebit.objects.get().pk}/skip/").status_code == 404


# --- pause, edit, cancel ---------------------------------------------------------------------------------


def test_pause_resume_edit_and_cancel_from_the_portal(
    client, citizen, bound, water, sandbox_bank, django_capture_on_commit_callbacks
):
    mandate = active_mandate(citizen, bound)
    client.force_login(citizen)
    url = f"/me/autopay/{mandate.public_id}/"
    assert client.post(url, {"action": "pause"}).status_code == 302
    next_bill(water["account"])
    run_beat(timezone.localdate(), django_capture_on_commit_callbacks)
    assert not MandateDebit.objects.exists()  # a paused mandate schedules nothing
    assert client.post(url, {"action": "resume"}).status_code == 302
    edited = client.post(
        url, {"action": "edit", "cap": "80.00", "valid_until": "2027-06-30", "notice_days": "5"}
    )
    assert edited.status_code == 302
    mandate.refresh_from_db()
    assert (mandate.status, mandate.cap_per_bill, mandate.notice_days) == ("active", Decimal("80.00"), 5)
    bad = client.post(url, {"action": "edit", "cap": "1e9", "valid_until": "2027-06-30", "notice_days": "5"})
    assert bad.status_code == 400
    assert client.post(url, {"action": "cancel"}).status_code == 302
    mandate.refresh_from_db()
    assert mandate.status == MandateStatus.CANCELLED
    refused = client.post(url, {"action": "resume"})
    assert refused.status_code == 400
    run_beat(timezone.localdate(), django_capture_on_commit_callbacks)
    assert not Payment.objects.exists()


def test_a_cancelled_mandates_agreement_is_ended_at_the_bank(
    citizen, bound, sandbox_bank, django_capture_on_commit_callbacks
):
    mandate = active_mandate(citizen, bound)
    with django_capture_on_commit_callbacks(execute=True):
        mandates.set_mandate_status(actor=citizen, mandate=mandate, target=MandateStatus.CANCELLED)
    assert SandboxBankAgreement.objects.get().status == "ended"


def test_another_citizens_mandate_page_is_not_found(client, citizen, bound, sandbox_bank, django_user_model):
    mandate = active_mandate(citizen, bound)
    other = django_user_model.objects.create_user("ls", "ls@example.com", "pw-ls-12345")
    client.force_login(other)
    assert client.get(f"/me/autopay/{mandate.public_id}/").status_code == 404
    assert client.post(f"/me/autopay/{mandate.public_id}/", {"action": "cancel"}).status_code == 404
    mandate.refresh_from_db()
    assert mandate.status == MandateStatus.ACTIVE


# --- shown on bill pages ---------------------------------------------------------------------------------


def test_my_accounts_and_the_lookup_show_when_auto_pay_will_pay_the_bill(
    client, citizen, bound, water, sandbox_bank, django_capture_on_commit_callbacks
):
    active_mandate(citizen, bound)
    next_bill(water["account"])
    run_beat(timezone.localdate(), django_capture_on_commit_callbacks)
    day = MandateDebit.objects.get().debit_on.isoformat()
    client.force_login(citizen)
    zh = client.get("/me/accounts/").content.decode()
    assert f"将于 {day} 自动扣款" in zh
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    en = client.get("/me/accounts/").content.decode()
    del client.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert f"Will be paid by auto-pay on {day}" in en
    lookup = client.get(f"/billers/{water['biller'].code}/", {"account_no": water["account"].account_no})
    assert f"将于 {day} 自动扣款" in lookup.content.decode()
    assert client.get("/me/autopay/").status_code == 200


def test_the_beat_schedule_runs_the_mandates(settings):
    assert "payers.tasks.run_mandates" in {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert settings.CELERY_TASK_ROUTES["payers.tasks.run_mandate_debit"] == {"queue": "io"}


def test_the_beat_task_queues_due_debits(
    citizen, bound, water, sandbox_bank, django_capture_on_commit_callbacks, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    active_mandate(citizen, bound, notice_days=1)
    next_bill(water["account"])
    with django_capture_on_commit_callbacks(execute=True):
        first = tasks.run_mandates()
    assert first["scheduled"] == 1 and first["queued"] == 0
    with (
        at(timezone.localdate() + datetime.timedelta(days=1)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        second = tasks.run_mandates.apply().get()
    assert second["queued"] == 1
    assert MandateDebit.objects.get().status == DebitStatus.PAID


def test_the_demo_command_pays_next_months_bill_on_a_simulated_date(
    citizen, bound, water, sandbox_bank, django_capture_on_commit_callbacks, settings
):
    from django.core.management import call_command

    settings.DEBUG = True  # a demo command: it refuses to run otherwise

    active_mandate(citizen, bound, cap="150.00", notice_days=2)
    first = timezone.localdate() + datetime.timedelta(days=28)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("run_mandates", "--date", first.isoformat(), "--issue-next-bills")
    bill = Bill.objects.get(account=water["account"], period="2026-11")  # after the fixture's 2026-10
    assert MandateDebit.objects.get(bill=bill).debit_on == first + datetime.timedelta(days=2)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("run_mandates", "--date", (first + datetime.timedelta(days=2)).isoformat())
    bill.refresh_from_db()
    assert bill.status == "paid" and MandateDebit.objects.get(bill=bill).status == DebitStatus.PAID


# --- a partner's mandate (the partner API's: tests/api/test_partner_mandates.py) ----------------------------


def partner_mandate(water, *, cap="200.00", customer_ref="CUST-1") -> Mandate:
    """A mandate of the partner ACME (which may pay water bills) for its customer."""
    from api.models import Partner
    from billing.models import BillerCategory

    partner, _ = Partner.objects.get_or_create(code="ACME", defaults={"name": "Acme Pay"})
    partner.allowed_categories.add(BillerCategory.objects.get(code="water"))
    return mandates.create_partner_mandate(
        partner_code="ACME",
        customer_ref=customer_ref,
        account=water["account"],
        cap_per_bill=cap,
        valid_from=timezone.localdate(),
        valid_until=timezone.localdate() + datetime.timedelta(days=90),
        notice_days=2,
    )


def test_a_mandate_has_exactly_one_owner(water, citizen):
    from django.db import IntegrityError, transaction

    base = {
        "account": water["account"],
        "cap_per_bill": Decimal("10"),
        "valid_from": TODAY,
        "valid_until": TODAY + datetime.timedelta(days=1),
        "gateway": "PARTNER",
    }
    for owner in (
        {},
        {"user": citizen, "partner_code": "ACME", "customer_ref": "C1"},
        {"partner_code": "ACME"},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            Mandate.objects.create(**base, **owner)


def test_a_partners_mandate_posts_a_partner_payment_and_tells_the_partner_not_the_citizen(
    water, citizen, bound, sandbox_bank, django_capture_on_commit_callbacks
):
    mandate = partner_mandate(water)
    assert mandate.status == MandateStatus.ACTIVE and mandate.user is None
    with pytest.raises(mandates.PortalError) as refused:
        partner_mandate(water)
    assert refused.value.code == "mandate_exists"
    bill = next_bill(water["account"])
    run_beat(timezone.localdate(), django_capture_on_commit_callbacks)
    debit = MandateDebit.objects.get()
    assert OutboxEvent.objects.filter(type="mandate.notice").count() == 1
    run_beat(debit.debit_on, django_capture_on_commit_callbacks)
    debit.refresh_from_db()
    payment = Payment.objects.get()
    assert debit.status == DebitStatus.PAID and payment.channel == "partner"
    assert payment.idempotency_key == f"ACME:AUTOPAY:{mandate.public_id.hex}-{bill.pk}"
    assert not SandboxBankTrade.objects.exists()  # no bank debit: the partner pays
    assert not mail.outbox and not sms.outbox  # no citizen to tell
    assert OutboxEvent.objects.get(type=EventType.MANDATE_DEBIT).payload["partner_code"] == "ACME"


def test_a_citizen_cannot_skip_a_partners_debit(
    water, citizen, sandbox_bank, django_capture_on_commit_callbacks
):
    partner_mandate(water)
    next_bill(water["account"])
    run_beat(timezone.localdate(), django_capture_on_commit_callbacks)
    debit = MandateDebit.objects.get()
    with pytest.raises(mandates.PortalError):
        mandates.skip_debit(user=citizen, debit=debit)
    with pytest.raises(mandates.PortalError):
        mandates.skip_debit(user=None, debit=debit, partner_code="OTHER")
    assert mandates.skip_debit(user=None, debit=debit, partner_code="ACME").status == DebitStatus.SKIPPED


@pytest.mark.parametrize("change", ["suspended", "biller_removed"])
def test_a_suspended_partner_or_one_no_longer_allowed_the_biller_funds_no_debit(
    water, sandbox_bank, django_capture_on_commit_callbacks, change
):
    from api.models import Partner

    partner_mandate(water)
    next_bill(water["account"])
    run_beat(timezone.localdate(), django_capture_on_commit_callbacks)
    debit = MandateDebit.objects.get()
    partner = Partner.objects.get(code="ACME")
    if change == "suspended":
        Partner.objects.filter(pk=partner.pk).update(status="suspended")
    else:
        partner.allowed_categories.clear()
    run_beat(debit.debit_on, django_capture_on_commit_callbacks)
    debit.refresh_from_db()
    expected = "mandate_partner_not_active" if change == "suspended" else "mandate_partner_biller_not_allowed"
    assert debit.status == DebitStatus.REFUSED and debit.refusal_code == expected
    assert not Payment.objects.exists()
