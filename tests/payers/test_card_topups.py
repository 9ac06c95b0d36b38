"""Card top-ups paid on the portal (issue 17, item 8): held after the bank's notification, refunded through
the gateway once when the write fails or times out, and the receipt page shows the state live."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import topups
from billing.choices import PaymentMode, PaymentStatus
from billing.models import Payment
from billing.selectors import trial_balance
from billing.topup_models import CardWriteRule, TopUpSource, TopUpStatus
from payers import selectors, services
from payers.choices import LineOutcome
from payers.models import OrderLine, SandboxBankTrade
from tests.factories import BillerFactory, CustomerAccountFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_bank")]


@pytest.fixture
def gas(db):
    biller = BillerFactory(
        code="GASCARD",
        name="滨江燃气",
        name_en="Binjiang Gas",
        payment_mode=PaymentMode.PREPAID,
        min_amount="10.00",
        max_amount="2000.00",
    )
    CardWriteRule.objects.create(biller=biller, timeout_minutes=20)
    CustomerAccountFactory(biller=biller, account_no="62000001", holder_name="张小明")
    return biller


def paid_top_up(bank, amount="88.00"):
    order = bank.checkout({"biller": "GASCARD", "account_no": "62000001", "amount": amount})
    bank.pay(order)
    assert bank.notify(order).content == b"success"
    return order, Payment.objects.get()


def test_a_portal_top_up_is_held_until_written(bank, gas, client):
    _order, payment = paid_top_up(bank)
    assert payment.topup_hold.status == TopUpStatus.HELD
    assert trial_balance()["TOPUP:GASCARD"] == Decimal("-88.00")
    token = selectors.receipt_token(payment)
    page = client.get(f"/receipts/{token}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'hx-get="/receipts/' in body and "/card/" in body  # the status region polls while held
    topups.confirm_topup(payment=payment, source=TopUpSource.BILLER, write_ref="W-9")
    fragment = client.get(f"/receipts/{token}/card/")
    assert fragment.status_code == 200
    assert "hx-get" not in fragment.content.decode()  # final: polling stops
    assert trial_balance()["PAYABLE:GASCARD"] == Decimal("-88.00")


def test_a_failed_write_refunds_the_payer_through_the_bank_once(
    bank, gas, client, django_capture_on_commit_callbacks
):
    order, payment = paid_top_up(bank)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        topups.void_topup(payment=payment, source=TopUpSource.BILLER, reason="card unreadable")
    assert callbacks  # the refund task leaves after commit
    line = OrderLine.objects.get()
    assert (line.outcome, line.refusal_code) == (LineOutcome.REFUND_PENDING, "topup_voided")
    with django_capture_on_commit_callbacks(execute=False) as again:
        topups.void_topup(payment=payment, source=TopUpSource.BILLER, reason="card unreadable")
    assert not [c for c in again if "refund" in repr(c)]
    assert services.refund_line(line_id=line.pk) == LineOutcome.REFUNDED
    assert services.refund_line(line_id=line.pk) == LineOutcome.REFUNDED
    trade = SandboxBankTrade.objects.get(merchant_order_no=order.order_no)
    assert len(trade.refunds) == 1  # the bank refunded once
    assert Payment.objects.get().status == PaymentStatus.REVERSED
    balances = trial_balance()
    assert balances["CLEARING:ONLINE"] == Decimal("0.00") and balances["TOPUP:GASCARD"] == Decimal("0.00")
    fragment = client.get(f"/receipts/{selectors.receipt_token(payment)}/card/").content.decode()
    assert "hx-get" not in fragment and "88.00" in fragment


def test_an_unconfirmed_portal_top_up_times_out_into_one_refund(
    bank, gas, django_capture_on_commit_callbacks
):
    _order, _payment = paid_top_up(bank)
    later = timezone.now() + datetime.timedelta(minutes=21)
    with django_capture_on_commit_callbacks(execute=True):
        assert topups.void_expired_topups(now=later) == 1
        assert topups.void_expired_topups(now=later) == 0
    line = OrderLine.objects.get()
    assert line.outcome == LineOutcome.REFUNDED and line.refund_no


def test_the_card_status_of_a_bill_payment_is_not_found(client):
    assert client.get("/receipts/not-a-token/card/").status_code == 404
