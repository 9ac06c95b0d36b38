"""The client's address, for every rate limit, login limit, audit row and the API allow-list.

One function so that all of them agree on who is asking; how a reverse proxy's forwarded headers are trusted
is decided here and nowhere else.

Without `TRUSTED_PROXIES` the client is the peer that opened the connection (REMOTE_ADDR) and
X-Forwarded-For is ignored: anyone can write that header. With it (a comma list of addresses or networks,
e.g. `127.0.0.1,10.0.0.0/8`), a request whose peer is one of those proxies is traced back through
X-Forwarded-For from the right: each proxy appends the address it received the request from, so the
right-most hop that is *not* a trusted proxy is the client. Everything to its left was written by that client
and is never believed. A hop that is not an IP address stops the walk: the client is the last trusted proxy
that reported it, so a garbage header cannot make two callers share, or one caller dodge, a bucket.

`TRUSTED_PROXY_COUNT` (used only when `TRUSTED_PROXIES` is empty) says instead how many proxies every request
passes: the client is that many hops from the right (the peer counts as the first). Use it only when the
application server cannot be reached except through those proxies (gunicorn on a local socket).
"""

import functools
import ipaddress

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

UNKNOWN = "unknown"
MAX_HOPS = 20  # a longer chain is not a deployment of ours: walk this many from the right, no more


@functools.cache
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(f"TRUSTED_PROXIES: {entry!r} is not an address or network") from exc
    return tuple(networks)


def trusted_networks() -> tuple[Network, ...]:
    return _networks(tuple(settings.TRUSTED_PROXIES))


def _parse(value: str) -> Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [2001:db8::1]:443
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # 203.0.113.7:51234
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_ip(request) -> str:
    """The address of the client: REMOTE_ADDR, or, when that peer is a trusted proxy, the right-most
    X-Forwarded-For hop that is not one ("unknown" when there is no usable address at all)."""
    peer = _parse(request.META.get("REMOTE_ADDR", "") or "")
    if peer is None:
        return UNKNOWN
    networks = trusted_networks()
    count = settings.TRUSTED_PROXY_COUNT
    if networks:
        if not _trusted(peer, networks):
            return str(peer)
    elif count <= 0:
        return str(peer)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop for hop in forwarded.split(",") if hop.strip()][-MAX_HOPS:]
    client = peer
    for position, hop in enumerate(reversed(hops)):
        if not networks and position >= count:
            break
        address = _parse(hop)
        if address is None:
            break
        client = address
        if networks and not _trusted(address, networks):
            break
    return str(client)
