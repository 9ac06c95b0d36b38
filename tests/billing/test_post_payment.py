"""post_payment: allocation by amount rule, idempotency, refusals that store nothing, reversal."""

from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone, translation

from billing.audit import PaymentAudit
from billing.choices import AllocationKind, AmountRule, BillerStatus, BillStatus, Channel, PaymentMode
from billing.exceptions import IdempotencyConflict, PaymentRefused
from billing.models import (
    AuditEvent,
    CustomerAccount,
    JournalEntry,
    LedgerAccount,
    Payment,
    PaymentAllocation,
)
from billing.selectors import ledger_balance, trial_balance, unbalanced_entry_ids
from billing.services import cancel_bill, change_biller_status, post_payment, reverse_payment
from tests.factories import BillerFactory, BillFactory, BranchFactory, CustomerAccountFactory
from tests.support import pay

pytestmark = pytest.mark.django_db


def money_rows():
    return (Payment.objects.count(), PaymentAllocation.objects.count(), JournalEntry.objects.count())


@pytest.fixture
def account():
    return CustomerAccountFactory()


@pytest.fixture
def two_bills(account):
    older = BillFactory(
        account=account, period="2026-08", amount_due=Decimal("100.00"), due_date="2026-09-20"
    )
    newer = BillFactory(account=account, period="2026-09", amount_due=Decimal("80.00"), due_date="2026-10-20")
    return older, newer


class TestAllocation:
    def test_exact_rule_pays_the_oldest_bill_first(self, two_bills):
        older, newer = two_bills
        result = pay(older.account, "100.00")
        older.refresh_from_db()
        newer.refresh_from_db()
        assert not result.replayed
        assert (older.status, newer.status) == (BillStatus.PAID, BillStatus.OPEN)
        assert older.amount_paid == Decimal("100.00")

    def test_exact_rule_takes_all_bills_at_once(self, two_bills):
        pay(two_bills[0].account, "180.00")
        assert {b.status for b in BillFactory._meta.model.objects.all()} == {BillStatus.PAID}

    def test_exact_rule_refuses_a_fragment_and_says_what_it_takes(self, two_bills):
        with translation.override("en"), pytest.raises(PaymentRefused) as refused:
            pay(two_bills[0].account, "150.00")
        assert refused.value.code == "amount_not_exact"
        assert "¥100.00 / ¥180.00" in refused.value.message

    def test_named_bill_is_paid_even_when_not_the_oldest(self, two_bills):
        older, newer = two_bills
        pay(older.account, "80.00", periods=["2026-09"])
        newer.refresh_from_db()
        older.refresh_from_db()
        assert (older.status, newer.status) == (BillStatus.OPEN, BillStatus.PAID)

    def test_partial_rule_leaves_the_last_bill_partly_paid(self, two_bills):
        older, newer = two_bills
        older.biller.amount_rule = AmountRule.EXACT_DOWN
        older.biller.save()
        pay(older.account, "130.00")
        older.refresh_from_db()
        newer.refresh_from_db()
        assert (older.status, newer.status) == (BillStatus.PAID, BillStatus.PARTLY_PAID)
        assert newer.amount_paid == Decimal("30.00")

    def test_partial_rule_refuses_more_than_is_due(self, two_bills):
        two_bills[0].biller.amount_rule = AmountRule.EXACT_DOWN
        two_bills[0].biller.save()
        with pytest.raises(PaymentRefused) as refused:
            pay(two_bills[0].account, "180.01")
        assert refused.value.code == "amount_exceeds_due"

    def test_exact_up_rule_keeps_the_excess_as_credit(self, two_bills):
        older, newer = two_bills
        older.biller.amount_rule = AmountRule.EXACT_UP
        older.biller.save()
        result = pay(older.account, "150.00")
        older.refresh_from_db()
        newer.refresh_from_db()
        older.account.refresh_from_db()
        assert (older.status, newer.status) == (BillStatus.PAID, BillStatus.OPEN)
        assert older.account.credit_balance == Decimal("50.00")
        kinds = dict(result.payment.allocations.values_list("kind", "amount"))
        assert kinds == {AllocationKind.BILL: Decimal("100.00"), AllocationKind.CREDIT: Decimal("50.00")}

    def test_late_fee_is_part_of_what_is_due(self, account):
        bill = BillFactory(account=account, amount_due=Decimal("100.00"), late_fee=Decimal("5.50"))
        with pytest.raises(PaymentRefused):
            pay(account, "100.00")
        pay(account, "105.50")
        bill.refresh_from_db()
        assert bill.status == BillStatus.PAID

    def test_prepaid_top_up_takes_any_amount_inside_the_limits(self):
        biller = BillerFactory(payment_mode=PaymentMode.PREPAID, min_amount="10.00", max_amount="2000.00")
        account = CustomerAccountFactory(biller=biller)
        result = pay(account, "37.50")
        assert result.payment.allocations.get().kind == AllocationKind.TOPUP
        with pytest.raises(PaymentRefused) as refused:
            pay(account, "9.99", key="k2")
        assert refused.value.code == "amount_below_minimum"

    def test_anonymous_donation_needs_no_account(self):
        charity = BillerFactory(payment_mode=PaymentMode.DONATION, max_amount="50000.00")
        result = post_payment(
            channel=Channel.ONLINE, idempotency_key="gift", biller_code=charity.code, amount="88.88"
        )
        assert result.payment.account is None
        assert result.payment.allocations.get().kind == AllocationKind.DONATION

    def test_counter_payment_debits_the_branch_cash(self, two_bills):
        branch = BranchFactory()
        pay(two_bills[0].account, "100.00", channel=Channel.COUNTER, branch=branch)
        assert trial_balance()[f"CASH:{branch.code}"] == Decimal("100.00")

    def test_payment_credits_the_biller_and_debits_the_channel(self, two_bills):
        pay(two_bills[0].account, "180.00")
        balances = trial_balance()
        assert balances["CLEARING:ONLINE"] == Decimal("180.00")
        assert balances[f"PAYABLE:{two_bills[0].biller.code}"] == Decimal("-180.00")
        assert sum(balances.values()) == 0


class TestIdempotency:
    def test_same_key_and_request_returns_the_original_payment(self, two_bills):
        first = pay(two_bills[0].account, "100.00")
        again = pay(two_bills[0].account, "100.00")
        assert again.replayed and again.payment.pk == first.payment.pk
        assert Payment.objects.count() == 1

    def test_same_key_with_a_different_request_is_refused(self, two_bills):
        first = pay(two_bills[0].account, "100.00")
        with translation.override("en"), pytest.raises(IdempotencyConflict) as refused:
            pay(two_bills[0].account, "180.00")
        assert refused.value.code == "idempotency_conflict"
        assert first.payment.receipt_no in refused.value.message

    def test_keys_are_per_channel(self, two_bills):
        pay(two_bills[0].account, "100.00", key="same")
        pay(two_bills[0].account, "80.00", key="same", channel=Channel.PARTNER)
        assert Payment.objects.count() == 2

    def test_a_refused_request_stores_nothing_so_a_corrected_retry_goes_through(self, two_bills):
        with pytest.raises(PaymentRefused):
            pay(two_bills[0].account, "150.00", key="retry")
        result = pay(two_bills[0].account, "100.00", key="retry")
        assert not result.replayed

    def test_the_audit_row_asked_for_is_written_with_the_payment_and_never_for_a_replay(self, two_bills):
        audit = PaymentAudit("partner.payment_taken", {"partner": "P01", "amount": Decimal("100.00")})
        first = pay(two_bills[0].account, "100.00", audit=audit)
        again = pay(two_bills[0].account, "100.00", audit=audit)
        assert again.replayed
        event = AuditEvent.objects.get(action="partner.payment_taken")
        assert (event.target_type, event.target_id) == ("billing.payment", str(first.payment.pk))
        assert event.target_repr == first.payment.receipt_no
        assert event.data == {"partner": "P01", "amount": "100.00"}
        assert (event.actor_id, event.created_at) == (None, first.payment.posted_at)

    def test_without_an_audit_row_asked_for_none_is_written(self, two_bills):
        pay(two_bills[0].account, "100.00")
        assert not AuditEvent.objects.exists()

    def test_receipt_numbers_are_long_and_random(self, two_bills):
        a = pay(two_bills[0].account, "100.00", key="a").payment
        b = pay(two_bills[0].account, "80.00", key="b").payment
        assert len(a.receipt_no) == 25 and a.receipt_no[9:] != b.receipt_no[9:]


BAD_INPUT = [
    ("zero", {"amount": "0"}, "amount_not_positive"),
    ("negative", {"amount": "-100.00"}, "amount_not_positive"),
    ("three decimals", {"amount": "100.005"}, "amount_invalid"),
    ("a float", {"amount": 100.0}, "amount_invalid"),
    ("words", {"amount": "一百"}, "amount_invalid"),
    ("above the biller's limit", {"amount": "5000.01"}, "amount_above_maximum"),
    ("unknown account", {"account_no": "99999999"}, "account_unknown"),
    ("number breaking the rule", {"account_no": "1234-abc"}, "account_number_invalid"),
    ("no account number", {"account_no": ""}, "account_required"),
    ("unknown biller", {"biller_code": "NOPE"}, "biller_unknown"),
    ("unknown bill", {"periods": ["2025-01"]}, "bill_unknown"),
    ("bad key", {"idempotency_key": "has space"}, "idempotency_key_invalid"),
    ("counter without branch", {"channel": Channel.COUNTER}, "branch_required"),
    ("unknown channel", {"channel": "pigeon"}, "channel_invalid"),
]


class TestBadInput:
    @pytest.fixture
    def request_kwargs(self, two_bills):
        biller = two_bills[0].biller
        biller.max_amount = Decimal("5000.00")
        biller.save()
        return {
            "channel": Channel.ONLINE,
            "idempotency_key": "bad-1",
            "biller_code": biller.code,
            "account_no": two_bills[0].account.account_no,
            "amount": "100.00",
        }

    @pytest.mark.parametrize(("case", "change", "code"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
    def test_is_refused_with_a_clear_message_and_leaves_no_rows(self, request_kwargs, case, change, code):
        before = money_rows()
        with pytest.raises(PaymentRefused) as refused:
            post_payment(**{**request_kwargs, **change})
        assert refused.value.code == code
        with translation.override("en"):
            assert len(refused.value.message) > 15
        with translation.override("zh-hans"):
            assert refused.value.message != ""
        assert money_rows() == before

    def test_cancelled_bill_is_refused(self, two_bills, admin_user):
        cancel_bill(bill=two_bills[1], actor=admin_user, reason="重复出账")
        with pytest.raises(PaymentRefused) as refused:
            pay(two_bills[1].account, "80.00", periods=["2026-09"])
        assert refused.value.code == "bill_cancelled"
        assert money_rows() == (0, 0, 0)

    def test_suspended_biller_is_refused_with_its_reason(self, two_bills, admin_user):
        change_biller_status(
            biller=two_bills[0].biller,
            to_status=BillerStatus.SUSPENDED,
            actor=admin_user,
            reason="系统升级，暂停缴费",
        )
        with pytest.raises(PaymentRefused) as refused:
            pay(two_bills[0].account, "100.00")
        assert refused.value.code == "biller_not_active"
        assert "系统升级" in refused.value.message
        assert money_rows() == (0, 0, 0)

    def test_paid_bill_named_again_is_refused(self, two_bills):
        pay(two_bills[0].account, "100.00", key="first", periods=["2026-08"])
        with pytest.raises(PaymentRefused) as refused:
            pay(two_bills[0].account, "100.00", key="second", periods=["2026-08"])
        assert refused.value.code == "bill_already_paid"

    def test_account_with_nothing_due_is_refused(self, account):
        with pytest.raises(PaymentRefused) as refused:
            pay(account, "10.00")
        assert refused.value.code == "no_open_bill"

    def test_chinese_message_is_the_default(self, two_bills):
        with pytest.raises(PaymentRefused) as refused:
            pay(two_bills[0].account, "0")
        with translation.override("zh-hans"):
            assert "金额" in refused.value.message


class TestReversal:
    def test_reversal_restores_bills_and_mirrors_the_ledger(self, two_bills, admin_user):
        payment = pay(two_bills[0].account, "180.00").payment
        reverse_payment(payment=payment, actor=admin_user, reason="客户投诉重复扣款")
        payment.refresh_from_db()
        assert payment.status == "reversed"
        assert set(BillFactory._meta.model.objects.values_list("status", "amount_paid")) == {
            (BillStatus.OPEN, Decimal("0.00"))
        }
        assert all(balance == 0 for balance in trial_balance().values())
        assert JournalEntry.objects.filter(reverses__payment=payment).count() == 1
        assert AuditEvent.objects.filter(action="payment.reversed", target_id=str(payment.pk)).exists()

    def test_credit_is_taken_back(self, two_bills, admin_user):
        two_bills[0].biller.amount_rule = AmountRule.EXACT_UP
        two_bills[0].biller.save()
        payment = pay(two_bills[0].account, "200.00").payment
        reverse_payment(payment=payment, actor=admin_user, reason="误付")
        two_bills[0].account.refresh_from_db()
        assert two_bills[0].account.credit_balance == Decimal("0.00")

    def test_the_reversal_writes_negative_allocations_and_a_mirror_entry_naming_who_and_why(
        self, two_bills, admin_user
    ):
        two_bills[0].biller.amount_rule = AmountRule.EXACT_UP
        two_bills[0].biller.save()
        payment = pay(two_bills[0].account, "200.00").payment
        original = payment.journal_entries.get()
        reverse_payment(payment=payment, actor=admin_user, reason="  客户投诉重复扣款 ")

        payment.refresh_from_db()
        assert (payment.status, payment.reversal_reason) == ("reversed", "客户投诉重复扣款")
        assert payment.reversed_at is not None
        allocations = PaymentAllocation.objects.filter(payment=payment).order_by("id")
        reversing = [(a.bill_id, a.kind, a.amount) for a in allocations.filter(is_reversal=True)]
        assert reversing == [(a.bill_id, a.kind, -a.amount) for a in allocations.filter(is_reversal=False)]
        assert (None, AllocationKind.CREDIT, Decimal("-20.00")) in reversing
        mirror = JournalEntry.objects.get(reverses=original)
        assert (mirror.kind, mirror.payment_id, mirror.created_by) == ("reversal", payment.pk, admin_user)
        assert mirror.memo == f"{payment.receipt_no} 客户投诉重复扣款"
        assert mirror.business_date == timezone.localdate(payment.reversed_at)
        assert sorted((line.account_id, line.amount) for line in mirror.lines.all()) == sorted(
            (line.account_id, -line.amount) for line in original.lines.all()
        )

    def test_a_reversal_whose_credit_was_spent_is_refused_and_writes_nothing(self, two_bills, admin_user):
        two_bills[0].biller.amount_rule = AmountRule.EXACT_UP
        two_bills[0].biller.save()
        payment = pay(two_bills[0].account, "200.00").payment
        CustomerAccount.objects.filter(pk=two_bills[0].account.pk).update(credit_balance=Decimal("5.00"))
        before = money_rows()
        with pytest.raises(PaymentRefused) as refused:
            reverse_payment(payment=payment, actor=admin_user, reason="误付")
        assert refused.value.code == "credit_already_used"
        assert money_rows() == before
        payment.refresh_from_db()
        assert payment.status == "posted"
        assert set(BillFactory._meta.model.objects.values_list("status", flat=True)) == {BillStatus.PAID}
        assert not AuditEvent.objects.filter(action="payment.reversed").exists()

    def test_a_payment_is_reversed_once(self, two_bills, admin_user):
        payment = pay(two_bills[0].account, "100.00").payment
        reverse_payment(payment=payment, actor=admin_user, reason="一")
        with pytest.raises(PaymentRefused) as refused:
            reverse_payment(payment=payment, actor=admin_user, reason="二")
        assert refused.value.code == "payment_already_reversed"

    def test_reversal_needs_a_reason(self, two_bills, admin_user):
        payment = pay(two_bills[0].account, "100.00").payment
        with pytest.raises(PaymentRefused):
            reverse_payment(payment=payment, actor=admin_user, reason="  ")

    def test_bill_amount_paid_is_the_sum_of_its_allocations_after_reversal(self, two_bills, admin_user):
        older = two_bills[0]
        payment = pay(older.account, "100.00", key="a").payment
        reverse_payment(payment=payment, actor=admin_user, reason="撤销")
        pay(older.account, "100.00", key="b")
        older.refresh_from_db()
        allocated = PaymentAllocation.objects.filter(bill=older).aggregate(s=Sum("amount"))["s"]
        assert older.amount_paid == allocated == Decimal("100.00")


def test_balances_after_known_payments_and_a_reversal_are_the_ones_worked_out_by_hand(two_bills, admin_user):
    """Debit-positive: the channel's clearing account is owed what came in, the biller is owed it back."""
    account = two_bills[0].account
    other = CustomerAccountFactory()
    BillFactory(account=other, period="2026-09", amount_due=Decimal("25.50"))
    pay(account, "100.00", key="first")
    second = pay(account, "80.00", key="second").payment
    pay(other, "25.50", key="other")
    reverse_payment(payment=second, actor=admin_user, reason="付错了")
    payable = f"PAYABLE:{account.biller.code}"
    other_payable = f"PAYABLE:{other.biller.code}"
    assert trial_balance() == {
        "CLEARING:ONLINE": Decimal("125.50"),  # 100.00 + 80.00 + 25.50 - 80.00
        other_payable: Decimal("-25.50"),
        payable: Decimal("-100.00"),  # -100.00 - 80.00 + 80.00
    }
    assert ledger_balance(LedgerAccount.objects.get(code=payable)) == Decimal("-100.00")
    assert ledger_balance(LedgerAccount.objects.get(code="FEES")) == Decimal("0.00")
    assert unbalanced_entry_ids() == []


def test_paying_a_bill_updates_its_row_in_place(two_bills):
    """A payment's bill update is HOT (migration 0031): no indexed column, nor any index condition, holds
    what a payment changes, so the new row version needs no index entry."""
    from django.db import connection

    def updates():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_stat_get_xact_tuples_updated(%s::regclass),"
                " pg_stat_get_xact_tuples_hot_updated(%s::regclass)",
                ["billing_bill", "billing_bill"],
            )
            return cursor.fetchone()

    updated_before, hot_before = updates()
    pay(two_bills[0].account, "100.00")  # the older bill: open → paid
    updated, hot = updates()
    assert (updated - updated_before, hot - hot_before) == (1, 1)
