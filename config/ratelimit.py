"""THE rate limiter of the platform: fixed windows counted in the shared cache (Redis in production and
tests), so every gunicorn worker counts the same window.

The portal (`payers.views`: per visitor and page) and the open APIs (`api.throttling`: per partner
or biller) both count here. Staff logins are limited by allauth's own limiter, which is left alone.
"""

import functools
import time
from dataclasses import dataclass

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

# One command and one round trip on Redis: count the hit and, on the window's first hit, set its expiry.
# The lookup page is the portal's busiest page and asks this on every request (docs/benchmarks.md).
_COUNT_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


# A one-time token (a signed API request's nonce) spent and, only when it was fresh and counting is asked
# (ARGV[3] = "1"), the hit counted; and one more key read, all in one round trip: the open APIs read the
# version of what each process caches (config.local_cache) here, not in a GET of its own.
# Returns {count (-1: spent before, 0: not counted), the key's value or false}.
_SPEND_COUNT_AND_READ = """
local value = redis.call('GET', KEYS[3])
if not redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[1]) then return {-1, value} end
if ARGV[3] ~= '1' then return {0, value} end
local count = redis.call('INCR', KEYS[2])
if count == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return {count, value}
"""


@functools.lru_cache(maxsize=16)
def _spend_count_and_read_script(cache: RedisCache):
    return cache._cache.get_client(write=True).register_script(_SPEND_COUNT_AND_READ)


@functools.lru_cache(maxsize=16)
def _count_hit_script(cache: RedisCache):
    """The counting script, bound to the cache's Redis client, which sends it on its thread's own connection
    (config/redis_cache.py): making a client, or borrowing a connection from the pool, costs more than the
    round trip."""
    return cache._cache.get_client(write=True).register_script(_COUNT_HIT)


@dataclass(frozen=True)
class Hit:
    allowed: bool
    count: int
    retry_after: float  # seconds until the current window ends


def hit(scope: str, key: str, *, limit: int, window: int) -> Hit:
    """Count one hit of `key` in `scope`; not allowed once more than `limit` hits fell in the current
    `window` seconds."""
    now = time.time()
    number = int(now // window)
    bucket = f"rl:{scope}:{key}:{number}"
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        key = cache.make_key(bucket)  # not validated: the check is for memcached's keys, ~25 k instructions
        count = _count_hit_script(cache)(keys=[key], args=[window + 1])
    else:
        cache.add(bucket, 0, timeout=window + 1)
        try:
            count = cache.incr(bucket)
        except ValueError:  # expired between add and incr
            cache.add(bucket, 1, timeout=window + 1)
            count = 1
    return Hit(allowed=count <= limit, count=count, retry_after=(number + 1) * window - now)


@dataclass(frozen=True)
class Spent:
    fresh: bool  # the token was not spent before
    hit: Hit | None  # the hit counted with it (None: spent before, or not counted)
    value: object  # what the cache held under the key read, as `cache.get` returns it (None: nothing)


def spend_hit_and_read(
    token: str, token_timeout: int, scope: str, key: str, *, limit: int, window: int, read: str
) -> Spent:
    """Spend the one-time `token` (kept `token_timeout` seconds) and, when it was fresh and `limit` is set,
    count one hit of `key` in `scope` as `hit` does; and read the cache key `read`: one round trip on
    Redis."""
    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        fresh = cache.add(token, 1, timeout=token_timeout)
        hit_ = hit(scope, key, limit=limit, window=window) if fresh and limit else None
        return Spent(fresh=fresh, hit=hit_, value=cache.get(read))
    now = time.time()
    number = int(now // window)
    script = _spend_count_and_read_script(cache)
    # Not validated: the check is for memcached's keys (~25 k instructions each), and these are ours.
    keys = [cache.make_key(token), cache.make_key(f"rl:{scope}:{key}:{number}"), cache.make_key(read)]
    args = [token_timeout, window + 1, "1" if limit else "0"]
    count, raw = script(keys=keys, args=args)
    value = None if raw is None else cache._cache._serializer.loads(raw)
    if count <= 0:
        return Spent(fresh=count == 0, hit=None, value=value)
    hit_ = Hit(allowed=count <= limit, count=count, retry_after=(number + 1) * window - now)
    return Spent(fresh=True, hit=hit_, value=value)


def allow(scope: str, key: str, *, limit: int, window: int) -> bool:
    """Count one hit; False once `limit` hits were counted in the current `window` seconds."""
    return hit(scope, key, limit=limit, window=window).allowed
