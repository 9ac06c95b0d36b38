"""Rate limits of the portal, per visitor: the platform's one limiter (`config.ratelimit`)."""

from config.ratelimit import allow

__all__ = ["allow", "client_ip"]


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"
