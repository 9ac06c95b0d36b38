"""The platform CSV has one writer (api/statements.py) and one parser (reconciliation): they agree."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from api.statements import PAYMENT, REFUND, StatementLine, write_statement
from reconciliation import services
from reconciliation.adapters import parse_statement
from reconciliation.choices import LineKind, MatchClass
from tests.reconciliation.conftest import CHANNEL


def test_what_the_writer_writes_the_parser_reads_back():
    day = datetime.date(2026, 11, 26)
    when = datetime.datetime(2026, 11, 26, 9, 15, 2, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))
    lines = [
        StatementLine(
            PAYMENT,
            "SBX-1",
            "R20261126K3J9QW2Z7XHM4N8P",
            "WATER01",
            '31,"005"',
            Decimal("128.40"),
            Decimal("0.38"),
            when,
        ),
        StatementLine(
            REFUND, "SBX-2", "", "WATER01", "31005678", Decimal("128.40"), Decimal("0.00"), when, "SBX-1"
        ),
    ]
    text = write_statement(channel_code="PARTNER:ACME", day=day, lines=lines, generated_at=when)
    parsed = parse_statement(text.encode())
    assert parsed.channel_code == "PARTNER:ACME" and parsed.business_date == day
    assert [
        (ln.kind, ln.channel_ref, ln.account_no, ln.amount, ln.fee, ln.original_ref) for ln in parsed.lines
    ] == [
        (LineKind.PAYMENT, "SBX-1", '31,"005"', Decimal("128.40"), Decimal("0.38"), ""),
        (LineKind.REFUND, "SBX-2", "31005678", Decimal("128.40"), Decimal("0.00"), "SBX-1"),
    ]
    assert parsed.lines[0].occurred_at == when


@pytest.mark.django_db
def test_a_statement_from_the_writer_reconciles(shop, today):
    payment = shop.pay("42.00")
    line = StatementLine(
        PAYMENT,
        payment.channel_ref,
        payment.receipt_no,
        "WATER01",
        "",
        payment.amount,
        Decimal("0.00"),
        payment.posted_at,
    )
    text = write_statement(channel_code=CHANNEL, day=today, lines=[line], generated_at=timezone.now())
    run = services.reconcile_file(
        channel_code=CHANNEL, business_date=today, data=text.encode(), file_name="w.csv"
    )
    assert run.results.get().klass == MatchClass.MATCHED
