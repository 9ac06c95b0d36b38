"""The platform's Redis cache (config/redis_cache.py) on the real Redis: every kind of call the platform makes
works, each thread sends on a connection of its own, a broken connection is replaced once, a forked child
never shares its parent's socket, and a Redis that is away is reported to the caller."""

import multiprocessing
import threading

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from redis._parsers import _HiredisParser
from redis.connection import HiredisRespSerializer

from config.redis_cache import ReusingRedisCache

pytestmark = pytest.mark.skipif(
    "redis" not in settings.CACHES["default"]["BACKEND"], reason="the suite's cache is not Redis"
)


def _client():
    return cache._cache.get_client(write=True)


def _connection_id() -> int:
    return _client().execute_command("CLIENT", "ID")


def test_every_kind_of_cache_call_works():
    assert cache.add("mark", 1, timeout=10) is True
    assert cache.add("mark", 2, timeout=10) is False
    assert cache.get("mark") == 1
    cache.set("amount", {"yuan": "12.50"}, timeout=10)
    assert cache.get("amount") == {"yuan": "12.50"}
    assert cache.incr("mark") == 2
    cache.set_many({"a": 1, "b": 2}, timeout=10)  # a pipeline, on a connection borrowed from the pool
    assert cache.get_many(["a", "b", "c"]) == {"a": 1, "b": 2}
    script = _client().register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert script(keys=["counted"], args=[5]) == 5  # EVALSHA, loaded on NOSCRIPT
    assert cache.delete("mark") is True
    assert cache.get("mark") is None


def test_commands_are_packed_and_replies_parsed_in_c():
    """hiredis, a dependency for its speed: without it redis-py falls back to Python silently."""
    _connection_id()
    connection = _client()._own.connection
    assert isinstance(connection._parser, _HiredisParser)
    assert isinstance(connection._command_packer, HiredisRespSerializer)


def test_each_thread_sends_on_its_own_connection_and_keeps_it():
    mine = _connection_id()
    assert _connection_id() == mine
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(_connection_id())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 3 and mine not in seen


def test_a_connection_the_server_closed_is_replaced_and_the_command_answered():
    before = _connection_id()
    cache.set("kept", "yes", timeout=10)
    killer = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    assert killer.client_kill_filter(_id=before) == 1
    assert cache.get("kept") == "yes"  # sent on the dead socket, failed, sent again on a new one
    assert _connection_id() != before


def _child_connection_id(queue):
    queue.put(_connection_id())


def test_a_forked_child_opens_its_own_connection():
    parent = _connection_id()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_connection_id, args=(queue,))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0
    assert queue.get(timeout=5) != parent
    assert _connection_id() == parent  # the parent's socket was not used by the child


def test_a_redis_that_is_away_is_reported_to_the_caller():
    away = ReusingRedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 1}})
    with pytest.raises(redis.ConnectionError):
        away.add("mark", 1, timeout=10)
    with pytest.raises(redis.ConnectionError):
        away.get("mark")
