"""Rate limits of the portal, per visitor (the visitor's address is config.client_ip.client_ip, which knows
the trusted proxies), counted by the platform's one limiter (`config.ratelimit`)."""

from config.ratelimit import allow

__all__ = ["allow"]
