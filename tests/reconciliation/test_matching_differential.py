"""Differential: the same generated days fed to the SQL matcher (reconciliation/matching.py) and to the
Python reference give the same classification, line by line and payment by payment, on PostgreSQL."""

import datetime
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.services import reverse_payment
from reconciliation import services
from reconciliation.choices import RunStatus
from tests.reconciliation.conftest import CHANNEL, billpay_csv
from tests.reconciliation.test_matching import sql_and_python

pytestmark = pytest.mark.django_db

# What becomes of one payment of the day on the channel's statement.
FATES = ("reported", "amount_off", "reversed_here", "refunded_there", "absent", "reported_twice")
PAYMENT = st.tuples(
    st.sampled_from(["10.00", "20.00", "33.33"]),  # amount
    st.booleans(),  # the payment carries the channel's reference
    st.sampled_from(FATES),
    st.integers(min_value=-30, max_value=30),  # minutes between our time and the statement's
)
DAY_SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@DAY_SETTINGS
@given(
    payments=st.lists(PAYMENT, min_size=1, max_size=10),
    ghosts=st.lists(st.sampled_from(["10.00", "20.00"]), max_size=3),
    tolerance=st.sampled_from([Decimal("0.00"), Decimal("1.00")]),
    window_minutes=st.sampled_from([5, 15]),
)
def test_both_matchers_classify_a_generated_day_the_same(
    shop, today, payments, ghosts, tolerance, window_minutes
):
    now = timezone.localtime().replace(microsecond=0)
    with transaction.atomic():
        lines = []
        for n, (amount, has_ref, fate, minutes) in enumerate(payments):
            ref = f"G-{n}" if has_ref else ""
            payment = shop.pay(amount, ref=ref)
            line_ref = ref or f"NOREF-{n}"
            when = now + datetime.timedelta(minutes=minutes)
            if fate == "reported":
                lines.append(("PAYMENT", line_ref, amount, "", when))
            elif fate == "amount_off":
                lines.append(("PAYMENT", line_ref, f"{Decimal(amount) + Decimal('0.50'):.2f}", "", when))
            elif fate == "reversed_here":
                reverse_payment(payment=payment, actor=None, reason="generated")
                lines.append(("PAYMENT", line_ref, amount, "", when))
            elif fate == "refunded_there":
                lines.append(("PAYMENT", line_ref, amount, "", when))
                lines.append(("REFUND", f"RF-{n}", amount, line_ref, when))
            elif fate == "reported_twice":
                lines.append(("PAYMENT", line_ref, amount, "", when))
                lines.append(("PAYMENT", f"{line_ref}-AGAIN", amount, "", when))
        lines.extend(("PAYMENT", f"GHOST-{n}", amount, "", now) for n, amount in enumerate(ghosts))
        if not lines:
            lines.append(("PAYMENT", "GHOST-ONLY", "1.00", "", now))
        imported = services.import_statement(
            channel_code=CHANNEL,
            business_date=today,
            data=billpay_csv(today, lines),
            file_name="generated.csv",
            amount_tolerance=tolerance,
            time_window_seconds=window_minutes * 60,
        )
        run = services.run_reconciliation(run_id=imported.run.pk)
        assert run.status == RunStatus.DONE
        sql, python = sql_and_python(run, today, tolerance)
        transaction.set_rollback(True)  # the next example starts from an empty day
    assert sql == python
    assert len(sql) >= len(lines)
