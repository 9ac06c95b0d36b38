"""Per-caller rate limits in the shared cache (Redis), so every gunicorn worker counts the same minute."""

import time

from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

WINDOW_SECONDS = 60


class CallerRateThrottle(BaseThrottle):
    """A fixed one-minute window per partner or biller (all of its keys together, so a second key
    during a rotation's overlap does not double the limit)."""

    def allow_request(self, request, view):
        principal = request.user
        limit = getattr(principal, "rate_limit", None)
        if not limit:
            return True
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        key = f"api:rate:{principal.scope}:{window}"
        cache.add(key, 0, timeout=WINDOW_SECONDS + 5)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=WINDOW_SECONDS + 5)
            count = 1
        self.limit = limit
        self._wait = (window + 1) * WINDOW_SECONDS - now
        return count <= limit

    def wait(self):
        return max(1, int(self._wait + 0.999))
