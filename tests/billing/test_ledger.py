"""The ledger's own guards: balanced entries only, and posted rows never change."""

from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction

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
