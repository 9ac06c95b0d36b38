import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from billing import roles
from billing.choices import Channel
from billing.services import post_payment
from tests.branches.conftest import (  # noqa: F401 - the counter's people and places, for the cash tests
    account,
    ada,
    bill,
    branch_x,
    dave,
    sam,
    till,
    village_agent,
    water,
)
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory
from tests.support import make_staff

FIXTURES = Path(__file__).parent / "fixtures"
CHANNEL = "ONLINE:SANDBOX"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def billpay_csv(day: datetime.date, lines: list[tuple], channel: str = CHANNEL) -> bytes:
    """A statement in docs/statement-format.md.

    lines: (txn_type, channel_ref, amount, original_ref, occurred_at)."""
    out = [f"H,BILLPAY-STATEMENT,1,{channel},{day:%Y-%m-%d},{day:%Y-%m-%d}T23:59:00+08:00"]
    out.append(
        "record_type,txn_type,channel_ref,receipt_no,biller_code,account_no,amount,fee,currency,occurred_at,"
        "original_channel_ref"
    )
    payments = refunds = Decimal("0.00")
    for txn, ref, amount, original, occurred in lines:
        when = occurred or timezone.localtime().replace(microsecond=0)
        out.append(f"D,{txn},{ref},,,,{amount},0.00,CNY,{when.isoformat()},{original}")
        if txn == "PAYMENT":
            payments += Decimal(amount)
        else:
            refunds += Decimal(amount)
    out.append(f"T,{len(lines)},{payments:.2f},{refunds:.2f},0.00")
    return ("\n".join(out) + "\n").encode()


@pytest.fixture
def officer(django_user_model):
    return make_staff(django_user_model, "frank", roles.RECONCILIATION_OFFICER)


@pytest.fixture
def second_officer(django_user_model):
    return make_staff(django_user_model, "fiona", roles.RECONCILIATION_OFFICER)


@pytest.fixture
def auditor(django_user_model):
    return make_staff(django_user_model, "grace", roles.AUDITOR)


@pytest.fixture
def operator(django_user_model):
    return make_staff(django_user_model, "bob", roles.BILLER_OPERATOR)


class Shop:
    """A biller with accounts whose bills the tests pay through post_payment, online via SANDBOX."""

    def __init__(self):
        self.biller = BillerFactory(code="WATER01")
        self.counter = 0

    def pay(self, amount="100.00", ref=None, source="SANDBOX"):
        self.counter += 1
        customer = CustomerAccountFactory(biller=self.biller)
        BillFactory(account=customer, amount_due=Decimal(amount))
        return post_payment(
            channel=Channel.ONLINE,
            idempotency_key=f"{source}:ORD-{self.counter:04d}",
            biller_code=self.biller.code,
            account_no=customer.account_no,
            amount=amount,
            channel_ref=ref if ref is not None else f"SBX-{self.counter:04d}",
        ).payment


@pytest.fixture
def shop(db):
    return Shop()


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def settleable_day(db, today):
    """The latest day that may be settled today: before today, its T+1 working day come. Yesterday only
    on a working day after a working day: on a Saturday in Beijing, Friday settles on Monday."""
    from reconciliation import working_days

    day = today - datetime.timedelta(days=1)
    while working_days.next_working_day(day) > today:
        day -= datetime.timedelta(days=1)
    return day


@pytest.fixture
def settle_on(db, today):
    """The working day after today: when today's money settles (T+1)."""
    from reconciliation import working_days

    return working_days.next_working_day(today)
