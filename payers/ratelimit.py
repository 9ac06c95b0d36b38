"""Fixed-window rate limits in the shared cache (Redis in production and tests): counts per visitor."""

import time

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def allow(scope: str, key: str, *, limit: int, window: int) -> bool:
    """Count one hit; False once `limit` hits were counted in the current `window` seconds."""
    bucket = f"rl:{scope}:{key}:{int(time.time() // window)}"
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        # One round trip on Redis: INCR and EXPIRE in a pipeline (the lookup page is the busiest page).
        client = cache._cache.get_client(bucket, write=True)
        full_key = cache.make_and_validate_key(bucket)
        pipe = client.pipeline(transaction=False)
        pipe.incr(full_key)
        pipe.expire(full_key, window + 1)  # the bucket is named by its window: a later expiry is harmless
        count = pipe.execute()[0]
        return count <= limit
    cache.add(bucket, 0, timeout=window + 1)
    try:
        count = cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.add(bucket, 1, timeout=window + 1)
        count = 1
    return count <= limit
