"""The sandbox fiscal issuer's own "system": what a province's non-tax e-receipt platform (财政电子票据
管理系统) would hold, kept in the cache (the sandbox's state is disposable).

It issues once per (issuing unit, business number): asked again, it answers the e-receipt it issued. Its
numbers look like the real ones: an 8-digit code (区划 + 票据种类 + year) and a 10-digit number counting up
per unit and year, with a 6-character verification code. A whole issuing unit can be switched to play
the bad answers a real platform can give (`set_mode`): `down` (HTTP 503), `bad_signature` (signs with the
wrong key), `malformed` (a body that is not the protocol's). Calls are counted per business number, so a
test can see that a reversal was asked for once.
"""

import base64
import hashlib

from django.core.cache import cache
from django.utils import timezone

DOWN, BAD_SIGNATURE, MALFORMED = "down", "bad_signature", "malformed"
MODES = (DOWN, BAD_SIGNATURE, MALFORMED)
_TTL = 30 * 24 * 3600
REGION = "33"  # the province's division code
KIND = "01"  # 非税收入一般缴款书
RED_KIND = "02"  # the red-letter receipts' own series


def _key(*parts: str) -> str:
    return "sandbox_fiscal:" + ":".join(parts)


def set_mode(agency_code: str, mode: str | None) -> None:
    if mode:
        cache.set(_key(agency_code, "mode"), mode, _TTL)
    else:
        cache.delete(_key(agency_code, "mode"))


def mode(agency_code: str) -> str:
    return cache.get(_key(agency_code, "mode")) or ""


def count_call(agency_code: str, route: str, business_no: str) -> None:
    key = _key(agency_code, business_no, route, "calls")
    cache.add(key, 0, _TTL)
    cache.incr(key)


def calls(agency_code: str, route: str, business_no: str) -> int:
    return cache.get(_key(agency_code, business_no, route, "calls")) or 0


def _next_number(agency_code: str, series: str) -> str:
    key = _key(agency_code, series, "counter")
    cache.add(key, 0, _TTL)
    return f"{cache.incr(key):010d}"


def check_code(invoice_code: str, invoice_no: str) -> str:
    digest = hashlib.sha256(f"sandbox-fiscal:{invoice_code}:{invoice_no}".encode()).digest()
    return base64.b32encode(digest).decode()[:6]


def issued(agency_code: str, business_no: str) -> dict | None:
    return cache.get(_key(agency_code, business_no, "issued"))


def issue(agency_code: str, business_no: str, request: dict, make_pdf) -> dict:
    """The e-receipt of this business number: issued now, or the one issued before."""
    found = issued(agency_code, business_no)
    if found is not None:
        return found
    now = timezone.localtime()
    invoice_code = f"{REGION}{KIND}{now:%y}01"
    invoice_no = _next_number(agency_code, f"{invoice_code}")
    receipt = {
        "business_no": business_no,
        "invoice_code": invoice_code,
        "invoice_no": invoice_no,
        "check_code": check_code(invoice_code, invoice_no),
        "issued_at": now.isoformat(),
    }
    pdf = make_pdf({**request, **receipt})
    receipt["pdf_base64"] = base64.b64encode(pdf).decode()
    receipt["pdf_sha256"] = hashlib.sha256(pdf).hexdigest()
    if not cache.add(_key(agency_code, business_no, "issued"), receipt, _TTL):
        return issued(agency_code, business_no)  # issued side by side: the first one stands
    return receipt


def reverse(agency_code: str, business_no: str, reason: str) -> dict | None:
    """The red-letter reversal of the business number's e-receipt: made now, or the one made before."""
    receipt = issued(agency_code, business_no)
    if receipt is None:
        return None
    key = _key(agency_code, business_no, "reversed")
    found = cache.get(key)
    if found is not None:
        return found
    now = timezone.localtime()
    red_code = f"{REGION}{RED_KIND}{now:%y}01"
    red = {
        "business_no": business_no,
        "invoice_code": receipt["invoice_code"],
        "invoice_no": receipt["invoice_no"],
        "red_invoice_code": red_code,
        "red_invoice_no": _next_number(agency_code, red_code),
        "reason": reason,
        "reversed_at": now.isoformat(),
    }
    return red if cache.add(key, red, _TTL) else cache.get(key)
