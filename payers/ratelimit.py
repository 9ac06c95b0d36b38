"""Fixed-window rate limits in the shared cache (Redis in production and tests): counts per visitor."""

import time

from django.core.cache import cache


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def allow(scope: str, key: str, *, limit: int, window: int) -> bool:
    """Count one hit; False once `limit` hits were counted in the current `window` seconds."""
    bucket = f"rl:{scope}:{key}:{int(time.time() // window)}"
    cache.add(bucket, 0, timeout=window + 1)
    try:
        count = cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.add(bucket, 1, timeout=window + 1)
        count = 1
    return count <= limit
