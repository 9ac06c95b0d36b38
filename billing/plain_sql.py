"""Plain SQL for the hottest reads and locks (the lookup page, the posting path): compiling their ORM
queries cost more than running them (docs/benchmarks.md). PostgreSQL gives money back as Decimal and
dates as dates, so a row becomes a model instance as it is. And the purges of old rows, batch after batch
(`delete_in_batches`)."""

import datetime
import re
from contextlib import contextmanager

import psycopg
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, router
from django.db.models import signals
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute


def is_deadlock(error: Exception) -> bool:
    """Whether PostgreSQL ended a lock wait between this transaction and another by aborting this one: the
    transaction, run again from its start, may then go through."""
    return isinstance(error, OperationalError) and isinstance(
        error.__cause__, psycopg.errors.DeadlockDetected
    )


def columns(model, alias: str) -> str:
    """The model's concrete columns, qualified by `alias`, in the order `attnames` lists them."""
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


def constant(value: str) -> str:
    """A value fixed in the code (a choice's value, never anything a visitor sent) as an SQL literal. A
    prepared statement with its constants written in gets a generic plan that is as good as a custom one,
    so PostgreSQL plans it once per connection; with them as parameters it cannot tell how few rows
    `status IN ($1, $2)` selects and plans it again on every execution (0.55 ms of the server's CPU a
    bill-lookup page, docs/benchmarks.md)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
        raise ValueError(f"not a plain constant: {value!r}")
    return f"'{value}'"


def constants(values) -> str:
    """Values fixed in the code as a list of SQL literals (`constant`), for an `IN (…)`."""
    return ", ".join(map(constant, values))


def attnames(model) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


_ATTNAMES: dict[type, list[str]] = {}
_PLAIN_STATE: dict[type, bool] = {}
_ONE_TO_ONE: dict[type, bool] = {}


def _attnames_without_converters(model) -> list[str]:
    """The model's attnames, once it is known that PostgreSQL hands every column back as the field holds
    it (decimals as Decimal, dates as dates): true of the models read here. A model with a field the ORM
    converts on the way out (a JSONField) is refused rather than given back half-built."""
    if model not in _ATTNAMES:
        converted = [
            field.name
            for field in model._meta.concrete_fields
            if connection.ops.get_db_converters(field.get_col(model._meta.db_table))
            or field.get_db_converters(connection)
        ]
        if converted:
            raise TypeError(
                f"{model.__name__}.{converted[0]} needs the ORM's converters: read it through the ORM"
            )
        _ATTNAMES[model] = attnames(model)
    return _ATTNAMES[model]


def _sets_plainly(model) -> bool:
    """Whether `Model.__init__` would only store each column's value under its attname: no attribute
    with a setter of its own but a foreign key's id (which, on a new instance, only stores it)."""
    if model not in _PLAIN_STATE:
        _PLAIN_STATE[model] = all(
            not hasattr(getattr(model, field.attname, None), "__set__")
            or type(getattr(model, field.attname)) is ForeignKeyDeferredAttribute
            for field in model._meta.concrete_fields
        )
    return _PLAIN_STATE[model]


def _init_may_be_skipped(model) -> bool:
    """Whether an instance may be built without running `Model.__init__` (`model_from_row`,
    `new_instance`): no pre_init/post_init receivers that would miss it, and `_sets_plainly`."""
    return (
        _sets_plainly(model)
        and not signals.pre_init.has_listeners(model)
        and not signals.post_init.has_listeners(model)
    )


def model_from_row(model, row, start: int = 0):
    """The instance whose `columns` begin at `start` in `row`, and where the next model's begin.

    Built as `Model.from_db` builds it, without running `Model.__init__`'s loop over the fields: the
    posting path makes five instances a payment this way, and that loop was a sixth of its Python. A model
    with pre_init/post_init receivers, or with a field that sets itself through a descriptor, goes through
    `from_db` as before."""
    names = _attnames_without_converters(model)
    end = start + len(names)
    if not _init_may_be_skipped(model):
        return model.from_db(DEFAULT_DB_ALIAS, names, row[start:end]), end
    instance = model.__new__(model)
    instance.__dict__.update(zip(names, row[start:end], strict=True))
    instance._state = ModelState()
    mark_saved(instance)
    return instance, end


def _has_one_to_one(model) -> bool:
    """Whether the model has a one-to-one field, whose setter also fills the other side's cache."""
    if model not in _ONE_TO_ONE:
        _ONE_TO_ONE[model] = any(field.one_to_one for field in model._meta.concrete_fields)
    return _ONE_TO_ONE[model]


def new_instance(model, **values):
    """`model(**values)`, unsaved, built without `Model.__init__`'s pass over every field through its
    descriptor: for the posting path's new payment and its allocations, where that pass cost 60 µs a
    payment (2026-12-06), a twentieth of its Python.

    As the ORM: each value by field name (a foreign key as its object, kept in the instance's cache, or
    None) or by attname (a foreign key's id); a field not named takes its default; a related object of
    another model, or a name the model lacks, is refused; the instance goes to the database the router
    writes it to once it holds a related object (its `allow_relation` is not asked: the platform writes to
    one database). A model with init receivers, a field that sets itself through a descriptor of its own,
    or a one-to-one field is built through `model(**values)`."""
    if not _init_may_be_skipped(model) or _has_one_to_one(model):
        return model(**values)
    instance = model.__new__(model)
    state = instance._state = ModelState()
    data = instance.__dict__
    for field in model._meta.concrete_fields:
        if field.is_relation and field.name in values:
            related = values.pop(field.name)
            if related is not None:
                if not isinstance(related, field.remote_field.model._meta.concrete_model):
                    raise ValueError(
                        f'Cannot assign "{related!r}": "{model.__name__}.{field.name}" must be a '
                        f'"{field.remote_field.model.__name__}" instance.'
                    )
                if state.db is None:
                    state.db = router.db_for_write(model, instance=related)
                data[field.attname] = getattr(related, field.target_field.attname)
            else:
                data[field.attname] = None
            state.fields_cache[field.name] = related
        elif field.attname in values:
            data[field.attname] = values.pop(field.attname)
        else:
            data[field.attname] = field.get_default()
    if values:
        raise TypeError(f"{model.__name__}() got unexpected keyword arguments: {', '.join(values)}")
    return instance


def mark_saved(instance) -> None:
    """An instance whose row plain SQL read or wrote, on the default database, as the ORM leaves one it
    read or saved. `DEFAULT_DB_ALIAS` is `connection.alias` without its two lookups (Django's connection
    proxy, then its thread-local store), each of which raises and formats an AttributeError inside Django
    or asgiref before it finds the connection (the posting path set it seven times a payment: 0.11 M
    instructions, 4 %)."""
    state = instance._state
    state.adding = False
    state.db = DEFAULT_DB_ALIAS


@contextmanager
def prepared_cursor(*, binary: bool = False):
    """A cursor whose statements PostgreSQL prepares once per connection (config.postgresql).

    `binary`: rows come in PostgreSQL's binary format, which psycopg turns into Python values in C; in text
    each timestamp and decimal is parsed from its text, in Python for Django's time-zone-aware timestamps
    (8% of the posting path's Python, docs/benchmarks.md). For the rows `model_from_row` reads and for
    ids, numbers and arrays, whose values are the same either way: not for a JSON or network-address
    column, which Django reads as text only (tests/billing/test_plain_sql.py)."""
    with connection.prepared_cursor(binary=binary) as cursor:
        yield cursor


def execute_and_commit(sql: str, params, *, binary: bool = False) -> list[tuple]:
    """Run `sql` as the last statement of the transaction its caller's atomic block owns, and commit the
    transaction with it, in one round trip; its rows. Only where that block is the only one open (not
    inside a caller's transaction, nor a test's): anywhere else the statement just runs and the block
    commits as ever. No statement may follow it in the block (config.postgresql refuses one)."""
    return connection.execute_and_commit(sql, params, binary=binary)


# Rows a purge deletes a transaction: short, so the posting, the relay and the senders never wait long.
PURGE_BATCH = 10_000
# Where a purge that walks an index of times begins (its first `after`).
EARLIEST = datetime.datetime.min.replace(tzinfo=datetime.UTC)


def delete_in_batches(sql: str, *, after, max_batches: int, **params) -> int:
    """Run a purge's one-batch statement until a batch deletes fewer than PURGE_BATCH rows, at most
    `max_batches` times; returns how many rows were deleted.

    The statement (billing.outbox._PURGE_BATCH_SQL is the model) selects the next `%(limit)s` doomed rows in
    the order of an index, from `%(after)s` on, deletes them and answers one row: how many it deleted, and
    the key of its last row, where the next batch begins. Each batch is one statement, so outside a
    transaction its own short one; and neither ids nor rows come through Python (the ORM's delete selects
    them first). `params` are the statement's other parameters (its cutoff)."""
    batch = PURGE_BATCH
    deleted_in_all = 0
    for _ in range(max_batches):
        with connection.cursor() as cursor:
            cursor.execute(sql, {**params, "after": after, "limit": batch})
            deleted, after = cursor.fetchone()
        deleted_in_all += deleted
        if deleted < batch:
            break
    return deleted_in_all
