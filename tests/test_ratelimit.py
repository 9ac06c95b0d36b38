"""One rate limiter (config/ratelimit.py): the portal's per-visitor limits and the API's per-caller throttle
count in the same Redis windows, through the same one-command Lua script."""

from types import SimpleNamespace

import pytest
from django.core.cache import caches
from redis import exceptions as redis_errors

from api.throttling import WINDOW_SECONDS, CallerRateThrottle
from config import ratelimit, redis_cache
from payers import views as portal_views


@pytest.fixture
def redis():
    client = caches["default"]._cache.get_client()
    for key in client.keys("*rl:*:rules-test*"):
        client.delete(key)
    return client


def test_the_api_throttle_counts_in_the_platforms_limiter(redis):
    request = SimpleNamespace(user=SimpleNamespace(rate_limit=2, scope="partner:rules-test"))
    throttle = CallerRateThrottle()
    answers = [throttle.allow_request(request, view=None) for _call in range(3)]
    assert answers == [True, True, False]
    assert 1 <= throttle.wait() <= WINDOW_SECONDS
    [key] = redis.keys("*rl:api:partner:rules-test:*")
    assert int(redis.get(key)) == 3
    assert 0 < redis.ttl(key) <= WINDOW_SECONDS + 1


def test_the_portal_limit_is_the_same_mechanism(redis):
    assert portal_views.ratelimit is ratelimit  # the portal's pages count through config.ratelimit
    assert [ratelimit.allow("lookup", "rules-test", limit=1, window=30) for _hit in range(2)] == [True, False]
    [key] = redis.keys("*rl:lookup:rules-test:*")
    assert 0 < redis.ttl(key) <= 31


def test_a_spent_token_counts_no_hit(redis):
    for key in redis.keys("*once:rules-test*"):
        redis.delete(key)
    spend = ratelimit.spend_hit_and_read
    first = spend("once:rules-test", 30, "api", "rules-test", limit=1, window=60, read="rules-test:none")
    assert first.fresh and first.hit.allowed and first.hit.count == 1
    again = spend("once:rules-test", 30, "api", "rules-test", limit=1, window=60, read="rules-test:none")
    assert not again.fresh and again.hit is None
    second = spend("once:rules-test-2", 30, "api", "rules-test", limit=1, window=60, read="rules-test:none")
    assert second.hit.count == 2 and not second.hit.allowed
    [token] = redis.keys("*once:rules-test")
    assert 0 < redis.ttl(token) <= 30


def test_a_token_spent_with_a_read_returns_what_the_cache_holds(redis):
    for key in redis.keys("*once:read-test*"):
        redis.delete(key)
    caches["default"].set("rules-test:read", "v-1", timeout=30)
    spend = ratelimit.spend_hit_and_read  # one round trip: the token, the hit and the read
    first = spend("once:read-test", 30, "api", "rules-test", limit=1, window=60, read="rules-test:read")
    assert (first.fresh, first.hit.count, first.hit.allowed, first.value) == (True, 1, True, "v-1")
    again = spend("once:read-test", 30, "api", "rules-test", limit=1, window=60, read="rules-test:read")
    assert (again.fresh, again.hit, again.value) == (False, None, "v-1")
    unlimited = spend(
        "once:read-test-2", 30, "api", "rules-test", limit=0, window=60, read="rules-test:nothing"
    )
    assert (unlimited.fresh, unlimited.hit, unlimited.value) == (True, None, None)
    [bucket] = redis.keys("*rl:api:rules-test:*")
    assert int(redis.get(bucket)) == 1  # neither the replay nor the unlimited call counted


def _own():
    """The thread's own connection of the cache's client (config/redis_cache.py), which the limiter's
    scripts are sent on like every other single cache command."""
    return caches["default"]._cache.get_client(write=True)._own


def _refused_once(connection, monkeypatch):
    """The connection's next send fails as a reset socket would; the one after goes through."""
    send = connection.send_command

    def refused(*args, **kwargs):
        monkeypatch.setattr(connection, "send_command", send)
        raise redis_errors.ConnectionError("Connection reset by peer")

    monkeypatch.setattr(connection, "send_command", refused)


def test_hits_are_counted_on_the_threads_own_connection_not_the_pools(redis):
    pool = redis.connection_pool
    lent = len(pool._available_connections) + len(pool._in_use_connections)
    assert [ratelimit.hit("lookup", "rules-test", limit=5, window=30).count for _hit in range(3)] == [1, 2, 3]
    connection = _own().connection
    assert connection is not None
    ratelimit.hit("lookup", "rules-test", limit=5, window=30)
    assert _own().connection is connection  # kept from one hit to the next
    assert len(pool._available_connections) + len(pool._in_use_connections) == lent  # none borrowed


def test_a_lost_connection_is_replaced_and_the_hit_still_counted(redis, monkeypatch):
    ratelimit.hit("lookup", "rules-test", limit=5, window=30)
    _refused_once(_own().connection, monkeypatch)
    assert ratelimit.hit("lookup", "rules-test", limit=5, window=30).count == 2
    assert ratelimit.hit("lookup", "rules-test", limit=5, window=30).count == 3


def test_a_redis_that_forgot_the_script_gets_it_again(redis, monkeypatch):
    """As after a restart of Redis: the own connection's EVALSHA is refused (NOSCRIPT), redis-py's full path
    loads the script and counts the hit."""
    script = ratelimit._count_hit_script(caches["default"])
    monkeypatch.setattr(script, "sha", "0" * 40)
    assert ratelimit.hit("lookup", "rules-test", limit=5, window=30).count == 1
    assert script.sha != "0" * 40
    assert ratelimit.hit("lookup", "rules-test", limit=5, window=30).count == 2


def test_a_forked_process_makes_its_own_connection(redis, monkeypatch):
    ratelimit.hit("lookup", "rules-test", limit=5, window=30)
    parents = _own().connection
    monkeypatch.setattr(redis_cache.os, "getpid", lambda: -1)
    assert ratelimit.hit("lookup", "rules-test", limit=5, window=30).count == 2
    assert _own().connection is not parents


def test_a_token_is_spent_on_the_limiters_own_connection(redis):
    for key in redis.keys("*once:own-test*"):
        redis.delete(key)
    spend = ratelimit.spend_hit_and_read
    spend("once:own-test-1", 30, "api", "rules-test", limit=5, window=60, read="rules-test:none")
    connection = _own().connection
    assert connection is not None
    second = spend("once:own-test-2", 30, "api", "rules-test", limit=5, window=60, read="rules-test:none")
    assert (second.fresh, second.hit.count) == (True, 2)
    assert _own().connection is connection  # the same connection as the counting script's


def test_a_token_is_spent_once_when_redis_forgot_the_script(redis, monkeypatch):
    """NOSCRIPT on the own connection (nothing ran): redis-py's full path loads the script and spends the
    token; spent again, it is a replay."""
    for key in redis.keys("*once:noscript-test*"):
        redis.delete(key)
    script = ratelimit._spend_count_and_read_script(caches["default"])
    monkeypatch.setattr(script, "sha", "0" * 40)
    spend = ratelimit.spend_hit_and_read
    first = spend("once:noscript-test", 30, "api", "rules-test", limit=5, window=60, read="rules-test:none")
    assert (first.fresh, first.hit.count) == (True, 1)
    assert script.sha != "0" * 40
    again = spend("once:noscript-test", 30, "api", "rules-test", limit=5, window=60, read="rules-test:none")
    assert (again.fresh, again.hit) == (False, None)


def test_a_lost_connection_still_spends_the_token_once(redis, monkeypatch):
    for key in redis.keys("*once:lost-test*"):
        redis.delete(key)
    spend = ratelimit.spend_hit_and_read
    spend("once:lost-test-0", 30, "api", "rules-test", limit=5, window=60, read="rules-test:none")
    _refused_once(_own().connection, monkeypatch)
    first = spend("once:lost-test", 30, "api", "rules-test", limit=5, window=60, read="rules-test:none")
    assert (first.fresh, first.hit.count) == (True, 2)
    again = spend("once:lost-test", 30, "api", "rules-test", limit=5, window=60, read="rules-test:none")
    assert not again.fresh
