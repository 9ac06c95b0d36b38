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


@functools.lru_cache(maxsize=16)
def _count_hit_script(cache: RedisCache):
    """The counting script, bound to one Redis client per cache object: making a client costs more than
    the round trip. (The connection pool under it is safe to share and renews itself after a fork.)"""
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
        count = _count_hit_script(cache)(keys=[cache.make_and_validate_key(bucket)], args=[window + 1])
    else:
        cache.add(bucket, 0, timeout=window + 1)
        try:
            count = cache.incr(bucket)
        except ValueError:  # expired between add and incr
            cache.add(bucket, 1, timeout=window + 1)
            count = 1
    return Hit(allowed=count <= limit, count=count, retry_after=(number + 1) * window - now)


def allow(scope: str, key: str, *, limit: int, window: int) -> bool:
    """Count one hit; False once `limit` hits were counted in the current `window` seconds."""
    return hit(scope, key, limit=limit, window=window).allowed
