"""The per-request connection health check (config/postgresql/base.py): no `SELECT 1` for a kept connection
that is plainly alive, and a connection the server dropped between two requests is still replaced before
the next request uses it."""

import time

import pytest
from django.db import connection

from tests.support import other_connection


def _as_at_a_new_request():
    connection.close_at = None  # CONN_MAX_AGE is not what is tested here
    connection.close_if_unusable_or_obsolete()  # Django's request_started: the next query checks first
    assert connection.health_check_enabled and not connection.health_check_done


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_an_alive_connection_is_checked_without_a_query(monkeypatch):
    pid = _backend_pid()
    _as_at_a_new_request()
    pings = []
    monkeypatch.setattr(connection, "is_usable", lambda: pings.append(1) or True)
    assert _backend_pid() == pid
    assert pings == []
    assert connection.health_check_done


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_dropped_is_replaced_before_the_request_uses_it():
    pid = _backend_pid()
    with other_connection() as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while connection._looks_alive() and time.monotonic() < deadline:  # the farewell is on its way
        time.sleep(0.05)
    _as_at_a_new_request()
    assert _backend_pid() != pid  # a new connection, and the query went through
