"""Django's PostgreSQL backend, with the per-request connection health check done without a round trip
while the connection is plainly alive.

With `CONN_HEALTH_CHECKS` Django sends `SELECT 1` before the first query of every request on a kept
connection, so that one the server dropped meanwhile (a restart, a failover, an idle timeout, a pooler's
recycling) is replaced rather than failing the request. That is one more round trip per request, one in nine
of a partner API payment's (docs/benchmarks.md, "Partner API"). A server that drops a connection says so on
its socket: it sends its FATAL message and closes, and the socket becomes readable; an idle connection
between two requests otherwise has nothing to read. So: a closed or broken connection is replaced at once; a
socket with nothing waiting is taken as healthy; anything waiting (the server's farewell, or a harmless
notice) gets Django's `SELECT 1` as before. The check after a failed query (`errors_occurred`) is Django's,
unchanged.
"""

import contextlib
import select

import psycopg
from django.db.backends.postgresql import base
from django.db.transaction import TransactionManagementError
from psycopg import errors, pq
from psycopg._preparing import Prepare
from psycopg.generators import fetch_many, send


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        if self.pool:
            return super().close_if_health_check_failed()
        if self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        if not self._looks_alive() and not self.is_usable():
            self.close()
        self.health_check_done = True

    def _looks_alive(self) -> bool:
        """True when nothing suggests the server dropped the connection (then no query is sent)."""
        connection = self.connection
        if connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != pq.TransactionStatus.IDLE:
            return False  # not how a request finds its connection: let `SELECT 1` decide
        try:
            poller = select.poll()  # not select(): no limit on the descriptor's number
            poller.register(connection.fileno(), select.POLLIN)
            waiting = poller.poll(0)
        except (OSError, ValueError):
            return False
        return not waiting

    # Set when a statement committed its transaction (`execute_and_commit`) inside Django's atomic block,
    # until the block ends: a statement after it would run outside the transaction, so none is let through.
    committed_with_statement = False

    def execute_and_commit(self, sql: str, params, *, binary: bool = False):
        """Run `sql`, the last statement of the transaction that the one atomic block open owns, and commit
        that transaction in the same round trip; its rows, as a prepared cursor's `fetchall`. Django's atomic
        block then finds the transaction committed, and runs its on-commit hooks when it ends.

        Anywhere else (no atomic block, a nested one, a test's) the statement is only executed, and the
        atomic block commits as usual."""
        blocks = self.atomic_blocks
        commit = len(blocks) == 1 and not blocks[0]._from_testcase and not self.savepoint_ids
        with self.prepared_cursor(binary=binary) as cursor:
            if commit:
                cursor.cursor.commit_with_next_statement()
            cursor.execute(sql, params)
            rows = cursor.fetchall() if cursor.description else []
        if commit:
            self.committed_with_statement = True
        return rows

    def create_cursor(self, name=None):
        self._refuse_after_commit_with_statement()
        return super().create_cursor(name)

    def _refuse_after_commit_with_statement(self):
        if self.committed_with_statement:
            raise TransactionManagementError(
                "The transaction was committed with its last statement (execute_and_commit): no statement "
                "may follow it in the same atomic block."
            )

    def _set_autocommit(self, autocommit):
        if autocommit:  # the outermost atomic block has ended, whichever way
            self.committed_with_statement = False
        return super()._set_autocommit(autocommit)

    def prepared_cursor(self, *, binary: bool = False):
        """Django's cursor (health check, error translation, the queries tests count) over a psycopg cursor
        that binds on the server and prepares each statement once per connection (`PreparingCursor`): for
        the hottest statements (billing.plain_sql), built directly rather than replacing the one
        `cursor()` makes, which cost a psycopg cursor made and closed per statement."""
        self._refuse_after_commit_with_statement()
        self.close_if_health_check_failed()
        self.ensure_connection()
        with self.wrap_database_errors:
            cursor = PreparingCursor(self.connection)
            if binary and self.connection.info.timezone == self.timezone:
                # Binary timestamps come in the session's time zone: Django's, as it sets it on connecting.
                cursor.format = pq.Format.BINARY
            # As Django's create_cursor: the connection's time zone when the session's differs.
            tzloader = self.connection.adapters.get_loader(base.TIMESTAMPTZ_OID, pq.Format.TEXT)
            if self.timezone != tzloader.timezone:
                base.register_tzloader(self.timezone, cursor)
            return self._prepare_cursor(cursor)


class PreparingCursor(psycopg.Cursor):
    """Binds parameters on the server and has PostgreSQL prepare each statement once per connection: a
    statement that joins four models then skips parsing and planning, which cost more than running it.
    (Django's own cursors bind on the client and never prepare; connections live for CONN_MAX_AGE.)

    And a prepared statement takes its transaction's BEGIN along (the transaction's first statement), and,
    when its caller says it is the transaction's last (`commit_with_next_statement`, through
    `DatabaseWrapper.execute_and_commit`), its COMMIT: one round trip where psycopg makes two or three. On
    the machine of docs/benchmarks.md a round trip costs each side about as much CPU as the statement's own
    Python ("Round trips to PostgreSQL")."""

    _commit_after = False

    def execute(self, query, params=None, *, prepare=True, binary=None):
        return super().execute(query, params, prepare=prepare, binary=binary)

    def commit_with_next_statement(self) -> None:
        """The next statement is its transaction's last: send COMMIT with it."""
        self._commit_after = True

    def _execute_gen(self, query, params=None, *, prepare=None, binary=None):
        conn = self._conn
        commit, self._commit_after = self._commit_after, False
        idle = self._pgconn.transaction_status == pq.TransactionStatus.IDLE
        if conn.autocommit or conn._pipeline or not (idle or commit):
            return (yield from super()._execute_gen(query, params, prepare=prepare, binary=binary))
        if self.closed:
            raise errors.InterfaceError("the cursor is closed")
        self._reset()  # as psycopg's _start_query
        if not self._last_query or (self._last_query is not query):
            self._last_query = None
            self._tx = psycopg.adapt.Transformer(self)
        pgq = self._convert_query(query, params)
        prep, name = self._get_prepared(pgq, prepare)
        if prep is Prepare.YES:
            conn._prepared.maybe_add_to_cache(pgq, prep, name)  # the statement's turn in the cache's LRU
            yield from self._in_one_round_trip(name, pgq, binary, begin=idle, commit=commit)
        else:  # preparing it first: psycopg's way, then the COMMIT on its own
            yield from conn._start_query()
            yield from self._maybe_prepare_gen(pgq, prepare=prepare, binary=binary)
            if commit:
                yield from conn._exec_command(b"COMMIT")
        self._last_query = query
        yield from conn._prepared.maintain_gen(conn)

    def _in_one_round_trip(self, name, pgq, binary, *, begin: bool, commit: bool):
        """BEGIN (begin), the prepared statement, COMMIT (commit), and a Sync, sent together in libpq's
        pipeline mode and answered together: the statements run in order in one transaction; after an
        error PostgreSQL skips the rest up to the Sync, and the transaction stays failed (Django's atomic
        rolls it back) or, when COMMIT itself failed (a deferred constraint), is already rolled back."""
        pgconn = self._pgconn
        pgconn.enter_pipeline_mode()
        try:
            if begin:
                pgconn.send_query_params(self._conn._get_tx_start_command(), None)
            self._send_query_prepared(name, pgq, binary=binary)
            if commit:
                pgconn.send_query_params(b"COMMIT", None)
            pgconn.pipeline_sync()
            yield from send(pgconn)
            began = (yield from fetch_many(pgconn)) if begin else []
            results = yield from fetch_many(pgconn)
            committed = (yield from fetch_many(pgconn)) if commit else []
            yield from fetch_many(pgconn)  # the Sync's
        except BaseException:
            with contextlib.suppress(errors.Error):  # a lost connection: its own error is the one to see
                pgconn.exit_pipeline_mode()
            raise
        pgconn.exit_pipeline_mode()
        for result in began:
            if result.status != pq.ExecStatus.COMMAND_OK:
                raise errors.error_from_result(result, encoding=self._encoding)
        self._check_results(results)
        for result in committed:
            if result.status != pq.ExecStatus.COMMAND_OK:
                raise errors.error_from_result(result, encoding=self._encoding)
        self._set_results(results)
