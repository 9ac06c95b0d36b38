import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.choices import Channel
from branches import selectors, services
from tests.factories import BillFactory, CustomerAccountFactory, FeeScheduleFactory

pytestmark = pytest.mark.django_db


def test_takings_by_branch_biller_and_clerk_and_the_operators_commission(
    dave, sam, branch_x, water, admin_user
):
    FeeScheduleFactory(
        biller=water,
        channel=Channel.COUNTER,
        fixed_fee=Decimal("1.00"),
        percentage=Decimal("0.0050"),
        min_fee=Decimal("0"),
        max_fee=Decimal("3.00"),
        valid_from=datetime.date(2026, 1, 1),
    )
    till = services.open_till(clerk=dave, branch=branch_x, opening_float="0")
    for n, amount in enumerate(["100.00", "1000.00"]):
        account = CustomerAccountFactory(biller=water)
        BillFactory(account=account, amount_due=Decimal(amount), due_date=timezone.localdate())
        services.take_cash(
            clerk=dave,
            till_id=till.pk,
            biller_code="WATER",
            account_no=account.account_no,
            periods=["2026-09"],
            amount=amount,
            tendered=amount,
            form_key=f"r{n}",
        )
    today = timezone.localdate()
    by_branch = selectors.takings(sam, date_from=today, date_to=today, by="branch")
    assert [(r["branch__code"], r["count"], r["total"]) for r in by_branch] == [
        ("BR-X", 2, Decimal("1100.00"))
    ]
    by_clerk = selectors.takings(admin_user, date_from=today, date_to=today, by="clerk")
    assert [(r["actor__username"], r["total"]) for r in by_clerk] == [("dave", Decimal("1100.00"))]
    commission = selectors.operator_commission(sam, date_from=today, date_to=today)
    # 1.00 + 0.50 = 1.50 on ¥100; 1.00 + 5.00 capped at 3.00 on ¥1000
    assert [(c.operator, c.payments, c.commission) for c in commission] == [("中国邮政", 2, Decimal("4.50"))]
