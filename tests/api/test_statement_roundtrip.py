"""The one writer (api/statements.py) and the one reader (reconciliation's `billpay` adapter, on the
reconciliation branch) agree on the format of docs/statement-format.md. Skipped until the reader is merged."""

from decimal import Decimal

import pytest
from django.utils import timezone

from api import services, statements
from tests.api.test_partner_api import BASE, pay

pytestmark = pytest.mark.django_db


def test_a_statement_written_here_is_read_back_by_reconciliation(api, bill, partner):
    reader = pytest.importorskip("reconciliation.adapters.billpay")
    receipt = pay(api, bill, key="rt-1").json()["receipt_no"]
    api.post(f"{BASE}/payments/{receipt}/reversal", {"reason": "取消", "reversal_ref": "ACME-R-RT"})
    day = timezone.localdate()

    parsed = reader.parse(statements.partner_statement(partner, day).encode())

    assert parsed.channel_code == "PARTNER:ACME" and parsed.business_date == day
    assert [(line.kind, line.channel_ref) for line in parsed.lines] == [
        ("payment", "ACME-rt-1"),
        ("refund", "ACME-R-RT"),
    ]
    assert parsed.lines[1].original_ref == "ACME-rt-1"
    assert parsed.payments_total == parsed.refunds_total == Decimal("128.40")
    assert services.partner_idempotency_key(partner, "rt-1") == "ACME:rt-1"
