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

import select

import psycopg
from django.db.backends.postgresql import base
from psycopg import pq


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

    def prepared_cursor(self, *, binary: bool = False):
        """Django's cursor (health check, error translation, the queries tests count) over a psycopg cursor
        that binds on the server and prepares each statement once per connection (`PreparingCursor`): for
        the hottest statements (billing.plain_sql), built directly rather than replacing the one
        `cursor()` makes, which cost a psycopg cursor made and closed per statement."""
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
    (Django's own cursors bind on the client and never prepare; connections live for CONN_MAX_AGE.)"""

    def execute(self, query, params=None, *, prepare=True, binary=None):
        return super().execute(query, params, prepare=prepare, binary=binary)
