"""Rows that every request reads and almost never change (an API credential and its owner, a partner's
grants, whether a biller's bills are live), kept in each process's memory so that the hot paths skip
their queries (docs/benchmarks.md, "Partner API").

Every process checks one version token in the shared cache (Redis in production: one GET at the first use
in a request, or once a second outside requests; the signed APIs read it with the request's nonce instead,
`get_held` and `seen`) and forgets all it holds when the token has changed. Each
save or delete of a watched model (and each change of a watched many-to-many relation) renews the token
twice: at once, and again when the transaction commits, so no process keeps a row read between the two. A
revoked key therefore stops working on the next request of every worker (within `RECHECK_SECONDS` for
work outside a request, e.g. a Celery task). Changes that bypass the model's signals (`QuerySet.update`,
raw SQL, a restore) are picked up within `MAX_AGE_SECONDS`, after which every entry is read again anyway.
With the shared cache away, nothing is cached: each call reads the database, as before.

Cached instances are shared between the requests of one process: read them, never change or save them.
"""

import logging
import secrets
import threading
import time
from collections.abc import Callable, Hashable

from django.core.cache import cache
from django.core.signals import request_started
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from config.unavailable import SERVICE_ERRORS

logger = logging.getLogger(__name__)

VERSION_KEY = "local-cache:version"
MAX_AGE_SECONDS = 30
RECHECK_SECONDS = 1.0  # outside a request, how long a token read is trusted
MAX_ENTRIES = 10_000  # a bound on memory: past it, the process starts over

_lock = threading.Lock()
_state = {"version": None, "entries": {}, "read_at": None, "read": None}


def _new_request(**kwargs) -> None:
    _state["read_at"] = None  # each request reads the token again, once


request_started.connect(_new_request, dispatch_uid="local-cache-new-request")


def _current_version() -> str | None:
    now = time.monotonic()
    read_at = _state["read_at"]
    if read_at is not None and now - read_at < RECHECK_SECONDS:
        return _state["read"]
    try:
        version = cache.get(VERSION_KEY)
        if version is None:
            candidate = secrets.token_hex(8)
            version = candidate if cache.add(VERSION_KEY, candidate, timeout=None) else cache.get(VERSION_KEY)
    except SERVICE_ERRORS:
        logger.warning("local cache: shared cache unavailable, reading the database", exc_info=True)
        return None
    _state["read_at"], _state["read"] = now, version
    return version


def get(key: Hashable, load: Callable[[], object]) -> object:
    """The value cached under `key`, or `load()`'s (then kept for this process until the version changes
    or `MAX_AGE_SECONDS` pass)."""
    return _get(key, load, _current_version())


def get_held(key: Hashable, load: Callable[[], object]) -> tuple[object, str | None]:
    """`get` under the version this process holds, without reading the token: for a caller that reads the
    token later in a round trip of its own (the signed APIs, with the request's nonce), tells `seen`, and
    asks again with `get` when it changed, before it acts on the value. Returns the value and the version
    it was held under; a process that holds none reads the token as `get` does (None: the shared cache is
    away and the value came from `load`)."""
    version = _state["version"] or _current_version()
    return _get(key, load, version), version


def seen(version: str) -> None:
    """The token as the caller just read it: this request's `get`s go by it, as by a read of their own."""
    _state["read_at"], _state["read"] = time.monotonic(), version


def _get(key: Hashable, load: Callable[[], object], version: str | None) -> object:
    if version is None:
        return load()
    now = time.monotonic()
    with _lock:
        if _state["version"] != version:
            _state["version"], _state["entries"] = version, {}
        found = _state["entries"].get(key)
    if found is not None and now - found[0] < MAX_AGE_SECONDS:
        return found[1]
    value = load()
    with _lock:
        if _state["version"] == version:  # not forgotten meanwhile by another thread
            if len(_state["entries"]) >= MAX_ENTRIES:
                _state["entries"] = {}
            _state["entries"][key] = (now, value)
    return value


def invalidate() -> None:
    """Every process forgets what it cached (this one at once, the others on their next `get`)."""
    with _lock:
        _state["version"], _state["entries"], _state["read_at"] = None, {}, None
    try:
        cache.set(VERSION_KEY, secrets.token_hex(8), timeout=None)
    except SERVICE_ERRORS:
        logger.warning("local cache: version not renewed (shared cache unavailable)", exc_info=True)


def _changed(sender, **kwargs) -> None:
    invalidate()
    transaction.on_commit(invalidate, using=kwargs.get("using"))


def watch(*models) -> None:
    """Renew the version whenever a row of these models (or these many-to-many tables) changes."""
    for model in models:
        uid = f"local-cache:{model._meta.label_lower}"
        if model._meta.auto_created:  # a many-to-many table: changed through its relation
            m2m_changed.connect(_changed, sender=model, dispatch_uid=uid, weak=False)
        else:
            post_save.connect(_changed, sender=model, dispatch_uid=uid, weak=False)
            post_delete.connect(_changed, sender=model, dispatch_uid=f"{uid}:delete", weak=False)
