"""Plain SQL for the hottest reads and locks (the lookup page, the posting path): compiling their ORM
queries cost more than running them (docs/benchmarks.md). Rows become model instances again through the
ORM's own converters, so money stays Decimal on every database."""

from contextlib import contextmanager

import psycopg
from django.db import connection


def columns(model, alias: str) -> str:
    """The model's concrete columns, qualified by `alias`, in the order `attnames` lists them."""
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


def attnames(model) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


_LAYOUTS: dict[tuple[str, type], tuple[list[str], list]] = {}


def _layout(model) -> tuple[list[str], list]:
    """The model's attnames, and what the ORM does to each column on the way out of this database:
    nothing on PostgreSQL for the billing models, but the demo's SQLite gives decimals back as floats and
    dates as strings. Worked out once per database kind and model."""
    key = (connection.vendor, model)
    if key not in _LAYOUTS:
        conversions = []
        for index, field in enumerate(model._meta.concrete_fields):
            col = field.get_col(model._meta.db_table)
            if converters := connection.ops.get_db_converters(col) + field.get_db_converters(connection):
                conversions.append((index, col, converters))
        _LAYOUTS[key] = (attnames(model), conversions)
    return _LAYOUTS[key]


def model_from_row(model, row, start: int = 0):
    """The instance whose `columns` begin at `start` in `row`, and where the next model's begin."""
    names, conversions = _layout(model)
    end = start + len(names)
    values = row[start:end]
    if conversions:
        values = list(values)
        for index, col, converters in conversions:
            for convert in converters:
                values[index] = convert(values[index], col, connection)
    return model.from_db(connection.alias, names, values), end


class _PreparingCursor(psycopg.Cursor):
    """Binds parameters on the server and has PostgreSQL prepare each statement once per connection: a
    statement that joins four models then skips parsing and planning, which cost more than running it.
    (Django's own cursors bind on the client and never prepare; connections live for CONN_MAX_AGE.)"""

    def execute(self, query, params=None, *, prepare=True, binary=None):
        return super().execute(query, params, prepare=prepare, binary=binary)


@contextmanager
def prepared_cursor():
    """Django's cursor (health check, error translation, queries counted by tests) over a preparing one on
    PostgreSQL; other databases (the demo's SQLite) keep Django's own."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.cursor.close()
            cursor.cursor = _PreparingCursor(connection.connection)
        yield cursor
