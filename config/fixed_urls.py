"""URLs that are the same on every request, reversed once per process: `reverse` costs more than the rest of
a small page's link (the bill-lookup page, docs/benchmarks.md). Only for constant arguments (a placeholder to
replace, like the lookup page's "TOKEN"), never for something a visitor sent."""

from django.urls import get_script_prefix, get_urlconf, reverse

_urls: dict[tuple, str] = {}


def fixed_reverse(name: str, *args: str) -> str:
    key = (name, args, get_script_prefix(), get_urlconf())
    url = _urls.get(key)
    if url is None:
        url = _urls[key] = reverse(name, args=args or None)
    return url


def clear() -> None:
    """Forget the reversed URLs (tests that change a URLconf)."""
    _urls.clear()
