"""The ledger's own guards: balanced entries only, and posted rows never change."""

from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from billing import ledger
from billing.choices import EntryKind
from billing.models import JournalEntry, JournalLine, LedgerAccount
from billing.services import reverse_payment
from tests.factories import BillFactory
from tests.support import pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry():
    bill = BillFactory(amount_due=Decimal("100.00"))
    payment = pay(bill.account, "100.00", key="L1").payment
    return payment.journal_entries.get()


def test_the_service_refuses_an_unbalanced_entry():
    clearing = LedgerAccount.objects.get(code="CLEARING:ONLINE")
    fees = LedgerAccount.objects.get(code="FEES")
    with pytest.raises(ledger.UnbalancedEntry):
        ledger.post_entry(
            kind=EntryKind.ADJUSTMENT,
            lines=[(clearing, Decimal("1.00")), (fees, Decimal("-0.99"))],
            business_date="2026-11-24",
        )
    assert not JournalEntry.objects.exists()


def test_the_database_refuses_an_unbalanced_entry():
    clearing = LedgerAccount.objects.get(code="CLEARING:ONLINE")
    fees = LedgerAccount.objects.get(code="FEES")
    entry = JournalEntry.objects.create(kind=EntryKind.ADJUSTMENT, business_date="2026-11-24")
    with pytest.raises(DatabaseError, match="does not balance"), transaction.atomic():
        JournalLine.objects.bulk_create(
            [
                JournalLine(entry=entry, account=clearing, amount=Decimal("5.00")),
                JournalLine(entry=entry, account=fees, amount=Decimal("-4.99")),
            ]
        )


def test_the_database_refuses_a_line_added_to_an_existing_entry(entry):
    fees = LedgerAccount.objects.get(code="FEES")
    with pytest.raises(DatabaseError, match="does not balance"), transaction.atomic():
        JournalLine.objects.create(entry=entry, account=fees, amount=Decimal("1.00"))


def test_the_database_refuses_a_one_line_entry():
    clearing = LedgerAccount.objects.get(code="CLEARING:ONLINE")
    entry = JournalEntry.objects.create(kind=EntryKind.ADJUSTMENT, business_date="2026-11-24")
    with pytest.raises(DatabaseError, match="does not balance"), transaction.atomic():
        JournalLine.objects.bulk_create([JournalLine(entry=entry, account=clearing, amount=Decimal("5.00"))])


def test_posted_lines_cannot_be_updated(entry):
    line = entry.lines.first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        JournalLine.objects.filter(pk=line.pk).update(amount=Decimal("1.00"))


def test_posted_lines_cannot_be_deleted(entry):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        JournalLine.objects.filter(entry=entry).delete()


def test_posted_entries_cannot_be_edited(entry):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        JournalEntry.objects.filter(pk=entry.pk).update(memo="changed")


def test_an_entry_is_reversed_at_most_once(entry, admin_user):
    reverse_payment(payment=entry.payment, actor=admin_user, reason="first")
    mirror = [(line.account, -line.amount) for line in entry.lines.select_related("account")]
    with pytest.raises(DatabaseError), transaction.atomic():
        ledger.post_entry(
            kind=EntryKind.REVERSAL, lines=mirror, business_date="2026-11-24", reverses=entry, memo="second"
        )


def test_a_payments_entry_takes_no_place_in_the_reversal_index(db):
    """Only reversals are indexed for their uniqueness: each payment's entry would add a NULL (0032)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'billing_journalentry' "
            "AND indexdef LIKE '%%(reverses_id)%%'"
        )
        indexes = dict(cursor.fetchall())

    assert list(indexes) == ["entry_reversed_once"]
    assert indexes["entry_reversed_once"].startswith("CREATE UNIQUE INDEX")
    assert indexes["entry_reversed_once"].endswith("WHERE (reverses_id IS NOT NULL)")


def _written(entry):
    """What an entry wrote, apart from its id: kind, day, memo, lines and its outbox event's payload."""
    from billing.models import OutboxEvent

    if entry is None:
        return None
    lines = sorted(entry.lines.values_list("account__code", "amount"))
    event = OutboxEvent.objects.get(aggregate_type="journal_entry", aggregate_id=str(entry.pk))
    return entry.kind, entry.business_date, entry.memo, lines, event.type, event.payload


def test_settlement_entries_posted_in_bulk_are_the_ones_posted_one_by_one():
    import datetime

    from billing.choices import LedgerAccountKind
    from tests.factories import BillerFactory

    day = datetime.date(2026, 11, 30)
    water, gas, school, empty = (BillerFactory(code=code) for code in ("BW1", "BG1", "BS1", "BE1"))
    share = LedgerAccount.objects.create(
        code="PAYABLE:BS1:CANTEEN", name="canteen", kind=LedgerAccountKind.BILLER_PAYABLE, biller=school
    )
    postings = [
        ledger.SettlementPosting(
            biller=water, gross=Decimal("300.00"), fees=Decimal("0.90"), business_date=day, memo="S-W"
        ),
        # Reversals outweigh the payments: every line turns round.
        ledger.SettlementPosting(
            biller=gas, gross=Decimal("-50.00"), fees=Decimal("-0.15"), business_date=day, memo="S-G"
        ),
        ledger.SettlementPosting(
            biller=school,
            gross=Decimal("2010.00"),
            fees=Decimal("20.00"),
            late_fees=Decimal("10.00"),
            shares=[(share, Decimal("500.00"))],
            business_date=day,
            memo="S-S",
        ),
        # A payment and its reversal cancel out: nothing moves.
        ledger.SettlementPosting(
            biller=empty, gross=Decimal("0.00"), fees=Decimal("0.00"), business_date=day, memo="S-E"
        ),
    ]
    with transaction.atomic():
        one_by_one = [
            ledger.post_settlement_entry(
                biller=p.biller,
                gross=p.gross,
                fees=p.fees,
                late_fees=p.late_fees,
                shares=p.shares,
                business_date=p.business_date,
                memo=p.memo,
            )
            for p in postings
        ]
        in_bulk = ledger.post_settlement_entries(postings)
    assert one_by_one[-1] is None and in_bulk[-1] is None
    assert [_written(entry) for entry in in_bulk] == [_written(entry) for entry in one_by_one]
    assert len({entry.pk for entry in in_bulk[:-1]} | {entry.pk for entry in one_by_one[:-1]}) == 6
    assert sum(JournalLine.objects.values_list("amount", flat=True), Decimal("0")) == Decimal("0")


def test_an_unbalanced_posting_in_a_bulk_writes_no_entry():
    import datetime

    from tests.factories import BillerFactory

    biller = BillerFactory(code="BU1")
    postings = [
        ledger.SettlementPosting(
            biller=biller,
            gross=Decimal("10.00"),
            fees=Decimal("0.10"),
            business_date=datetime.date(2026, 11, 30),
            memo="ok",
        ),
        ledger.SettlementPosting(
            biller=biller,
            gross=Decimal("10.001"),
            fees=Decimal("0.00"),
            business_date=datetime.date(2026, 11, 30),
            memo="bad",
        ),
    ]
    with pytest.raises(ledger.UnbalancedEntry), transaction.atomic():
        ledger.post_settlement_entries(postings)
    assert not JournalEntry.objects.filter(kind=EntryKind.SETTLEMENT).exists()
