"""Shared collections under concurrency (issue 17, item 4), on PostgreSQL with real row locks: parts of one
bill paid at the same moment through different channels give its fixed part exactly its amount, never
twice, because the account lock serialises them and each reads what the bill had paid before it."""

from decimal import Decimal

import pytest

from billing.choices import AmountRule, Channel
from billing.models import JournalLine
from billing.selectors import unbalanced_entry_ids
from billing.services import post_payment
from tests.billing.test_collection_shares import late_fine, shared_police
from tests.billing.test_concurrency import assert_clean, run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

D = Decimal
THREADS = 10


def test_ten_parts_of_a_fine_paid_at_once_give_the_agency_its_ten_yuan_once():
    police = shared_police(amount_rule=AmountRule.EXACT_DOWN)
    late_fine(police, days_late=0, amount="100.00")
    calls = [
        lambda i=i: post_payment(
            channel=Channel.PARTNER if i % 2 else Channel.ONLINE,
            idempotency_key=f"part-{i}",
            biller_code="POLICE01",
            account_no="44001234",
            amount="3.00",
        )
        for i in range(THREADS)
    ]
    outcomes = run_concurrently(calls)
    assert_clean(outcomes)
    assert [kind for kind, _value in outcomes] == ["ok"] * THREADS
    credits = dict(
        (code, -sum(JournalLine.objects.filter(account__code=code).values_list("amount", flat=True), D(0)))
        for code in ("PAYABLE:POLICE01:AGENCY", "PAYABLE:POLICE01:PROV", "PAYABLE:POLICE01")
    )
    # ¥30 paid: the agency's ¥10 first, then 40% of the ¥20 left to the province, per payment rounded.
    assert credits["PAYABLE:POLICE01:AGENCY"] == D("10.00")
    assert credits["PAYABLE:POLICE01:PROV"] == D("8.00")
    assert credits["PAYABLE:POLICE01"] == D("12.00")
    assert unbalanced_entry_ids() == []
