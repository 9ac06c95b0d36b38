"""Per-caller rate limits of the open APIs, counted by the platform's one limiter (`config.ratelimit`)
in the shared cache, so every gunicorn worker counts the same minute."""

from rest_framework.throttling import BaseThrottle

from api.authentication import RATE_WINDOW_SECONDS as WINDOW_SECONDS
from config import ratelimit


class CallerRateThrottle(BaseThrottle):
    """A fixed one-minute window per partner or biller (all of its keys together, so a second key
    during a rotation's overlap does not double the limit)."""

    def allow_request(self, request, view):
        principal = request.user
        limit = getattr(principal, "rate_limit", None)
        if not limit:
            return True
        # Counted with the nonce when the request was authenticated (api.authentication): one round trip.
        hit = getattr(principal, "rate_hit", None) or ratelimit.hit(
            "api", principal.scope, limit=limit, window=WINDOW_SECONDS
        )
        self.limit = limit
        self._wait = hit.retry_after
        return hit.allowed

    def wait(self):
        return max(1, int(self._wait + 0.999))
