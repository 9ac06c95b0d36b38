"""Agents with a float (issue 18, item 4): an agent takes payments out of its prefunded float, only for its
billers and area, and is refused with nothing posted once the float runs out."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.choices import Channel, PaymentStatus
from billing.models import JournalEntry, Payment
from billing.selectors import trial_balance
from billing.services import reverse_payment
from branches import agents, selectors
from branches.exceptions import CounterError
from branches.models import AgentPayment, FloatTopUp, LowFloatAlert
from tests.branches.conftest import fund_float
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

pytestmark = pytest.mark.django_db


def water_bill(water, account_no, amount, period="2026-10"):
    account = CustomerAccountFactory(biller=water, account_no=account_no)
    return BillFactory(
        account=account,
        period=period,
        amount_due=Decimal(amount),
        due_date=timezone.localdate() + datetime.timedelta(days=10),
    )


def pay(staff, bill, key, amount=None):
    return agents.take_agent_payment(
        staff=staff,
        biller_code=bill.biller.code,
        account_no=bill.account.account_no,
        periods=[bill.period],
        amount=amount or bill.amount_due,
        key=key,
    )


def test_a_top_up_credits_the_float_once_per_bank_reference(village_agent):
    fund_float(village_agent, "300.00", ref="TX-1")
    _topup, created = agents.credit_float(
        agent=village_agent, amount=Decimal("300.00"), bank_ref="TX-1", business_date=timezone.localdate()
    )
    assert not created
    assert FloatTopUp.objects.count() == 1
    assert selectors.float_balance(village_agent) == Decimal("300.00")
    assert trial_balance()["CLEARING:AGENT"] == Decimal("300.00")


def test_a_payment_debits_the_float_and_records_agent_terminal_and_place(ada, village_agent, water):
    fund_float(village_agent, "300.00")
    bill = water_bill(water, "33010001", "86.50")
    taken = pay(ada.agent_roles.get(), bill, "k1")
    payment = taken.agent_payment.payment
    assert payment.channel == Channel.AGENT and payment.status == PaymentStatus.POSTED
    assert taken.agent_payment.terminal_id == "T1"
    assert taken.agent_payment.region_code == "330106"
    assert taken.agent_payment.latitude == Decimal("30.180000")
    assert taken.agent_payment.float_after == Decimal("213.50")
    # ¥0.50 + 0.10% of ¥86.50 = ¥0.59 (half up)
    assert taken.agent_payment.commission == Decimal("0.59")
    assert selectors.float_balance(village_agent) == Decimal("213.50")
    balances = trial_balance()
    assert balances["AGENT_FLOAT:AG0001"] == Decimal("-213.50")
    assert balances[f"PAYABLE:{water.code}"] == Decimal("-86.50")
    bill.refresh_from_db()
    assert bill.status == "paid"


def test_the_same_key_twice_is_one_payment(ada, village_agent, water):
    fund_float(village_agent, "300.00")
    bill = water_bill(water, "33010001", "86.50")
    first = pay(ada.agent_roles.get(), bill, "k1")
    second = pay(ada.agent_roles.get(), bill, "k1")
    assert second.replayed and second.agent_payment.pk == first.agent_payment.pk
    assert selectors.float_balance(village_agent) == Decimal("213.50")


def test_an_agent_takes_cash_until_the_float_runs_out_then_is_refused_with_nothing_posted(
    ada, village_agent, water
):
    fund_float(village_agent, "200.00")
    staff = ada.agent_roles.get()
    bills = [water_bill(water, f"3301000{n}", "80.00") for n in range(3)]
    pay(staff, bills[0], "k0")
    pay(staff, bills[1], "k1")
    entries_before = JournalEntry.objects.count()
    with pytest.raises(CounterError) as refused:
        pay(staff, bills[2], "k2")
    assert refused.value.code == "float_exhausted"
    assert "¥40.00" in refused.value.message and "¥80.00" in refused.value.message
    assert JournalEntry.objects.count() == entries_before
    assert Payment.objects.filter(channel=Channel.AGENT).count() == 2
    bills[2].refresh_from_db()
    assert bills[2].status != "paid"
    assert selectors.float_balance(village_agent) == Decimal("40.00")


def test_a_payment_leaving_the_float_below_its_threshold_raises_one_alert_and_a_top_up_resolves_it(
    ada, village_agent, water, django_capture_on_commit_callbacks
):
    fund_float(village_agent, "100.00")
    staff = ada.agent_roles.get()
    with django_capture_on_commit_callbacks() as callbacks:
        pay(staff, water_bill(water, "33010001", "60.00"), "k1")
    assert len(callbacks) >= 1
    pay(staff, water_bill(water, "33010002", "10.00"), "k2")
    alert = LowFloatAlert.objects.get()
    assert alert.balance == Decimal("40.00") and alert.resolved_at is None
    assert [(a, a.float_left) for a in selectors.agents_with_low_float(_admin())] == [
        (village_agent, Decimal("30.00"))
    ]
    fund_float(village_agent, "500.00", ref="TX-2")
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def _admin():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("root", "root@example.com", "x")


def test_the_low_float_notice_is_e_mailed_once(ada, village_agent, water, mailoutbox, settings):
    from branches import notifications

    settings.CELERY_TASK_ALWAYS_EAGER = True
    fund_float(village_agent, "60.00")
    pay(ada.agent_roles.get(), water_bill(water, "33010001", "20.00"), "k1")
    alert = LowFloatAlert.objects.get()
    notifications.notify_low_float(alert_id=alert.pk)
    assert not notifications.notify_low_float(alert_id=alert.pk)
    alert.refresh_from_db()
    assert alert.notified_at is not None


def test_an_agent_is_refused_a_biller_not_assigned_to_it(ada, village_agent):
    fund_float(village_agent, "300.00")
    gas = BillerFactory(code="GAS", name="滨江燃气")
    bill = BillFactory(
        account=CustomerAccountFactory(biller=gas, account_no="33010001"),
        period="2026-10",
        amount_due=Decimal("20.00"),
        due_date=timezone.localdate() + datetime.timedelta(days=10),
    )
    with pytest.raises(CounterError) as refused:
        pay(ada.agent_roles.get(), bill, "k1")
    assert refused.value.code == "agent_biller_not_assigned"
    assert not Payment.objects.exists()


def test_an_agent_is_refused_an_account_outside_its_area(ada, village_agent, water):
    village_agent.account_prefixes = "3301"
    village_agent.save()
    fund_float(village_agent, "300.00")
    bill = water_bill(water, "44010001", "20.00")
    with pytest.raises(CounterError) as refused:
        pay(ada.agent_roles.get(), bill, "k1")
    assert refused.value.code == "agent_outside_area"
    with pytest.raises(CounterError):
        selectors.agent_lookup(agent=village_agent, query="44010001", biller_code=water.code)
    assert not Payment.objects.exists()


def test_a_suspended_agent_takes_nothing(ada, village_agent, water):
    fund_float(village_agent, "300.00")
    village_agent.status = "suspended"
    village_agent.save()
    with pytest.raises(CounterError) as refused:
        pay(ada.agent_roles.get(), water_bill(water, "33010001", "20.00"), "k1")
    assert refused.value.code == "agent_not_active"


def test_a_reversed_agent_payment_gives_the_float_back(ada, village_agent, water):
    fund_float(village_agent, "100.00")
    taken = pay(ada.agent_roles.get(), water_bill(water, "33010001", "30.00"), "k1")
    reverse_payment(payment=taken.agent_payment.payment, actor=None, reason="wrong account")
    assert selectors.float_balance(village_agent) == Decimal("100.00")


def test_commission_per_agent_counts_payments_not_voided(ada, village_agent, water):
    fund_float(village_agent, "500.00")
    staff = ada.agent_roles.get()
    pay(staff, water_bill(water, "33010001", "100.00"), "k1")
    voided = pay(staff, water_bill(water, "33010002", "50.00"), "k2")
    reverse_payment(payment=voided.agent_payment.payment, actor=None, reason="test")
    today = timezone.localdate()
    rows = selectors.agent_commission(_admin(), date_from=today, date_to=today)
    assert [(r.agent.code, r.payments, r.amount, r.commission) for r in rows] == [
        ("AG0001", 1, Decimal("100.00"), Decimal("0.60"))
    ]


def test_post_payment_refuses_an_agent_payment_without_its_float():
    from billing.exceptions import PaymentRefused
    from billing.services import post_payment

    with pytest.raises(PaymentRefused) as refused:
        post_payment(channel=Channel.AGENT, idempotency_key="x1", biller_code="WATER", amount="1.00")
    assert refused.value.code == "collection_account_required"
    assert AgentPayment.objects.count() == 0


def test_a_scanned_pay_link_finds_the_bill_of_an_assigned_biller_and_refuses_another(village_agent, water):
    from billing.paylinks import pay_path

    bill = water_bill(water, "33010001", "20.00")
    found = selectors.agent_lookup(
        agent=village_agent, query=f"https://x.example{pay_path(bill)}", biller_code=""
    )
    assert found.account == bill.account and found.selected_periods == {"2026-10"}
    gas = BillerFactory(code="GAS", name="滨江燃气")
    gas_bill = BillFactory(
        account=CustomerAccountFactory(biller=gas, account_no="33010002"),
        period="2026-10",
        amount_due=Decimal("20.00"),
        due_date=timezone.localdate() + datetime.timedelta(days=10),
    )
    with pytest.raises(CounterError) as refused:
        selectors.agent_lookup(
            agent=village_agent, query=f"https://x.example{pay_path(gas_bill)}", biller_code=""
        )
    assert refused.value.code == "agent_biller_not_assigned"


def test_a_live_biller_is_not_asked_about_a_payment_the_float_cannot_cover(
    ada, village_agent, water, monkeypatch
):
    asked = []
    monkeypatch.setattr(agents.presentment, "check_with_biller", lambda **kw: asked.append(kw))
    fund_float(village_agent, "10.00")
    with pytest.raises(CounterError) as refused:
        pay(ada.agent_roles.get(), water_bill(water, "33010001", "20.00"), "k1")
    assert refused.value.code == "float_exhausted" and asked == []


def test_an_unknown_biller_is_refused_as_such(ada, village_agent):
    from billing.exceptions import PaymentRefused

    fund_float(village_agent, "10.00")
    with pytest.raises(PaymentRefused) as refused:
        agents.take_agent_payment(
            staff=ada.agent_roles.get(),
            biller_code="NOPE",
            account_no="1",
            periods=["2026-10"],
            amount="5",
            key="k",
        )
    assert refused.value.code == "biller_unknown"
