"""Disputes' people and places: the partner API's (ACME, its signed client, the water biller with a bill)
and a second partner, BETA, whose payment ACME must not reach."""

import datetime

import pytest
from django.utils import timezone

from api.models import Partner
from billing.choices import Channel
from billing.models import BillerCategory
from reconciliation import services as recon
from tests.api.conftest import (  # noqa: F401 - the partner API's fixtures
    account,
    api,
    bill,
    issued,
    partner,
    receiver,
    water,
)
from tests.factories import BillFactory, CustomerAccountFactory
from tests.support import pay


@pytest.fixture
def beta(water):  # noqa: F811
    beta = Partner.objects.create(code="BETA", name="Beta Pay", rate_limit_per_minute=1000)
    beta.allowed_categories.add(BillerCategory.objects.get(code="water"))
    return beta


@pytest.fixture
def acme_payment(bill, partner):  # noqa: F811
    return pay(
        bill.account, "128.40", key="ACME:pay-1", channel=Channel.PARTNER, channel_ref="ACME-T1"
    ).payment


@pytest.fixture
def beta_payment(water, beta):  # noqa: F811
    other = BillFactory(
        account=CustomerAccountFactory(biller=water, account_no="31009999"), amount_due="20.00"
    )
    return pay(
        other.account, "20.00", key="BETA:pay-1", channel=Channel.PARTNER, channel_ref="BETA-T1"
    ).payment


def partner_statement(
    day: datetime.date, lines: list[tuple[str, str, str, str]], code: str = "ACME"
) -> bytes:
    """A partner's statement (docs/statement-format.md): lines of (channel_ref, biller, account, amount)."""
    now = timezone.localtime().replace(microsecond=0).isoformat()
    out = [
        f"H,BILLPAY-STATEMENT,1,PARTNER:{code},{day:%Y-%m-%d},{day:%Y-%m-%d}T23:59:00+08:00",
        "record_type,txn_type,channel_ref,receipt_no,biller_code,account_no,amount,fee,currency,occurred_at,"
        "original_channel_ref",
    ]
    total = 0
    for ref, biller, account_no, amount in lines:
        out.append(f"D,PAYMENT,{ref},,{biller},{account_no},{amount},0.00,CNY,{now},")
        total += float(amount)
    out.append(f"T,{len(lines)},{total:.2f},0.00,0.00")
    return ("\n".join(out) + "\n").encode()


def reconcile_partner_day(lines, code="ACME"):
    day = timezone.localdate()
    return recon.reconcile_file(
        channel_code=f"PARTNER:{code}",
        business_date=day,
        data=partner_statement(day, lines, code),
        file_name="s",
    )
