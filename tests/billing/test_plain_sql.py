"""The plain-SQL helpers give back the same model instances the ORM would, on PostgreSQL and on the demo's
SQLite (whose rows hold floats and strings: the ORM's converters must run)."""

import datetime
from decimal import Decimal

import pytest
from django.db.utils import ConnectionHandler

from billing import plain_sql
from billing.models import Bill, CustomerAccount
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


def test_on_sqlite_money_comes_back_as_decimal_and_dates_as_dates(monkeypatch):
    bill = BillFactory(amount_due=Decimal("83.60"), late_fee=Decimal("0.00"))

    def as_sqlite_stores_it(value):
        if isinstance(value, Decimal):
            return float(value)
        if isinstance(value, datetime.datetime):
            return value.astimezone(datetime.UTC).replace(tzinfo=None).isoformat(" ")
        if isinstance(value, datetime.date):
            return value.isoformat()
        return value

    row = [as_sqlite_stores_it(getattr(bill, f.attname)) for f in Bill._meta.concrete_fields]
    sqlite = ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}})
    monkeypatch.setattr(plain_sql, "connection", sqlite["default"])
    converted, _end = plain_sql.model_from_row(Bill, row)
    assert converted.amount_due == Decimal("83.60") and str(converted.amount_due) == "83.60"
    assert converted.due_date == bill.due_date
    assert converted.created_at == bill.created_at
