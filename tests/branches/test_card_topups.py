"""Card top-ups at the counter (issue 17, item 8): the clerk takes the citizen's chosen amount, the card
writer writes it, and the clerk records the result — written (the money becomes the biller's) or failed
(voided, and the cash goes back from the till)."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import topups
from billing.choices import PaymentMode, PaymentStatus
from billing.exceptions import TopUpRefused
from billing.models import AuditEvent
from billing.selectors import trial_balance
from billing.topup_models import CardWriteRule, TopUpStatus
from branches import selectors, services
from branches.exceptions import CounterError
from tests.factories import BillerFactory, CustomerAccountFactory
from tests.support import log_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def gas(db):
    biller = BillerFactory(
        code="GASCARD", payment_mode=PaymentMode.PREPAID, min_amount="10.00", max_amount="2000.00"
    )
    CardWriteRule.objects.create(biller=biller, timeout_minutes=10)
    CustomerAccountFactory(biller=biller, account_no="62000001", holder_name="张小明")
    return biller


def top_up(dave, till, amount="60.00", key="f1"):
    return services.take_cash(
        clerk=dave,
        till_id=till.pk,
        biller_code="GASCARD",
        account_no="62000001",
        periods=[],
        amount=amount,
        tendered="100.00",
        form_key=key,
    ).counter_payment


def test_the_lookup_of_a_card_account_asks_for_an_amount(client, dave, till, gas):
    log_in(client, dave)
    page = client.get("/counter/lookup/", {"q": "62000001", "biller": "GASCARD"})
    assert page.status_code == 200
    assert page.context["lookup"].topup
    body = page.content.decode()
    assert 'data-topup="1"' in body and 'name="period"' not in body


def test_a_counter_top_up_is_held_and_the_card_writer_confirms_it(client, dave, till, gas):
    cp = top_up(dave, till)
    assert cp.payment.topup_hold.status == TopUpStatus.HELD
    assert cp.change == Decimal("40.00")
    assert trial_balance()["TOPUP:GASCARD"] == Decimal("-60.00")
    log_in(client, dave)
    receipt = client.get(f"/counter/receipt/{cp.payment.receipt_no}/").content.decode()
    assert 'id="card-written"' in receipt and 'id="card-write-failed"' in receipt
    response = client.post(
        f"/counter/receipt/{cp.payment.receipt_no}/card/", {"result": "written", "write_ref": "CW-1"}
    )
    assert response.status_code == 302
    cp.payment.topup_hold.refresh_from_db()
    assert (cp.payment.topup_hold.status, cp.payment.topup_hold.decided_by) == ("written", "terminal")
    assert trial_balance()["PAYABLE:GASCARD"] == Decimal("-60.00")
    assert selectors.till_takings(till) == Decimal("60.00")
    assert AuditEvent.objects.filter(action="counter.card_written").count() == 1


def test_a_failed_write_gives_the_cash_back_from_the_till_once(client, dave, till, gas):
    cp = top_up(dave, till)
    log_in(client, dave)
    url = f"/counter/receipt/{cp.payment.receipt_no}/card/"
    client.post(url, {"result": "failed", "reason": "卡片无法读取"})
    client.post(url, {"result": "failed", "reason": "卡片无法读取"})
    cp.refresh_from_db()
    assert cp.voided_at is not None
    assert cp.payment.status == PaymentStatus.REVERSED
    assert selectors.till_takings(till) == Decimal("0")  # the till no longer holds it: handed back
    assert trial_balance()[f"CASH:{till.branch.code}"] == Decimal("0.00")
    assert AuditEvent.objects.filter(action="topup.voided").count() == 1
    # once voided, "written" is refused and changes nothing
    with pytest.raises(TopUpRefused):
        services.record_card_write(counter_payment=cp, clerk=dave, written=True)


def test_another_clerk_cannot_record_the_write(dave, erin, till, gas):
    cp = top_up(dave, till)
    with pytest.raises(CounterError) as refused:
        services.record_card_write(counter_payment=cp, clerk=erin, written=True)
    assert refused.value.code == "till_not_yours"
    cp.payment.topup_hold.refresh_from_db()
    assert cp.payment.topup_hold.status == TopUpStatus.HELD


def test_a_counter_top_up_nobody_confirms_is_voided_and_leaves_the_till(dave, till, gas):
    cp = top_up(dave, till)
    assert topups.void_expired_topups(now=timezone.now() + datetime.timedelta(minutes=11)) == 1
    cp.refresh_from_db()
    assert cp.voided_at is not None
    assert selectors.till_takings(till) == Decimal("0")


def test_a_top_up_outside_the_limits_is_refused_with_nothing_taken(dave, till, gas):
    from billing.exceptions import PaymentRefused

    with pytest.raises(PaymentRefused) as refused:
        top_up(dave, till, amount="5.00")
    assert refused.value.code == "amount_below_minimum"
    assert selectors.till_takings(till) == Decimal("0")


def test_a_bill_payment_still_needs_a_bill_ticked(dave, till, bill):
    with pytest.raises(CounterError) as refused:
        services.take_cash(
            clerk=dave,
            till_id=till.pk,
            biller_code=bill.biller.code,
            account_no=bill.account.account_no,
            periods=[],
            amount="86.50",
            tendered="100.00",
            form_key="x",
        )
    assert refused.value.code == "nothing_selected"


def test_a_timeout_after_the_till_closed_records_the_refund_as_owed(dave, till, gas):
    cp = top_up(dave, till)
    services.close_till(till_id=till.pk, clerk=dave, counts={10000: 5, 5000: 1, 1000: 1})  # 560.00
    assert topups.void_expired_topups(now=timezone.now() + datetime.timedelta(minutes=11)) == 1
    cp.refresh_from_db()
    assert cp.voided_at is not None
    owed = AuditEvent.objects.get(action="counter.topup_refund_owed")
    assert owed.target_id == str(cp.payment.pk)
