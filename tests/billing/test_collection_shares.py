"""Shared collections (issue 17, item 4): a bill split among its biller's co-beneficiaries by a fixed
amount per bill and by percentage, each part credited to its own payable account in the payment's own
balanced entry, rounded to the fen so that the parts always add up, reversed exactly, and a configuration
that cannot be split refused with a clear message."""

import datetime
from decimal import Decimal

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from billing import amounts, collection_shares
from billing.choices import AmountRule, PaymentMode, ShareRule
from billing.exceptions import BillingError
from billing.models import AuditEvent, CollectionShare, JournalLine
from billing.selectors import unbalanced_entry_ids
from billing.services import post_payment, reverse_payment, set_collection_shares
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

D = Decimal
POLICE = "POLICE01"


def agency(**kwargs) -> CollectionShare:
    """The collection agency's fee: ¥10.00 of each fine."""
    fields = {
        "code": "AGENCY",
        "name": "代收机构",
        "name_en": "Collection agency",
        "rule": ShareRule.FIXED,
        "fixed_amount": D("10.00"),
        "position": 1,
        "settlement_bank_name": "滨江银行",
        "settlement_account_name": "滨江代收服务有限公司",
        "settlement_account_no": "6222000000000101",
    }
    return CollectionShare(**{**fields, **kwargs})


def province(percentage="40.00", **kwargs) -> CollectionShare:
    """The province takes 40% of what is left of each fine."""
    fields = {
        "code": "PROV",
        "name": "省财政厅",
        "name_en": "Provincial Treasury",
        "rule": ShareRule.PERCENT,
        "percentage": D(percentage),
        "position": 2,
        "settlement_bank_name": "国库滨江支库",
        "settlement_account_name": "省财政厅",
        "settlement_account_no": "6222000000000202",
    }
    return CollectionShare(**{**fields, **kwargs})


def shared_police(admin=None, **biller_fields):
    """A traffic-police biller (0.05% a day late, capped at the fine) sharing each fine with an agency
    (¥10.00 a fine) and the province (40% of the rest); the city keeps the remainder and the late fee."""
    police = BillerFactory(
        code=POLICE,
        name="交警支队",
        name_en="Traffic Police",
        late_fee_daily_rate=D("0.000500"),
        late_fee_cap_rate=D("1.0000"),
        settlement_bank_name="滨江银行",
        settlement_account_name="滨江市财政局",
        settlement_account_no="6222000000000001",
        **biller_fields,
    )
    set_collection_shares(biller=police, shares=[agency(), province()], actor=admin, reason="test")
    return police


def late_fine(police, *, days_late=3, amount="2000.00", account_no="44001234", period="2026-11"):
    account = CustomerAccountFactory(biller=police, account_no=account_no, holder_name="赵六")
    due = amounts.beijing_today() - datetime.timedelta(days=days_late)
    return BillFactory(account=account, period=period, amount_due=D(amount), due_date=due)


def entry_lines(payment) -> dict[str, Decimal]:
    lines = JournalLine.objects.filter(entry__payment=payment, entry__kind="payment")
    return dict(lines.values_list("account__code", "amount"))


# A ¥2000 fine three days late costs ¥2003 (¥3 late fee): the agency takes ¥10, the province 40% of the
# remaining ¥1990 (¥796), the city keeps ¥1194 and the late fee.
SPLIT_OF_2003 = {
    "PAYABLE:POLICE01": D("-1194.00"),
    "PAYABLE:POLICE01:AGENCY": D("-10.00"),
    "PAYABLE:POLICE01:PROV": D("-796.00"),
    "LATEFEE:POLICE01": D("-3.00"),
}


def assert_split(payment, collection_code: str) -> None:
    assert entry_lines(payment) == {collection_code: payment.amount, **SPLIT_OF_2003}


# -- the split itself ------------------------------------------------------------------------------


def test_percentages_round_by_the_largest_remainder_and_always_add_up():
    assert collection_shares.largest_remainder(D("100.00"), [D("33.33"), D("33.33")]) == [
        D("33.33"),
        D("33.33"),
    ]
    # One fen between two halves and a keeper with nothing: the earlier part gets it.
    assert collection_shares.largest_remainder(D("0.01"), [D("50.00"), D("50.00")]) == [D("0.01"), D("0.00")]
    # 1/3 each of 0.10: 0.033… each; the fen left goes to the first of the equal remainders.
    assert collection_shares.largest_remainder(D("0.10"), [D("33.34"), D("33.33"), D("33.33")]) == [
        D("0.04"),
        D("0.03"),
        D("0.03"),
    ]


shares_strategy = st.lists(
    st.one_of(
        st.builds(
            lambda fixed: CollectionShare(code="F", rule=ShareRule.FIXED, fixed_amount=D(fixed) / 100),
            st.integers(1, 50_000),
        ),
        st.builds(
            lambda pct: CollectionShare(code="P", rule=ShareRule.PERCENT, percentage=D(pct) / 100),
            st.integers(1, 5_000),
        ),
    ),
    max_size=4,
).filter(lambda shares: sum((s.percentage or 0 for s in shares), D(0)) <= 100)


@given(
    shares=shares_strategy,
    bill_fens=st.integers(1, 1_000_000),
    payments=st.lists(st.integers(1, 1_000_000), min_size=1, max_size=4),
)
def test_the_parts_never_exceed_the_payment_and_fixed_parts_take_their_amount_over_a_bills_payments(
    shares, bill_fens, payments
):
    """A bill paid in parts: each payment's parts are ≥ 0 and at most the payment; the fixed parts over
    all the bill's payments take exactly their amounts, or the bill when it is smaller."""
    bill = D(bill_fens) / 100
    paid = D("0.00")
    fixed_taken: dict[int, Decimal] = {}
    for fens in payments:
        amount = min(D(fens) / 100, bill - paid)
        if amount <= 0:
            break
        parts = collection_shares.split_payment(
            shares, principal=amount, bill_parts=[collection_shares.BillPart(paid, amount)]
        )
        assert all(part > 0 and part == part.quantize(D("0.01")) for _share, part in parts)
        assert sum((part for _share, part in parts), D(0)) <= amount
        for share, part in parts:
            if share.rule == ShareRule.FIXED:
                fixed_taken[id(share)] = fixed_taken.get(id(share), D(0)) + part
        paid += amount
    fixed = [s for s in shares if s.rule == ShareRule.FIXED]
    low = D(0)
    for share in fixed:
        expected = max(min(low + share.fixed_amount, paid) - low, D(0))
        assert fixed_taken.get(id(share), D(0)) == expected
        low += share.fixed_amount


@given(fens=st.integers(1, 10**12), percentages=st.lists(st.integers(1, 10_000), max_size=5))
def test_percentage_parts_are_within_a_fen_of_exact_and_add_up_with_the_keepers(fens, percentages):
    if sum(percentages) > 10_000:
        percentages = percentages[:1]
    amount = D(fens) / 100
    pcts = [D(p) / 100 for p in percentages]
    parts = collection_shares.largest_remainder(amount, pcts)
    keeper = amount - sum(parts, D(0))
    assert keeper >= 0
    for part, pct in zip(parts, pcts, strict=True):
        assert abs(part - amount * pct / 100) < D("0.01")
    assert abs(keeper - amount * (100 - sum(pcts, D(0))) / 100) < D("0.01")


# -- posting ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_fine_is_split_by_fixed_amount_and_percentage_in_one_balanced_entry():
    police = shared_police()
    fine = late_fine(police)
    payment = post_payment(
        channel="partner", idempotency_key="k1", biller_code=POLICE, account_no="44001234", amount="2003.00"
    ).payment
    assert_split(payment, "CLEARING:PARTNER")
    assert unbalanced_entry_ids() == []
    fine.refresh_from_db()
    assert fine.status == "paid"


@pytest.mark.django_db
def test_a_fine_paid_in_parts_pays_the_fixed_part_first_and_never_twice():
    police = shared_police(amount_rule=AmountRule.EXACT_DOWN)
    late_fine(police, days_late=0, amount="100.00")
    first = post_payment(
        channel="partner", idempotency_key="k1", biller_code=POLICE, account_no="44001234", amount="6.00"
    ).payment
    # ¥6 of the bill: all of it to the agency's ¥10, nothing left to share.
    assert entry_lines(first) == {"CLEARING:PARTNER": D("6.00"), "PAYABLE:POLICE01:AGENCY": D("-6.00")}
    second = post_payment(
        channel="partner", idempotency_key="k2", biller_code=POLICE, account_no="44001234", amount="94.00"
    ).payment
    # The agency's last ¥4, then 40% of ¥90 to the province.
    assert entry_lines(second) == {
        "CLEARING:PARTNER": D("94.00"),
        "PAYABLE:POLICE01:AGENCY": D("-4.00"),
        "PAYABLE:POLICE01:PROV": D("-36.00"),
        "PAYABLE:POLICE01": D("-54.00"),
    }


@pytest.mark.django_db
def test_a_fixed_part_never_takes_more_than_a_small_bill():
    police = shared_police()
    late_fine(police, days_late=0, amount="8.00")
    payment = post_payment(
        channel="partner", idempotency_key="k1", biller_code=POLICE, account_no="44001234", amount="8.00"
    ).payment
    assert entry_lines(payment) == {"CLEARING:PARTNER": D("8.00"), "PAYABLE:POLICE01:AGENCY": D("-8.00")}


@pytest.mark.django_db
def test_a_reversal_takes_each_part_back_exactly():
    police = shared_police()
    late_fine(police)
    payment = post_payment(
        channel="partner", idempotency_key="k1", biller_code=POLICE, account_no="44001234", amount="2003.00"
    ).payment
    reverse_payment(payment=payment, actor=None, reason="重复缴款")
    reversal = JournalLine.objects.filter(entry__payment=payment, entry__kind="reversal")
    assert dict(reversal.values_list("account__code", "amount")) == {
        code: -amount for code, amount in entry_lines(payment).items()
    }
    balances = JournalLine.objects.values_list("account__code").order_by()
    assert all(
        sum(balances.filter(account__code=code).values_list("amount", flat=True), D(0)) == 0
        for code in entry_lines(payment)
    )


@pytest.mark.django_db
def test_a_switched_off_part_takes_nothing_from_later_payments(admin_user):
    police = shared_police()
    prov = CollectionShare.objects.get(biller=police, code="PROV")
    prov.active = False
    set_collection_shares(biller=police, shares=[prov], actor=admin_user, reason="协议到期")
    late_fine(police)
    payment = post_payment(
        channel="partner", idempotency_key="k1", biller_code=POLICE, account_no="44001234", amount="2003.00"
    ).payment
    assert entry_lines(payment) == {
        "CLEARING:PARTNER": D("2003.00"),
        "PAYABLE:POLICE01:AGENCY": D("-10.00"),
        "PAYABLE:POLICE01": D("-1990.00"),
        "LATEFEE:POLICE01": D("-3.00"),
    }


@pytest.mark.django_db
def test_a_prepaid_biller_shares_its_top_ups_by_percentage():
    biller = BillerFactory(code="CARD01", payment_mode=PaymentMode.PREPAID)
    set_collection_shares(biller=biller, shares=[province("25.00")], actor=None)
    CustomerAccountFactory(biller=biller, account_no="55001234")
    payment = post_payment(
        channel="partner", idempotency_key="k1", biller_code="CARD01", account_no="55001234", amount="50.01"
    ).payment
    assert entry_lines(payment) == {
        "CLEARING:PARTNER": D("50.01"),
        "PAYABLE:CARD01:PROV": D("-12.50"),
        "PAYABLE:CARD01": D("-37.51"),
    }


# -- configuration ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_setting_the_parts_is_audited_with_before_and_after(admin_user):
    police = shared_police(admin=admin_user)
    event = AuditEvent.objects.get(action="biller.collection_shares_set")
    assert event.actor == admin_user and event.target_id == str(police.pk)
    assert event.data["from"] == ""
    assert event.data["to"] == "AGENCY ¥10.00 → 6222000000000101; PROV 40.00% → 6222000000000202"


@pytest.mark.parametrize(
    ("make", "code", "words"),
    [
        (
            lambda: [province("60.00"), province("50.00", code="CITY2")],
            "share_percentages_over_100",
            "110.00%",
        ),
        (lambda: [province(), province()], "share_code_twice", "PROV"),
        (lambda: [province(settlement_account_no="")], "share_bank_account_required", "省财政厅"),
        (lambda: [agency(percentage=D("5.00"))], "share_rule_value", "代收机构"),
        (lambda: [province(code="prov-1!")], "share_code_invalid", "PROV-1!"),
    ],
)
@pytest.mark.django_db
def test_a_configuration_that_cannot_be_split_is_refused_with_a_clear_message_and_nothing_saved(
    make, code, words
):
    police = BillerFactory(code=POLICE)
    with pytest.raises(BillingError) as refused:
        set_collection_shares(biller=police, shares=make(), actor=None)
    assert refused.value.code == code
    with translation.override("zh-hans"):
        assert words in refused.value.message
    assert not CollectionShare.objects.exists()
    assert not AuditEvent.objects.filter(action="biller.collection_shares_set").exists()


@pytest.mark.django_db
def test_a_new_part_is_checked_with_the_ones_the_biller_has():
    police = shared_police()  # the province takes 40%
    with pytest.raises(BillingError) as refused:
        set_collection_shares(biller=police, shares=[province("61.00", code="CITY2")], actor=None)
    assert refused.value.code == "share_percentages_over_100"
    with translation.override("zh-hans"):
        assert "101.00%" in refused.value.message and "至多" in refused.value.message


@pytest.mark.django_db
def test_a_fixed_amount_per_bill_is_refused_for_a_biller_without_bills():
    donations = BillerFactory(code="DON0001", payment_mode=PaymentMode.DONATION)
    with pytest.raises(BillingError) as refused:
        set_collection_shares(biller=donations, shares=[agency()], actor=None)
    assert refused.value.code == "share_fixed_needs_bills"
    with translation.override("en"):
        assert "give it a percentage instead" in refused.value.message
