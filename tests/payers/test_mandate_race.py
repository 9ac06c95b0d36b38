"""A mandate's debit, a counter clerk and the citizen paying online, all for the same bill at the same
moment: exactly one payment is posted; the losers are refused (the counter), or their money goes back
(the debit is refunded at the bank; the online order's line waits for its refund), and nothing else is
posted."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from billing import roles
from billing.choices import PaymentStatus
from billing.exceptions import BillingError
from billing.models import Payment
from branches import services as counter
from branches.choices import BranchRole
from branches.models import BranchStaff
from payers import mandates, services
from payers.choices import DebitStatus, LineOutcome, OrderKind
from payers.gateways import signing
from payers.models import BoundAccount, MandateDebit, OrderLine, Payer, SandboxBankTrade
from tests.factories import BillFactory, BranchFactory
from tests.payers.test_mandates import active_mandate
from tests.support import make_staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_a_debit_a_clerk_and_the_citizen_racing_for_one_bill_pay_it_once(
    water, sandbox_bank, django_user_model
):
    citizen = django_user_model.objects.create_user("xm", "xm@example.com", "pw-xm-12345")
    Payer.objects.create(user=citizen)
    bound = BoundAccount.objects.create(user=citizen, account=water["account"], label="家里水费")
    active_mandate(citizen, bound, notice_days=1)
    bill = BillFactory(
        account=water["account"],
        period="2026-12",
        amount_due=Decimal("95.00"),
        due_date=datetime.date(2027, 1, 20),
    )
    mandates.schedule_debits()
    debit = MandateDebit.objects.get()
    MandateDebit.objects.filter(pk=debit.pk).update(debit_on=timezone.localdate())  # its day has come

    branch = BranchFactory(code="BR-RACE")
    clerk = make_staff(django_user_model, "dave", roles.BRANCH_CLERK, password="pw-counter-1234")
    BranchStaff.objects.create(user=clerk, branch=branch, role=BranchRole.CLERK)
    till = counter.open_till(clerk=clerk, branch=branch, opening_float="100")

    order = services.start_checkout(
        lines=services.lines_for_bills([bill.pk]),
        kind=OrderKind.BILLS,
        user=citizen,
        gateway_code="SANDBOX",
        subject="water",
    )
    notice = signing.signed(
        {
            "merchant_id": settings.SANDBOX_BANK_MERCHANT_ID,
            "out_trade_no": order.order_no,
            "trade_no": "SBXRACE0001",
            "trade_status": "TRADE_SUCCESS",
            "total_amount": "95.00",
            "sub_trades": "1:SBXRACE0001-1",
        },
        settings.SANDBOX_BANK_KEY,
    )

    barrier = threading.Barrier(3)
    outcomes = {}

    def run(name, action):
        try:
            barrier.wait(timeout=10)
            outcomes[name] = action()
        except BillingError as refused:
            outcomes[name] = refused
        finally:
            connection.close()

    actions = {
        "mandate": lambda: mandates.run_debit(debit_id=debit.pk),
        "counter": lambda: counter.take_cash(
            clerk=clerk,
            till_id=till.pk,
            biller_code=water["biller"].code,
            account_no=water["account"].account_no,
            periods=[bill.period],
            amount="95.00",
            tendered="100.00",
            form_key="race-counter",
        ),
        "online": lambda: services.apply_notification(gateway_code="SANDBOX", params=notice),
    }
    threads = [threading.Thread(target=run, args=item) for item in actions.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(outcomes) == 3, outcomes
    posted = Payment.objects.filter(status=PaymentStatus.POSTED)
    assert posted.count() == 1, outcomes
    bill.refresh_from_db()
    assert bill.status == "paid" and bill.amount_paid == Decimal("95.00")
    winner = posted.get()
    debit.refresh_from_db()
    line = OrderLine.objects.get(order=order)
    if winner.idempotency_key == debit.idempotency_key:
        assert debit.status == DebitStatus.PAID
    else:
        # The debit lost: refused before the bank (the bill was already paid), or refunded after it.
        assert debit.status in (DebitStatus.PAID_ELSEWHERE, DebitStatus.REFUNDED)
        if debit.status == DebitStatus.REFUNDED:
            assert SandboxBankTrade.objects.get(merchant_order_no=debit.order_no).refunds
    if winner.channel != "counter":
        assert isinstance(outcomes["counter"], BillingError)
    if winner.pk != getattr(line.payment, "pk", None):
        assert line.outcome in (LineOutcome.REFUND_PENDING, LineOutcome.REFUND_FAILED, LineOutcome.REFUNDED)


def test_two_runs_of_a_partners_debit_post_it_once(water):
    """Two workers run the same due debit of a partner's mandate at once: one PARTNER payment."""
    from tests.payers.test_mandates import partner_mandate

    partner_mandate(water)
    BillFactory(
        account=water["account"],
        period="2026-12",
        amount_due=Decimal("95.00"),
        due_date=datetime.date(2027, 1, 20),
    )
    mandates.schedule_debits()
    debit = MandateDebit.objects.get()
    MandateDebit.objects.filter(pk=debit.pk).update(debit_on=timezone.localdate())
    barrier = threading.Barrier(2)
    outcomes = []

    def run():
        try:
            barrier.wait(timeout=10)
            outcomes.append(mandates.run_debit(debit_id=debit.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == 2
    assert Payment.objects.filter(status=PaymentStatus.POSTED, channel="partner").count() == 1
    debit.refresh_from_db()
    assert debit.status == DebitStatus.PAID and debit.payment is not None
