import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.choices import BillerStatus, BillStatus, EntryKind, PaymentStatus
from billing.exceptions import PaymentRefused
from billing.models import AuditEvent, JournalEntry, Payment
from billing.selectors import ledger_balance
from billing.services import change_biller_status
from branches import services
from branches.choices import BranchStatus, TillStatus
from branches.exceptions import CounterError
from branches.models import CounterPayment, Till
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory
from tests.support import take_cash

pytestmark = pytest.mark.django_db


class TestTills:
    def test_a_clerk_opens_a_till_with_a_float_and_it_is_audited(self, till, dave):
        assert till.status == TillStatus.OPEN
        assert till.opening_float == Decimal("500.00")
        assert AuditEvent.objects.filter(action="till.opened", target_id=str(till.pk), actor=dave).exists()

    def test_a_clerk_cannot_open_a_second_till(self, till, dave, branch_x):
        with pytest.raises(CounterError) as refused:
            services.open_till(clerk=dave, branch=branch_x, opening_float="100")
        assert refused.value.code == "till_already_open"

    def test_a_clerk_cannot_open_a_till_at_another_branch(self, dave, branch_y):
        with pytest.raises(CounterError) as refused:
            services.open_till(clerk=dave, branch=branch_y, opening_float="100")
        assert refused.value.code == "not_branch_staff"

    def test_no_till_opens_at_a_suspended_branch(self, dave, branch_x, admin_user):
        services.change_branch_status(
            branch=branch_x, to_status=BranchStatus.SUSPENDED, actor=admin_user, reason="装修"
        )
        with pytest.raises(CounterError) as refused:
            services.open_till(clerk=dave, branch=branch_x, opening_float="100")
        assert refused.value.code == "branch_not_open"
        assert "装修" in refused.value.message


class TestTakingCash:
    def test_cash_is_posted_as_a_counter_payment_with_change(self, till, dave, bill, branch_x):
        taken = take_cash(dave, till, bill)
        payment = taken.counter_payment.payment
        assert not taken.replayed
        assert payment.channel == "counter" and payment.branch == branch_x and payment.actor == dave
        assert taken.counter_payment.change == Decimal("13.50")
        bill.refresh_from_db()
        assert bill.status == BillStatus.PAID
        assert ledger_balance(payment.journal_entries.get().lines.get(amount__gt=0).account) == Decimal(
            "86.50"
        )
        assert AuditEvent.objects.filter(action="counter.cash_taken", target_id=str(payment.pk)).exists()

    def test_the_same_form_sent_twice_posts_once(self, till, dave, bill):
        first = take_cash(dave, till, bill, key="same")
        second = take_cash(dave, till, bill, key="same")
        assert second.replayed
        assert second.counter_payment.pk == first.counter_payment.pk
        assert Payment.objects.count() == 1 and CounterPayment.objects.count() == 1

    def test_cash_is_refused_without_an_open_till(self, till, dave, bill):
        services.close_till(till_id=till.pk, clerk=dave, counts={50000: 0, 10000: 5})
        with pytest.raises(CounterError) as refused:
            take_cash(dave, till, bill)
        assert refused.value.code == "till_closed"

    def test_a_clerk_cannot_use_another_clerks_till(self, till, erin, bill):
        with pytest.raises(CounterError) as refused:
            take_cash(erin, till, bill)
        assert refused.value.code == "till_not_yours"
        assert not Payment.objects.exists()

    def test_a_till_from_yesterday_takes_no_cash(self, till, dave, bill):
        Till.objects.filter(pk=till.pk).update(
            business_date=timezone.localdate() - datetime.timedelta(days=1)
        )
        with pytest.raises(CounterError) as refused:
            take_cash(dave, till, bill)
        assert refused.value.code == "till_from_another_day"

    def test_a_suspended_billers_bill_is_refused_with_its_reason(self, till, dave, bill, admin_user):
        change_biller_status(
            biller=bill.biller, to_status=BillerStatus.SUSPENDED, actor=admin_user, reason="系统升级"
        )
        with pytest.raises(CounterError) as refused:
            take_cash(dave, till, bill)
        assert refused.value.code == "biller_suspended"
        assert "系统升级" in refused.value.message
        assert not Payment.objects.exists()

    def test_a_biller_that_takes_no_cash_is_refused(self, till, dave, bill):
        bill.biller.accepts_cash = False
        bill.biller.save()
        with pytest.raises(CounterError) as refused:
            take_cash(dave, till, bill)
        assert refused.value.code == "biller_takes_no_cash"

    def test_a_branch_that_takes_only_other_categories_refuses_the_biller(self, till, dave, bill, branch_x):
        from billing.models import BillerCategory

        branch_x.takes_all_billers = False
        branch_x.save()
        branch_x.cash_categories.set([BillerCategory.objects.get(code="electricity")])
        with pytest.raises(CounterError) as refused:
            take_cash(dave, till, bill)
        assert refused.value.code == "branch_does_not_take_biller"
        branch_x.cash_categories.add(bill.biller.category)
        assert take_cash(dave, till, bill).counter_payment.pk

    def test_a_branch_suspended_while_the_till_is_open_takes_no_cash(
        self, till, dave, bill, branch_x, admin_user
    ):
        services.change_branch_status(
            branch=branch_x, to_status=BranchStatus.SUSPENDED, actor=admin_user, reason="停电"
        )
        with pytest.raises(CounterError) as refused:
            take_cash(dave, till, bill)
        assert refused.value.code == "branch_not_open"

    def test_too_little_cash_is_refused(self, till, dave, bill):
        with pytest.raises(CounterError) as refused:
            take_cash(dave, till, bill, tendered="50.00")
        assert refused.value.code == "tendered_too_little"

    def test_a_bill_paid_meanwhile_is_refused_clearly(self, till, dave, bill):
        take_cash(dave, till, bill, key="a")
        with pytest.raises(PaymentRefused) as refused:
            take_cash(dave, till, bill, key="b")
        assert refused.value.code == "bill_already_paid"


class TestVoids:
    def test_a_supervisor_approves_a_same_day_void(self, till, dave, sam, bill):
        taken = take_cash(dave, till, bill)
        services.void_counter_payment(
            counter_payment=taken.counter_payment, clerk=dave, supervisor=sam, reason="输错户号"
        )
        payment = Payment.objects.get()
        assert payment.status == PaymentStatus.REVERSED
        bill.refresh_from_db()
        assert bill.status == BillStatus.OPEN
        assert CounterPayment.objects.get().void_approved_by == sam
        assert AuditEvent.objects.filter(action="counter.payment_voided", data__approved_by="sam").exists()

    def test_a_void_without_a_supervisor_of_the_branch_is_refused(self, till, dave, vera, erin, bill):
        taken = take_cash(dave, till, bill)
        for approver in (vera, erin, None):
            with pytest.raises(CounterError) as refused:
                services.void_counter_payment(
                    counter_payment=taken.counter_payment, clerk=dave, supervisor=approver, reason="x"
                )
            assert refused.value.code == "void_supervisor_required"
        assert Payment.objects.get().status == PaymentStatus.POSTED

    def test_yesterdays_payment_cannot_be_voided(self, till, dave, sam, bill):
        taken = take_cash(dave, till, bill)
        Payment.objects.filter(pk=taken.counter_payment.payment_id).update(
            business_date=timezone.localdate() - datetime.timedelta(days=1)
        )
        with pytest.raises(CounterError) as refused:
            services.void_counter_payment(
                counter_payment=taken.counter_payment, clerk=dave, supervisor=sam, reason="x"
            )
        assert refused.value.code == "void_other_day"


class TestClosingTheTill:
    def test_a_short_till_records_the_variance_on_the_till_and_in_the_ledger(
        self, till, dave, bill, branch_x
    ):
        take_cash(dave, till, bill)  # the drawer should hold 500.00 + 86.50 = 586.50
        counts = {10000: 5, 5000: 1, 2000: 1, 1000: 1, 500: 1, 100: 1}  # 586.00
        with pytest.raises(CounterError) as refused:
            services.close_till(till_id=till.pk, clerk=dave, counts=counts)
        assert refused.value.code == "variance_note_required"
        closed = services.close_till(till_id=till.pk, clerk=dave, counts=counts, note="少五角")
        assert closed.expected_cash == Decimal("586.50")
        assert closed.counted_cash == Decimal("586.00")
        assert closed.variance == Decimal("-0.50")
        entry = closed.variance_entry
        assert entry.kind == EntryKind.ADJUSTMENT
        assert {line.account.code: line.amount for line in entry.lines.all()} == {
            "CASH:BR-X": Decimal("-0.50"),
            "OVERSHORT:BR-X": Decimal("0.50"),
        }
        assert AuditEvent.objects.filter(action="till.closed", target_id=str(till.pk)).exists()

    def test_a_till_that_balances_posts_no_ledger_entry(self, till, dave, bill):
        take_cash(dave, till, bill)
        closed = services.close_till(
            till_id=till.pk, clerk=dave, counts={10000: 5, 5000: 1, 2000: 1, 1000: 1, 500: 1, 100: 1, 50: 1}
        )
        assert closed.variance == Decimal("0.00")
        assert closed.variance_entry is None
        assert JournalEntry.objects.filter(kind=EntryKind.ADJUSTMENT).count() == 0

    def test_a_voided_payment_is_not_expected_in_the_drawer(self, till, dave, sam, bill):
        taken = take_cash(dave, till, bill)
        services.void_counter_payment(
            counter_payment=taken.counter_payment, clerk=dave, supervisor=sam, reason="退款"
        )
        closed = services.close_till(till_id=till.pk, clerk=dave, counts={10000: 5})
        assert closed.expected_cash == Decimal("500.00") and closed.variance == Decimal("0.00")

    def test_a_count_must_be_whole_numbers(self, till, dave):
        with pytest.raises(CounterError) as refused:
            services.close_till(till_id=till.pk, clerk=dave, counts={10000: "-1"})
        assert refused.value.code == "count_invalid"


def test_two_billers_and_prepaid_do_not_confuse_the_totals(dave, branch_x):
    """A second biller's bill at the same till adds to what the drawer should hold."""
    till = services.open_till(clerk=dave, branch=branch_x, opening_float="0")
    other = BillerFactory(code="GAS")
    bill = BillFactory(
        account=CustomerAccountFactory(biller=other),
        amount_due=Decimal("20.00"),
        due_date=timezone.localdate() + datetime.timedelta(days=3),
    )
    take_cash(dave, till, bill, amount="20.00", tendered="20.00")
    closed = services.close_till(till_id=till.pk, clerk=dave, counts={1000: 2})
    assert closed.variance == Decimal("0.00")
