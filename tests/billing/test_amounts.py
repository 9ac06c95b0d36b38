"""Amounts that change with the payment date (issue 17, item 2): late fees per day after the due date,
capped, and an early-payment discount, worked out for the payment day in Beijing time, and posted with
the principal and the late fee kept apart in the allocations and the ledger."""

import datetime
from decimal import Decimal

import pytest
from django.utils import translation

from billing import amounts
from billing.choices import AllocationKind, AmountRule, BillStatus, Channel
from billing.exceptions import PaymentRefused
from billing.models import JournalLine, LedgerAccount, PaymentAllocation
from billing.selectors import unbalanced_entry_ids
from billing.services import post_payment, reverse_payment
from demo.clock import at
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

pytestmark = pytest.mark.django_db

D = Decimal
DUE = datetime.date(2026, 11, 30)


def beijing(day: datetime.date, hour: int = 10, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=amounts.BEIJING)


@pytest.fixture
def police():
    """A traffic-police biller: 0.05% a day after the due date, never more than the fine itself."""
    return BillerFactory(late_fee_daily_rate=D("0.000500"), late_fee_cap_rate=D("1.0000"))


@pytest.fixture
def fine(police):
    account = CustomerAccountFactory(biller=police)
    return BillFactory(account=account, amount_due=D("2000.00"), due_date=DUE, period="2026-10")


@pytest.fixture
def school_fee():
    """A school's fee: ¥100 off when paid by 2026-12-10."""
    school = BillerFactory()
    account = CustomerAccountFactory(biller=school)
    return BillFactory(
        account=account,
        amount_due=D("3000.00"),
        due_date=datetime.date(2026, 12, 31),
        period="2026-12",
        early_discount=D("100.00"),
        discount_until=datetime.date(2026, 12, 10),
    )


def pay(bill, amount, key="k1", **kwargs):
    return post_payment(
        channel=Channel.PARTNER,
        idempotency_key=key,
        biller_code=bill.biller.code,
        account_no=bill.account.account_no,
        amount=amount,
        **kwargs,
    ).payment


class TestLateFee:
    def test_on_the_due_date_there_is_no_late_fee_and_the_amount_holds_that_day(self, fine):
        quote = amounts.amount_due(fine, on=DUE)
        assert (quote.late_fee, quote.total, quote.late_days) == (D("0.00"), D("2000.00"), 0)
        assert quote.holds_until == DUE

    def test_one_day_late_costs_one_days_fee_and_holds_only_that_day(self, fine):
        day = DUE + datetime.timedelta(days=1)
        quote = amounts.amount_due(fine, on=day)
        assert (quote.late_fee, quote.total, quote.late_days) == (D("1.00"), D("2001.00"), 1)
        assert quote.holds_until == day

    def test_the_fee_is_rounded_to_the_fen_half_up(self, police):
        account = CustomerAccountFactory(biller=police)
        bill = BillFactory(account=account, amount_due=D("123.45"), due_date=DUE)
        # 123.45 × 0.0005 × 3 = 0.185175 → 0.19
        assert amounts.amount_due(bill, on=DUE + datetime.timedelta(days=3)).late_fee == D("0.19")

    def test_the_fee_stops_at_the_cap_and_then_the_amount_no_longer_changes(self, fine):
        # 2000 × 0.0005 × 2000 days = 2000 = the cap (the fine itself)
        capped = amounts.amount_due(fine, on=DUE + datetime.timedelta(days=2000))
        later = amounts.amount_due(fine, on=DUE + datetime.timedelta(days=2500))
        assert capped.late_fee == later.late_fee == D("2000.00")
        assert capped.holds_until is None

    def test_the_day_before_the_cap_holds_one_day(self, fine):
        day = DUE + datetime.timedelta(days=1999)
        quote = amounts.amount_due(fine, on=day)
        assert quote.late_fee == D("1999.00")
        assert quote.holds_until == day

    def test_a_biller_without_a_rate_keeps_the_imported_late_fee(self):
        bill = BillFactory(amount_due=D("100.00"), late_fee=D("5.00"), due_date=DUE)
        quote = amounts.amount_due(bill, on=DUE + datetime.timedelta(days=30))
        assert (quote.late_fee, quote.total, quote.holds_until) == (D("5.00"), D("105.00"), None)

    def test_before_the_due_date_the_amount_holds_until_the_due_date(self, fine):
        quote = amounts.amount_due(fine, on=DUE - datetime.timedelta(days=5))
        assert (quote.total, quote.holds_until) == (D("2000.00"), DUE)


class TestDiscount:
    def test_the_discount_holds_on_its_last_day(self, school_fee):
        quote = amounts.amount_due(school_fee, on=datetime.date(2026, 12, 10))
        assert (quote.discount, quote.total, quote.holds_until) == (
            D("100.00"),
            D("2900.00"),
            datetime.date(2026, 12, 10),
        )

    def test_the_discount_is_gone_the_day_after(self, school_fee):
        quote = amounts.amount_due(school_fee, on=datetime.date(2026, 12, 11))
        assert (quote.discount, quote.total) == (D("0.00"), D("3000.00"))

    def test_a_discounted_payment_closes_the_bill_and_records_the_discount(self, school_fee):
        with at(beijing(datetime.date(2026, 12, 10), 23, 59)):
            pay(school_fee, "2900.00")
        school_fee.refresh_from_db()
        assert (school_fee.status, school_fee.discount_granted, school_fee.amount_paid) == (
            BillStatus.PAID,
            D("100.00"),
            D("2900.00"),
        )
        assert school_fee.outstanding == D("0.00")

    def test_the_discounted_amount_after_beijing_midnight_is_refused_as_changed(self, school_fee):
        # 2026-12-10 16:00 UTC is 2026-12-11 00:00 in Beijing: the discount is over.
        with (
            at(datetime.datetime(2026, 12, 10, 16, 0, tzinfo=datetime.UTC)),
            translation.override("en"),
            pytest.raises(PaymentRefused) as refused,
        ):
            pay(school_fee, "2900.00")
        assert refused.value.code == "amount_due_changed"
        assert "¥3,000.00" in refused.value.message
        assert not PaymentAllocation.objects.exists()

    def test_a_reversed_discounted_payment_gives_the_discount_back(self, school_fee):
        with at(beijing(datetime.date(2026, 12, 9))):
            payment = pay(school_fee, "2900.00")
            reverse_payment(payment=payment, actor=None, reason="bank recalled it")
        school_fee.refresh_from_db()
        assert (school_fee.status, school_fee.amount_paid) == (BillStatus.OPEN, D("0.00"))
        assert amounts.amount_due(school_fee, on=datetime.date(2026, 12, 11)).total == D("3000.00")


class TestBeijingDay:
    def test_just_before_beijing_midnight_is_still_the_due_date(self, fine):
        # 2026-11-30 15:59 UTC is 23:59 on the due date in Beijing.
        with at(datetime.datetime(2026, 11, 30, 15, 59, tzinfo=datetime.UTC)):
            assert amounts.beijing_today() == DUE
            assert fine.outstanding == D("2000.00")

    def test_beijing_midnight_starts_the_first_late_day_while_utc_is_still_on_the_due_date(self, fine):
        with at(datetime.datetime(2026, 11, 30, 16, 0, tzinfo=datetime.UTC)):
            assert amounts.beijing_today() == DUE + datetime.timedelta(days=1)
            assert fine.outstanding == D("2001.00")


class TestPosting:
    def test_principal_and_late_fee_go_to_separate_allocations_and_ledger_accounts(self, fine):
        with at(beijing(DUE + datetime.timedelta(days=10))):
            payment = pay(fine, "2010.00")
        fine.refresh_from_db()
        assert (fine.status, fine.late_fee, fine.amount_paid) == (BillStatus.PAID, D("10.00"), D("2010.00"))
        parts = dict(payment.allocations.values_list("kind", "amount"))
        assert parts == {AllocationKind.BILL: D("2000.00"), AllocationKind.LATE_FEE: D("10.00")}
        lines = dict(
            JournalLine.objects.filter(entry__payment=payment).values_list("account__code", "amount")
        )
        code = fine.biller.code
        assert lines[f"PAYABLE:{code}"] == D("-2000.00")
        assert lines[f"LATEFEE:{code}"] == D("-10.00")
        assert LedgerAccount.objects.get(code=f"LATEFEE:{code}").biller == fine.biller
        assert unbalanced_entry_ids() == []

    def test_yesterdays_amount_is_refused_with_todays_and_until_when_it_holds(self, fine):
        with (
            at(beijing(DUE + datetime.timedelta(days=2), 0, 5)),
            translation.override("en"),
            pytest.raises(PaymentRefused) as refused,
        ):
            pay(fine, "2001.00")
        assert refused.value.code == "amount_due_changed"
        assert "¥2,002.00" in refused.value.message
        assert "2026-12-02" in refused.value.message

    def test_a_wrong_amount_is_still_refused_as_not_exact(self, fine):
        with at(beijing(DUE + datetime.timedelta(days=2))), pytest.raises(PaymentRefused) as refused:
            pay(fine, "1500.00")
        assert refused.value.code == "amount_not_exact"

    def test_an_order_priced_before_midnight_posts_at_its_price_after_midnight(self, fine):
        """A portal order fixes its amount: the bank's notification after midnight posts at the price of
        the day the order was opened."""
        with at(beijing(DUE + datetime.timedelta(days=2), 0, 5)):
            payment = pay(fine, "2001.00", priced_on=DUE + datetime.timedelta(days=1))
        fine.refresh_from_db()
        assert (fine.status, fine.late_fee) == (BillStatus.PAID, D("1.00"))
        assert payment.business_date == DUE + datetime.timedelta(days=2)

    def test_a_price_date_in_the_future_or_too_old_is_refused(self, fine):
        with at(beijing(DUE)):
            for day in (DUE + datetime.timedelta(days=1), DUE - datetime.timedelta(days=30)):
                with pytest.raises(PaymentRefused) as refused:
                    pay(fine, "2000.00", priced_on=day)
                assert refused.value.code == "price_date_invalid"

    def test_a_reversal_undoes_both_parts(self, fine):
        with at(beijing(DUE + datetime.timedelta(days=4))):
            payment = pay(fine, "2004.00")
            reverse_payment(payment=payment, actor=None, reason="test")
        fine.refresh_from_db()
        assert (fine.status, fine.amount_paid) == (BillStatus.OPEN, D("0.00"))
        code = fine.biller.code
        for ledger_code in (f"PAYABLE:{code}", f"LATEFEE:{code}"):
            total = sum(
                JournalLine.objects.filter(account__code=ledger_code).values_list("amount", flat=True)
            )
            assert total == D("0.00")

    def test_a_partial_payment_pays_the_principal_first(self, police):
        police.amount_rule = AmountRule.EXACT_DOWN
        police.save()
        account = CustomerAccountFactory(biller=police)
        bill = BillFactory(account=account, amount_due=D("100.00"), due_date=DUE)
        with at(beijing(DUE + datetime.timedelta(days=20))):  # late fee ¥1.00
            first = pay(bill, "100.50", key="a")
            second = pay(bill, "0.50", key="b")
        assert dict(first.allocations.values_list("kind", "amount")) == {
            AllocationKind.BILL: D("100.00"),
            AllocationKind.LATE_FEE: D("0.50"),
        }
        assert dict(second.allocations.values_list("kind", "amount")) == {AllocationKind.LATE_FEE: D("0.50")}
        bill.refresh_from_db()
        assert bill.status == BillStatus.PAID

    def test_the_payment_event_names_the_late_fee(self, fine):
        from billing.models import OutboxEvent

        with at(beijing(DUE + datetime.timedelta(days=10))):
            pay(fine, "2010.00")
        event = OutboxEvent.objects.get(type="payment.posted")
        assert event.payload["bills"] == [{"period": "2026-10", "amount": "2010.00", "late_fee": "10.00"}]


def test_settlement_pays_the_late_fee_out_of_the_late_fee_account(fine):
    from billing import ledger
    from reconciliation.choices import SettlementItemKind
    from reconciliation.services.settlement import Settleable, _late_fees

    day = DUE + datetime.timedelta(days=10)
    with at(beijing(day)):
        payment = pay(fine, "2010.00")
    item = Settleable(
        kind=SettlementItemKind.PAYMENT, payment=payment, business_date=day, amount=payment.amount, fee=D("0")
    )
    late_fees = _late_fees([item])
    assert late_fees == D("10.00")
    entry = ledger.post_settlement_entry(
        biller=fine.biller,
        gross=payment.amount,
        fees=D("0"),
        business_date=day,
        memo="t",
        late_fees=late_fees,
    )
    lines = dict(entry.lines.values_list("account__code", "amount"))
    code = fine.biller.code
    assert (lines[f"PAYABLE:{code}"], lines[f"LATEFEE:{code}"]) == (D("2000.00"), D("10.00"))
    for ledger_code in (f"PAYABLE:{code}", f"LATEFEE:{code}"):
        total = sum(JournalLine.objects.filter(account__code=ledger_code).values_list("amount", flat=True))
        assert total == D("0.00")


def test_the_late_fee_rule_is_set_in_the_admin_and_audited(client, admin_user):
    from django.urls import reverse

    from billing.models import AuditEvent

    biller = BillerFactory(code="POLICEX")
    client.force_login(admin_user)
    url = reverse("admin:billing_biller_change", args=[biller.pk])
    form = client.get(url).context["adminform"].form
    assert {"late_fee_daily_rate", "late_fee_cap_rate"} <= set(form.fields)
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(
        {
            "late_fee_daily_rate": "0.000500",
            "late_fee_cap_rate": "1.0000",
            "accepts_cash": "on",
            "fee_schedules-TOTAL_FORMS": "0",
            "fee_schedules-INITIAL_FORMS": "0",
            "fee_schedules-MIN_NUM_FORMS": "0",
            "fee_schedules-MAX_NUM_FORMS": "1000",
        }
    )
    assert client.post(url, data).status_code == 302
    biller.refresh_from_db()
    assert (biller.late_fee_daily_rate, biller.late_fee_cap_rate) == (D("0.000500"), D("1.0000"))
    event = AuditEvent.objects.get(action="admin.changed", target_type="billing.biller")
    assert event.actor == admin_user and "0.000500" in str(event.data["changes"])


def test_a_rate_out_of_range_is_refused_by_the_database(police):
    from django.db import IntegrityError, transaction

    police.late_fee_daily_rate = D("0.5")
    with pytest.raises(IntegrityError), transaction.atomic():
        police.save()


def test_a_discount_above_the_amount_is_refused_by_the_database(school_fee):
    from django.db import IntegrityError, transaction

    school_fee.early_discount = D("3000.01")
    with pytest.raises(IntegrityError), transaction.atomic():
        school_fee.save()


def test_the_platforms_fee_is_charged_on_the_principal_and_the_late_fee_reaches_the_biller_whole(fine):
    """The biller's fee rule keeps principal and late fee apart (issue 17, item 2): 1% of ¥2,000.00, not of
    ¥2,010.00 with the late fee."""
    from billing.services import set_fee_schedule
    from reconciliation.choices import MatchClass, RunStatus
    from reconciliation.models import MatchResult, ReconciliationRun, StatementFile
    from reconciliation.services.settlement import settleable_items

    day = DUE + datetime.timedelta(days=10)
    set_fee_schedule(
        biller=fine.biller,
        channel=Channel.PARTNER,
        fixed=D("0"),
        percentage=D("0.01"),
        min_fee=D("0"),
        max_fee=None,
        payer_pays=False,
        valid_from=DUE,
        actor=None,
    )
    with at(beijing(day)):
        payment = pay(fine, "2010.00")
    statement = StatementFile.objects.create(
        channel_code="PARTNER",
        business_date=day,
        format="billpay",
        file_name="s.csv",
        sha256="1" * 64,
        size=1,
        content=b"x",
        line_count=1,
    )
    run = ReconciliationRun.objects.create(
        statement=statement, channel_code="PARTNER", business_date=day, status=RunStatus.DONE
    )
    MatchResult.objects.create(run=run, klass=MatchClass.MATCHED, payment=payment)
    (item,) = settleable_items(biller=fine.biller, up_to=day)
    assert (item.amount, item.fee, item.net) == (D("2010.00"), D("20.00"), D("1990.00"))
