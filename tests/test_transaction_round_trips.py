"""A transaction's first statement, once PostgreSQL has it prepared, goes out with the transaction's BEGIN in
one round trip, and the last one its caller names (`plain_sql.execute_and_commit`) with its COMMIT
(config/postgresql/base.py, `PreparingCursor`); everything else is as before: the rows, the errors, the
isolation level, what a failed transaction leaves behind, and when the on-commit hooks run."""

import contextlib
from decimal import Decimal

import psycopg
import pytest
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.transaction import TransactionManagementError
from psycopg import pq

from billing import outbox, plain_sql
from billing.models import JournalEntry, Payment
from billing.plain_sql import prepared_cursor
from tests.factories import BillFactory
from tests.support import exchanges, other_connection, pay, traced

pytestmark = pytest.mark.django_db(transaction=True)

_SELECT = "SELECT %s::int + 1, current_setting('transaction_isolation')"


def _prepare(sql: str, params) -> None:
    """Run `sql` once in a transaction of its own: a prepared cursor has PostgreSQL prepare it then."""
    with transaction.atomic(), prepared_cursor() as cursor:
        cursor.execute(sql, params)


def test_the_first_prepared_statement_of_a_transaction_carries_its_begin():
    connection.ensure_connection()
    _prepare(_SELECT, [41])

    def first_statement():
        with transaction.atomic():
            with prepared_cursor() as cursor:
                cursor.execute(_SELECT, [41])
                row = cursor.fetchone()
            status = connection.connection.info.transaction_status
        return row, status

    (row, status), trace = traced(first_statement)
    assert row == (42, "read committed")
    assert status == pq.TransactionStatus.INTRANS  # BEGIN ran: the statement was in the transaction
    assert "BEGIN" in trace
    # BEGIN and the statement went out together, then their answers; then COMMIT and its answer.
    assert exchanges(trace) == ["F", "B", "F", "B"]


def test_a_statement_not_yet_prepared_sends_its_begin_alone_as_psycopg_does():
    connection.ensure_connection()

    def first_statement():
        with transaction.atomic(), prepared_cursor() as cursor:
            cursor.execute("SELECT %s::int * 2", [21])
            return cursor.fetchone()

    row, trace = traced(first_statement)
    assert row == (42,)
    assert exchanges(trace) == ["F", "B"] * 4  # BEGIN; the statement's preparation; the statement; COMMIT


def test_the_transactions_isolation_level_still_applies():
    connection.ensure_connection()
    _prepare(_SELECT, [1])
    raw = connection.connection
    raw.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        with transaction.atomic(), prepared_cursor() as cursor:
            cursor.execute(_SELECT, [1])
            assert cursor.fetchone() == (2, "repeatable read")
    finally:
        raw.isolation_level = None


def test_a_failing_first_statement_raises_djangos_error_and_leaves_nothing_written():
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE begin_with_statement (key int PRIMARY KEY)")
        cursor.execute("INSERT INTO begin_with_statement VALUES (1)")
    insert = "INSERT INTO begin_with_statement (key) VALUES (%s) RETURNING key"
    for key in range(2, 9):  # the first prepares it
        with transaction.atomic(), prepared_cursor() as cursor:
            cursor.execute(insert, [key])
    with pytest.raises(IntegrityError), transaction.atomic():
        with prepared_cursor() as cursor:
            cursor.execute(insert, [1])  # the key is taken
        with connection.cursor() as cursor:  # never reached
            cursor.execute("INSERT INTO begin_with_statement VALUES (100)")
    assert connection.connection.info.transaction_status == pq.TransactionStatus.IDLE  # rolled back
    with connection.cursor() as cursor:
        cursor.execute("SELECT array_agg(key ORDER BY key) FROM begin_with_statement")
        assert cursor.fetchone()[0] == list(range(1, 9))
        cursor.execute("DROP TABLE begin_with_statement")


def test_outside_a_transaction_a_statement_runs_on_its_own_as_before():
    connection.ensure_connection()
    _prepare(_SELECT, [5])
    assert connection.get_autocommit()

    def alone():
        with prepared_cursor() as cursor:
            cursor.execute(_SELECT, [5])
            return cursor.fetchone()

    row, trace = traced(alone)
    assert row == (6, "read committed")
    assert "BEGIN" not in trace
    assert exchanges(trace) == ["F", "B"]


@contextlib.contextmanager
def _probe_table():
    """A table of its own (a temporary one would be invisible to the other connection that looks)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE round_trip_probe (key int UNIQUE DEFERRABLE INITIALLY DEFERRED)")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE round_trip_probe")


def _seen_by_another_connection() -> list[int]:
    with other_connection() as other:
        return [key for (key,) in other.execute("SELECT key FROM round_trip_probe ORDER BY key")]


_INSERT = "INSERT INTO round_trip_probe (key) VALUES (%s) RETURNING key"


def test_the_last_statement_commits_the_transaction_in_its_own_round_trip():
    connection.ensure_connection()
    with _probe_table():
        _prepare(_SELECT, [1])
        _prepare(_INSERT, [1])
        hooks = []

        def transaction_of_two():
            with transaction.atomic():
                transaction.on_commit(lambda: hooks.append(_seen_by_another_connection()))
                with prepared_cursor() as cursor:
                    cursor.execute(_SELECT, [1])
                rows = plain_sql.execute_and_commit(_INSERT, [2])
                seen_inside = _seen_by_another_connection()
                assert hooks == []  # not before Django's atomic block ends
            return rows, seen_inside

        (rows, seen_inside), trace = traced(transaction_of_two)
        assert rows == [(2,)]
        assert seen_inside == [1, 2]  # committed by the statement itself
        assert hooks == [[1, 2]]  # then the block's on-commit hooks ran, once
        assert "COMMIT" in trace
        # BEGIN with the first statement; the second with COMMIT; nothing more when the block ends.
        assert exchanges(trace) == ["F", "B", "F", "B"]
        assert connection.connection.info.transaction_status == pq.TransactionStatus.IDLE


def test_no_statement_may_follow_the_one_that_committed():
    connection.ensure_connection()
    with _probe_table():
        refused = pytest.raises(TransactionManagementError, match="committed with its last statement")
        with refused, transaction.atomic():
            plain_sql.execute_and_commit(_INSERT, [1])
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO round_trip_probe VALUES (2)")
        assert _seen_by_another_connection() == [1]  # what the committed statement wrote stays
        with connection.cursor() as cursor:  # and the connection works again once the block has ended
            cursor.execute("SELECT count(*) FROM round_trip_probe")
            assert cursor.fetchone() == (1,)


def test_a_commit_that_fails_raises_djangos_error_and_keeps_nothing():
    connection.ensure_connection()
    with _probe_table():
        _prepare(_INSERT, [1])
        # Prepared, then a statement seen for the first time (prepared on the way, COMMIT sent alone).
        for insert in (_INSERT, _INSERT + " -- new to the connection"):
            with pytest.raises(IntegrityError), transaction.atomic():
                with prepared_cursor() as cursor:
                    cursor.execute(_INSERT, [3])
                plain_sql.execute_and_commit(insert, [1])  # the key is checked at COMMIT: deferred
            assert _seen_by_another_connection() == [1]
            assert connection.connection.info.transaction_status == pq.TransactionStatus.IDLE
            assert not connection.committed_with_statement


def test_inside_a_callers_transaction_the_statement_leaves_the_commit_to_it():
    connection.ensure_connection()
    with _probe_table():
        _prepare(_INSERT, [1])
        with pytest.raises(RuntimeError), transaction.atomic():
            with transaction.atomic():
                assert plain_sql.execute_and_commit(_INSERT, [2]) == [(2,)]
            assert _seen_by_another_connection() == [1]
            raise RuntimeError("the caller changes its mind")
        assert _seen_by_another_connection() == [1]


def test_a_payment_posted_in_its_own_transaction_commits_with_its_statement(monkeypatch):
    monkeypatch.setattr(outbox, "relay_soon", lambda: None)  # the relay's own queries are not the posting's
    bill = BillFactory(period="2026-09")
    BillFactory(account=bill.account, period="2026-10")
    pay(bill.account, key="round-trips-1")  # its statements are prepared now
    result, trace = traced(lambda: pay(bill.account, key="round-trips-2"))
    assert not result.replayed and result.payment.pk
    assert "COMMIT" in trace
    # The account locked with BEGIN; the payment written with COMMIT.
    assert exchanges(trace) == ["F", "B", "F", "B"]
    payment = Payment.objects.get(pk=result.payment.pk)
    assert payment.amount == Decimal("100.00")
    assert JournalEntry.objects.filter(payment=payment).count() == 1
    assert pay(bill.account, key="round-trips-2").replayed


def test_a_connection_lost_under_the_round_trip_raises_djangos_error_and_is_replaced():
    connection.ensure_connection()
    _prepare(_SELECT, [1])
    pid = connection.connection.info.backend_pid
    with other_connection() as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    lost = pytest.raises(OperationalError, match=r"terminat|closed|lost")
    with lost, transaction.atomic(), prepared_cursor() as cursor:
        cursor.execute(_SELECT, [1])
    with prepared_cursor() as cursor:  # the next statement runs on a new connection
        cursor.execute(_SELECT, [2])
        assert cursor.fetchone() == (3, "read committed")
    assert connection.connection.info.backend_pid != pid
