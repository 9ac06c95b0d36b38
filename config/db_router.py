"""Reads that may lag go to a read replica (issue 16, docs/scaling.md).

With `DATABASE_REPLICA_URL` set, the settings add a `replica` database and this router sends to it the
reads made inside `replica_reads()` (or a function marked `@may_lag`): public lists, reports, the nightly
checks. Everything else reads the primary, and so does a read inside a transaction on the primary (it must
see its own writes). Writes always go to the primary, even for a row that was read from the replica.
Without a replica every read goes to the primary and nothing changes.
"""

import contextvars
import functools
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"
_may_lag = contextvars.ContextVar("billpay_replica_reads", default=False)


@contextmanager
def replica_reads():
    """The reads in this block may be served a few seconds stale, by the replica when there is one."""
    token = _may_lag.set(True)
    try:
        yield
    finally:
        _may_lag.reset(token)


def may_lag(function):
    """Mark a selector whose answer may be a few seconds stale. It must evaluate its querysets before it
    returns (a list, a dict): a lazy queryset would be read later, outside the block, on the primary."""

    @functools.wraps(function)
    def reading_the_replica(*args, **kwargs):
        with replica_reads():
            return function(*args, **kwargs)

    return reading_the_replica


def replica_configured() -> bool:
    return REPLICA in connections.settings


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        if not _may_lag.get() or not replica_configured():
            return DEFAULT_DB_ALIAS
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        return REPLICA

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA}

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS
