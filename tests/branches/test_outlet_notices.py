"""An outlet's suspension reaches the citizens who paid there: portal users whose bound accounts were paid at
its counter (a cash payment names no payer) and the mobile numbers left at the counter with consent, each
in their own language and nobody twice."""

import re
from decimal import Decimal

import pytest
from django.core import mail

from billing import roles
from billing.models import Bill
from branches import services
from branches.choices import BranchStatus
from branches.exceptions import CounterError
from branches.models import OutletNotice
from branches.notifications import notify_recent_payers
from payers import sms
from payers.models import BoundAccount
from tests.factories import BillFactory, CustomerAccountFactory, PayerFactory
from tests.support import make_staff

pytestmark = pytest.mark.django_db
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def sms_outbox(settings):
    settings.SMS_BACKEND = "payers.sms.LocmemSMSBackend"
    sms.outbox.clear()
    return sms.outbox


def portal_user(django_user_model, username, email, language, *, mobile="", bound=()):
    user = django_user_model.objects.create_user(username=username, email=email, password="pw-portal-1")
    PayerFactory(user=user, email="", mobile=mobile, language=language)
    for account in bound:
        BoundAccount.objects.create(user=user, account=account, label="家")
    return user


def cash(dave, till, account, key, **notice):
    month = Bill.objects.filter(account=account).count() + 1
    bill = BillFactory(account=account, period=f"2026-{month:02d}", amount_due=Decimal("30.00"))
    return services.take_cash(
        clerk=dave,
        till_id=till.pk,
        biller_code=account.biller.code,
        account_no=account.account_no,
        periods=[bill.period],
        amount="30.00",
        tendered="50.00",
        form_key=key,
        **notice,
    ).counter_payment


def test_a_suspension_tells_exactly_the_right_people_in_their_own_language_once(
    django_user_model,
    water,
    branch_x,
    branch_y,
    dave,
    erin,
    till,
    sms_outbox,
    django_capture_on_commit_callbacks,
):
    lily_account, wang_account, elsewhere = (
        CustomerAccountFactory(biller=water, account_no=no) for no in ("30000001", "30000002", "30000003")
    )
    portal_user(django_user_model, "lily", "lily@example.com", "en", bound=[lily_account])
    portal_user(
        django_user_model,
        "wang",
        "wang@example.com",
        "zh-hans",
        mobile="+8613900139000",
        bound=[wang_account],
    )
    portal_user(django_user_model, "zhou", "zhou@example.com", "zh-hans", bound=[elsewhere])
    kept = cash(dave, till, lily_account, "c1", notice_phone="138 0013 8000", notice_consent=True)
    assert kept.notice_phone == "+8613800138000" and kept.notice_consent_at is not None
    # wang left his own number too: he is told once, by e-mail
    cash(dave, till, wang_account, "c2", notice_phone="13900139000", notice_consent=True)
    other_till = services.open_till(clerk=erin, branch=branch_y, opening_float="100.00")
    cash(erin, other_till, elsewhere, "c3", notice_phone="13700137000", notice_consent=True)
    admin = make_staff(django_user_model, "ada", roles.PLATFORM_ADMIN)

    with django_capture_on_commit_callbacks(execute=True):
        change = services.change_branch_status(
            branch=branch_x, to_status=BranchStatus.SUSPENDED, actor=admin, reason="装修"
        )

    by_address = {message.to[0]: message for message in mail.outbox if message.to[0].endswith("@example.com")}
    assert sorted(m.to[0] for m in mail.outbox if "X支局" in m.subject) == [
        "lily@example.com",
        "wang@example.com",
    ]
    english, chinese = by_address["lily@example.com"], by_address["wang@example.com"]
    assert english.subject == "X支局 is now Temporarily suspended"
    assert "You recently paid a bill in cash at X支局" in english.body
    data = (branch_x.name, branch_y.name, branch_x.address, "装修")  # the outlets' own names and words
    assert not CJK.search(re.sub("|".join(data), "", english.body))
    assert chinese.subject == "X支局现已暂停服务" and "您最近在X支局" in chinese.body
    assert "You recently" not in chinese.body
    [text] = sms_outbox  # the consenting number of someone without a profile: in the site's language
    assert text.to == "+8613800138000" and text.body.startswith("X支局现已暂停服务")

    assert notify_recent_payers(status_change_id=change.pk) == 0  # the task again: nobody told twice
    assert len(sms_outbox) == 1 and OutletNotice.objects.count() == 3
    assert set(OutletNotice.objects.values_list("language", flat=True)) == {"en", "zh-hans"}


def test_a_phone_left_at_the_counter_needs_consent_and_a_mobile_number(water, dave, till):
    account = CustomerAccountFactory(biller=water, account_no="30000009")
    for phone, consent, code in (
        ("13800138000", False, "notice_consent_required"),
        ("0571-1234", True, "notice_phone_invalid"),
    ):
        with pytest.raises(CounterError) as refused:
            cash(dave, till, account, f"k-{code}", notice_phone=phone, notice_consent=consent)
        assert refused.value.code == code
    assert cash(dave, till, account, "k-none").notice_phone == ""
