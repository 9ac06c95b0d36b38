"""Per-caller rate limits of the open APIs, counted by the platform's one limiter (`config.ratelimit`)
in the shared cache, so every gunicorn worker counts the same minute."""

from rest_framework.throttling import BaseThrottle

from config import ratelimit

WINDOW_SECONDS = 60


class CallerRateThrottle(BaseThrottle):
    """A fixed one-minute window per partner or biller (all of its keys together, so a second key
    during a rotation's overlap does not double the limit)."""

    def allow_request(self, request, view):
        principal = request.user
        limit = getattr(principal, "rate_limit", None)
        if not limit:
            return True
        hit = ratelimit.hit("api", principal.scope, limit=limit, window=WINDOW_SECONDS)
        self.limit = limit
        self._wait = hit.retry_after
        return hit.allowed

    def wait(self):
        return max(1, int(self._wait + 0.999))
