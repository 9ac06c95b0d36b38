"""The client's address, for every rate limit, login limit, audit row and the API allow-list.

One function so that all of them agree on who is asking; how a reverse proxy's forwarded headers are trusted
is decided here and nowhere else.
"""


def client_ip(request) -> str:
    """The address of the party that opened the connection (REMOTE_ADDR)."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"
