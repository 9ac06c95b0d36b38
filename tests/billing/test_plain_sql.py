"""The plain-SQL helpers give back the same model instances the ORM would, and refuse a model whose
columns the ORM would have to convert."""

import datetime
from contextlib import contextmanager
from decimal import Decimal

import pytest

from billing import ledger, plain_sql
from billing.models import AuditEvent, Bill, Biller, BillerCategory, CustomerAccount, LedgerAccount
from tests.factories import BillFactory

pytestmark = pytest.mark.django_db


def test_a_joined_row_becomes_the_models_the_orm_would_give(django_assert_num_queries):
    bill = BillFactory(amount_due=Decimal("83.60"), late_fee=Decimal("1.05"))
    sql = (
        f"SELECT {plain_sql.columns(CustomerAccount, 'a')}, {plain_sql.columns(Bill, 'b')} "
        "FROM billing_customeraccount a JOIN billing_bill b ON b.account_id = a.id WHERE b.id = %s"
    )
    with django_assert_num_queries(1), plain_sql.prepared_cursor() as cursor:
        cursor.execute(sql, [bill.pk])
        row = cursor.fetchone()
    account, end = plain_sql.model_from_row(CustomerAccount, row)
    again, _end = plain_sql.model_from_row(Bill, row, end)
    orm = Bill.objects.get(pk=bill.pk)
    assert account == orm.account and again == orm
    assert [getattr(again, f.attname) for f in Bill._meta.concrete_fields] == [
        getattr(orm, f.attname) for f in Bill._meta.concrete_fields
    ]
    assert again.amount_due == Decimal("83.60") and isinstance(again.due_date, datetime.date)


@pytest.mark.parametrize("model", [Biller, BillerCategory, CustomerAccount, Bill, LedgerAccount])
def test_binary_rows_give_the_same_values_of_the_same_types_as_text(model):
    # The posting's locks and the lookup page read in binary (prepared_cursor(binary=True)): every column of
    # the models they build must come back as it does in text, time-zone-aware timestamps in UTC included.
    bill = BillFactory(amount_due=Decimal("83.60"), late_fee=Decimal("1.05"))
    ledger.payable_account(bill.biller)
    sql = f"SELECT {plain_sql.columns(model, 'm')} FROM {model._meta.db_table} m ORDER BY m.id"
    read = {}
    for binary in (False, True):
        with plain_sql.prepared_cursor(binary=binary) as cursor:
            cursor.execute(sql)
            read[binary] = cursor.fetchall()
    assert read[True] and read[True] == read[False]
    for text_row, binary_row in zip(read[False], read[True], strict=True):
        assert [type(value) for value in binary_row] == [type(value) for value in text_row]
        for text_value, binary_value in zip(text_row, binary_row, strict=True):
            if isinstance(text_value, datetime.datetime):
                assert binary_value.tzinfo == text_value.tzinfo == datetime.UTC
            if isinstance(text_value, Decimal):
                assert str(binary_value) == str(text_value)  # the same places: 83.60, not 83.6


def test_a_model_with_a_column_the_orm_converts_is_refused_not_half_built():
    # AuditEvent.data is a JSONField: PostgreSQL hands it back as text that only the ORM turns into a dict.
    with pytest.raises(TypeError, match=r"AuditEvent\.data needs the ORM's converters"):
        plain_sql.model_from_row(AuditEvent, [None] * len(AuditEvent._meta.concrete_fields))


def test_an_instance_built_from_a_row_saves_and_follows_its_relations_as_the_orms_does():
    bill = BillFactory()
    sql = f"SELECT {plain_sql.columns(Bill, 'b')} FROM billing_bill b WHERE b.id = %s"
    with plain_sql.prepared_cursor() as cursor:
        cursor.execute(sql, [bill.pk])
        built, _end = plain_sql.model_from_row(Bill, cursor.fetchone())
    assert built._state.adding is False and built._state.db == "default"
    assert built.account == bill.account  # the foreign key's id was stored, the relation loads from it
    built.reference = "re-saved"
    built.save(update_fields=["reference"])
    assert Bill.objects.get(pk=bill.pk).reference == "re-saved"


@contextmanager
def _bills_initialised():
    """The bills whose `__init__` ran meanwhile, seen by a post_init receiver."""
    from django.db.models import signals

    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    signals.post_init.connect(receiver, sender=Bill)
    try:
        yield seen
    finally:
        signals.post_init.disconnect(receiver, sender=Bill)


def test_a_model_with_init_receivers_is_built_through_its_init():
    bill = BillFactory()
    row = [getattr(bill, f.attname) for f in Bill._meta.concrete_fields]
    with _bills_initialised() as seen:
        built, _end = plain_sql.model_from_row(Bill, row)
    assert seen == [built]


def test_a_constant_is_written_as_a_literal_and_anything_else_is_refused():
    assert plain_sql.constant("partly_paid") == "'partly_paid'"
    for unsafe in ("open'; DROP TABLE billing_bill; --", "Open", "", "a b"):
        with pytest.raises(ValueError):
            plain_sql.constant(unsafe)


def _same_instance(built, made):
    """Two unsaved instances alike as the ORM sees them: every field, the related objects held, the state."""
    fields = [field.attname for field in type(made)._meta.concrete_fields]
    assert [getattr(built, name) for name in fields] == [getattr(made, name) for name in fields]
    assert built._state.fields_cache == made._state.fields_cache
    assert (built._state.adding, built._state.db) == (made._state.adding, made._state.db)


def test_a_new_instance_is_what_the_models_init_builds():
    from billing.models import Payment, PaymentAllocation

    bill = BillFactory()
    now = datetime.datetime(2026, 12, 6, 8, 0, tzinfo=datetime.UTC)
    values = dict(
        channel="online",
        idempotency_key="k-1",
        request_fingerprint="f" * 64,
        biller=bill.biller,
        account=bill.account,
        payer=None,
        amount=Decimal("12.50"),
        business_date=now.date(),
        posted_at=now,
    )
    built = plain_sql.new_instance(Payment, receipt_no="R1", **values)
    made = Payment(receipt_no="R1", **values)
    _same_instance(built, made)
    assert built.pk is None and built.status == made.status and built.reversal_reason == ""
    assert built.biller is bill.biller  # kept, not read again
    assert plain_sql.new_instance(Payment, **values).receipt_no.startswith("R")  # the field's default

    allocation = dict(payment=built, bill=bill, kind="bill", amount=Decimal("12.50"))
    _same_instance(plain_sql.new_instance(PaymentAllocation, **allocation), PaymentAllocation(**allocation))
    by_id = dict(payment=built, bill_id=bill.pk, kind="bill", amount=Decimal("1.00"))
    _same_instance(plain_sql.new_instance(PaymentAllocation, **by_id), PaymentAllocation(**by_id))


def test_a_new_instance_refuses_what_the_models_init_refuses():
    from billing.models import PaymentAllocation

    bill = BillFactory()
    with pytest.raises(ValueError, match='must be a "Payment" instance'):
        plain_sql.new_instance(PaymentAllocation, payment=bill, kind="bill", amount=Decimal("1.00"))
    with pytest.raises(TypeError, match="unexpected keyword arguments: colour"):
        plain_sql.new_instance(PaymentAllocation, bill=bill, colour="red")


def test_a_new_instance_of_a_model_with_init_receivers_is_built_through_its_init():
    with _bills_initialised() as seen:
        built = plain_sql.new_instance(Bill, period="2026-11")
    assert seen == [built]
