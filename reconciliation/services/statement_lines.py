"""A statement's lines written as they are read (PostgreSQL COPY), and its content fingerprint taken back
from them: a million-line statement is imported without its lines ever being held together."""

import datetime
import hashlib
import json
import operator
import queue
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from django.db import connection
from django.utils.translation import gettext

from billing.money import ZERO
from reconciliation.adapters.base import ParsedLine, refuse
from reconciliation.choices import LineKind
from reconciliation.models import StatementFile, StatementLine

COLUMNS = (
    "statement_id",
    "line_no",
    "kind",
    "channel_ref",
    "original_ref",
    "merchant_ref",
    "receipt_no",
    "biller_code",
    "account_no",
    "amount",
    "fee",
    "currency",
    "occurred_at",
)
# The text columns a line fills, with the characters each holds: a longer value refuses its line.
TEXT_FIELDS = [
    field
    for field in StatementLine._meta.concrete_fields
    if field.column in COLUMNS and getattr(field, "max_length", None)
]
# ParsedStatement.fingerprint's fields of a line, as text, in its order: amounts to the fen, the time in
# UTC as Python's isoformat writes it. Sorted by code point (COLLATE "C": UTF-8 byte order), as Python
# sorts the lists.
FINGERPRINT_FIELDS = [
    "kind",
    "channel_ref",
    "original_ref",
    "merchant_ref",
    "receipt_no",
    "biller_code",
    "account_no",
    "amount::text",
    "fee::text",
    "currency",
    """CASE WHEN occurred_at IS NULL THEN '' ELSE
        to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN mod(date_part('microseconds', occurred_at)::bigint, 1000000) = 0 THEN ''
                ELSE to_char(occurred_at AT TIME ZONE 'UTC', '.US') END
        || '+00:00' END""",
]
# The same order: the time's text sorts as the time does, with no time ('') first.
FINGERPRINT_ORDER = [f'({field}) COLLATE "C"' for field in FINGERPRINT_FIELDS[:-1]] + [
    "occurred_at NULLS FIRST"
]
# A line's JSON when none of its texts needs an escape: what json_build_array writes then, for less.
PLAIN_LINE = "'[\"' || " + " || '\", \"' || ".join(FINGERPRINT_FIELDS) + " || '\"]'"
# A character that JSON escapes, or that sorts a list's text apart from the list (one at or below the
# quote, as a space: "a" < "a b" but '["a", …' > '["a b", …'). A statement without any sorts its lines by
# their JSON text alone.
NOT_PLAIN = re.compile(r"[\x00-\x22\\]")
FETCH = 2_000
# Lines to a COPY (its foreign-key checks run as it ends, beside the reading of the next), lines handed to
# the COPYing thread at a time, and batches it may have waiting (memory: about 16,000 lines' rows).
CHUNK_LINES = 25_000
BATCH_LINES = 1_000
QUEUED_BATCHES = 16
PREPARED = "pg_temp.recon_statement_fingerprint_lines"
_TEXT_VALUES = operator.attrgetter(*(field.attname for field in TEXT_FIELDS))
_TEXT_LIMITS = tuple(field.max_length for field in TEXT_FIELDS)


@dataclass
class Tally:
    count: int = 0
    payments_total: object = ZERO
    refunds_total: object = ZERO
    fees_total: object = ZERO
    plain: bool = True  # no line's text has a character of NOT_PLAIN (see `fingerprint`)
    prepared: bool = False  # every line's plain JSON is in PREPARED, made as the lines were written


def store_content(statement_id: int, data: bytes) -> None:
    """The file's bytes into its statement, sent as one binary parameter: Django's client-side binding would
    write them into the SQL as hex, several copies of a 60 MB file at once."""
    table = StatementFile._meta.db_table
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(f"UPDATE {table} SET content = %b WHERE id = %s", [data, statement_id])


def copy_lines(statement_id: int, lines: Iterable[ParsedLine]) -> Tally:
    """COPY the lines into the statement's, as they come (a refusal raised by `lines` stops the COPY; the
    caller's transaction then writes nothing); their count and totals.

    The lines go out in COPYs of CHUNK_LINES from a thread of their own (`_Copier`), with their foreign key
    to the statement checked as each COPY ends: PostgreSQL checks a chunk while this thread reads the next,
    where the deferred check of every line would run at COMMIT, after the reading. While every line is
    plain, each chunk's JSON texts for the fingerprint are made then too (`Tally.prepared`)."""
    tally = Tally()
    when, written_when = None, None
    rows = []
    with _Copier(statement_id) as copier:
        for line in lines:
            texts = _TEXT_VALUES(line)
            if any(map(int.__gt__, map(len, texts), _TEXT_LIMITS)):
                _refuse_length(line)
            if tally.plain and NOT_PLAIN.search("".join(texts)):
                tally.plain = copier.prepare = False
            if line.occurred_at is not when:  # a bill's lines share their seconds: each written once
                when = line.occurred_at
                written_when = None if when is None else str(when)  # as psycopg writes it
            rows.append(
                (
                    statement_id,
                    line.line_no,
                    line.kind,
                    line.channel_ref,
                    line.original_ref,
                    line.merchant_ref,
                    line.receipt_no,
                    line.biller_code,
                    line.account_no,
                    line.amount,
                    line.fee,
                    line.currency,
                    written_when,
                )
            )
            if len(rows) == BATCH_LINES:
                copier.put(rows)
                rows = []
            tally.count += 1
            tally.fees_total += line.fee
            if line.kind == LineKind.PAYMENT:
                tally.payments_total += line.amount
            elif line.kind == LineKind.REFUND:
                tally.refunds_total += line.amount
        copier.put(rows)
    tally.prepared = tally.plain and copier.prepared == tally.count
    return tally


class _Copier:
    """A thread COPYing the rows handed to it (in batches) into the statement's lines, CHUNK_LINES to a COPY,
    on the caller's connection and in its transaction, which the caller leaves alone meanwhile (the block
    ends only once the thread has). The lines' foreign key to their statement is made IMMEDIATE first: each
    COPY's checks then run as it ends (a deferred constraint, as Django makes every foreign key, would check
    them all at COMMIT). A failure of the thread is raised in the caller as Django raises database errors;
    the caller's own exception ends the thread's COPY as failed."""

    _STOP = object()

    def __init__(self, statement_id: int) -> None:
        self.statement_id = statement_id
        # lines whose plain JSON is in PREPARED (see `fingerprint`), up to line_no `last_prepared`
        self.prepare, self.prepared, self.last_prepared = True, 0, -1
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUED_BATCHES)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"statement-{statement_id}-copy", daemon=True)

    def __enter__(self) -> "_Copier":
        with connection.cursor() as cursor:
            keys = _statement_keys(cursor)
            if keys:
                cursor.execute(f"SET CONSTRAINTS {', '.join(keys)} IMMEDIATE")
            cursor.execute(
                f'DROP TABLE IF EXISTS {PREPARED}; CREATE TEMP TABLE {PREPARED} (line text COLLATE "C") '
                "ON COMMIT DROP"
            )
        self.raw = connection.connection
        self.thread.start()
        return self

    def put(self, rows: list[tuple]) -> None:
        while True:  # never blocked for good behind a thread that has stopped
            if self.error is not None:
                self._raise()
            try:
                self.queue.put(rows, timeout=0.1)
                return
            except queue.Full:
                continue

    def __exit__(self, kind, value, traceback) -> None:
        self.queue.put(self._STOP if kind is None else _Abort)
        self.thread.join()
        if kind is None and self.error is not None:
            self._raise()

    def _raise(self):
        with connection.wrap_database_errors:
            raise self.error

    def _run(self) -> None:
        table = StatementLine._meta.db_table
        sql = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN"
        try:
            with self.raw.cursor() as cursor:
                rows = self._next()
                while rows is not self._STOP:
                    first, last = None, None
                    with cursor.copy(sql) as copy:
                        written = 0
                        while rows is not self._STOP and written < CHUNK_LINES:
                            for row in rows:
                                copy.write_row(row)
                            if rows:
                                first = rows[0][1] if first is None else first
                                last = rows[-1][1]
                            written += len(rows)
                            rows = self._next()
                    self._prepare(cursor, first, last, written)
        except _Abort:
            return
        except BaseException as error:  # raised in the caller's thread, which is let finish
            self.error = error
            while self.queue.get() not in (self._STOP, _Abort):
                pass

    def _prepare(self, cursor, first, last, written) -> None:
        """The chunk's lines' plain JSON into PREPARED, while the next chunk is read: the fingerprint then
        only sorts them. Only while every line so far was plain, and lines come numbered in order."""
        if not (self.prepare and written and first <= last and first > self.last_prepared):
            self.prepare = False
            return
        table = StatementLine._meta.db_table
        cursor.execute(
            f"INSERT INTO {PREPARED} SELECT {PLAIN_LINE} FROM {table} "
            "WHERE statement_id = %s AND line_no BETWEEN %s AND %s",
            [self.statement_id, first, last],
        )
        self.last_prepared = last
        self.prepared += cursor.rowcount

    def _next(self):
        rows = self.queue.get()
        if rows is _Abort:
            raise _Abort
        return rows


class _Abort(Exception):  # the caller failed: the thread's COPY ends as failed
    pass


def _statement_keys(cursor) -> list[str]:
    """The line table's foreign key(s) to the statement, named from the catalogue (whatever migrations
    named them), quoted."""
    column = StatementLine._meta.get_field("statement").column
    constraints = connection.introspection.get_constraints(cursor, StatementLine._meta.db_table)
    return [
        connection.ops.quote_name(name)
        for name, constraint in constraints.items()
        if constraint["foreign_key"] and constraint["columns"] == [column]
    ]


def _refuse_length(line: ParsedLine) -> None:
    for field in TEXT_FIELDS:
        value = getattr(line, field.attname)
        if len(value) > field.max_length:
            raise refuse(
                line.line_no,
                gettext("%(what)s “%(value)s” is longer than %(limit)s characters")
                % {"what": field.verbose_name, "value": value[:80], "limit": field.max_length},
            )


def fingerprint(
    statement_id: int,
    channel_code: str,
    business_date: datetime.date,
    *,
    plain: bool = False,
    prepared: bool = False,
) -> str:
    """ParsedStatement.fingerprint of the statement's written lines, hashed as PostgreSQL returns them in
    order (a server-side cursor: never more than FETCH lines at once). `plain`: no line has a character of
    NOT_PLAIN (`Tally.plain`), so each line's JSON is its texts between quotes, and sorts as its list;
    `prepared`: those JSON texts were put in PREPARED as the lines were written (`Tally.prepared`), so
    PostgreSQL only sorts them here."""
    digest = hashlib.sha256()
    head = json.dumps([channel_code, business_date.isoformat()], ensure_ascii=False)
    digest.update((head[:-1] + ", [").encode())
    table = StatementLine._meta.db_table
    params = [statement_id]
    if plain and prepared:
        query, params = f"SELECT line FROM {PREPARED} ORDER BY line", []
    elif plain:
        query = (
            f'SELECT ({PLAIN_LINE}) COLLATE "C" AS line FROM {table} WHERE statement_id = %s ORDER BY line'
        )
    else:
        # json_build_array(text, …)::text writes what json.dumps(list, ensure_ascii=False) writes: ", "
        # between values, the same escapes (quote, backslash, \b\f\n\r\t, other controls as \u00xx).
        query = (
            f"SELECT json_build_array({', '.join(FINGERPRINT_FIELDS)})::text FROM {table} "
            f"WHERE statement_id = %s ORDER BY {', '.join(FINGERPRINT_ORDER)}"
        )
    separator = b""
    with connection.connection.cursor(name=f"statement_{statement_id}_fingerprint") as cursor:
        cursor.itersize = FETCH
        cursor.execute(query, params)
        for (line,) in cursor:
            digest.update(separator + line.encode())
            separator = b", "
    digest.update(b"]]")
    return digest.hexdigest()
