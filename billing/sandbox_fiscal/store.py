"""The sandbox fiscal issuer's own "system": what a province's non-tax e-receipt platform (财政电子票据
管理系统) would hold. What it issued is kept in `SandboxFiscalDocument` rows (numbers must never repeat);
its modes and call counts in the cache (disposable).

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
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from billing.fiscal_models import SandboxFiscalDocument

DOWN, BAD_SIGNATURE, MALFORMED = "down", "bad_signature", "malformed"
MODES = (DOWN, BAD_SIGNATURE, MALFORMED)
_TTL = 30 * 24 * 3600
REGION = "33"  # the province's division code
KIND = "01"  # 非税收入一般缴款书
RED_KIND = "02"  # the red-letter receipts' own series
ATTEMPTS = 5


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


def check_code(invoice_code: str, invoice_no: str) -> str:
    digest = hashlib.sha256(f"sandbox-fiscal:{invoice_code}:{invoice_no}".encode()).digest()
    return base64.b32encode(digest).decode()[:6]


def _answer(doc: SandboxFiscalDocument) -> dict:
    pdf = bytes(doc.pdf)
    return {
        "business_no": doc.business_no,
        "invoice_code": doc.invoice_code,
        "invoice_no": doc.invoice_no,
        "check_code": doc.check_code,
        "issued_at": timezone.localtime(doc.issued_at).isoformat(),
        "pdf_base64": base64.b64encode(pdf).decode(),
        "pdf_sha256": hashlib.sha256(pdf).hexdigest(),
    }


def _red_answer(doc: SandboxFiscalDocument) -> dict:
    return {
        "business_no": doc.business_no,
        "invoice_code": doc.invoice_code,
        "invoice_no": doc.invoice_no,
        "red_invoice_code": doc.red_invoice_code,
        "red_invoice_no": doc.red_invoice_no,
        "reason": doc.reversal_reason,
        "reversed_at": timezone.localtime(doc.reversed_at).isoformat(),
    }


def _document(agency_code: str, business_no: str) -> SandboxFiscalDocument | None:
    return SandboxFiscalDocument.objects.filter(agency_code=agency_code, business_no=business_no).first()


def issued(agency_code: str, business_no: str) -> dict | None:
    doc = _document(agency_code, business_no)
    return _answer(doc) if doc is not None else None


def issue(agency_code: str, business_no: str, request: dict, make_pdf) -> dict:
    """The e-receipt of this business number: issued now, or the one issued before. Two issues side by
    side: the unique constraints keep one per business number and one per number."""
    for _attempt in range(ATTEMPTS):
        found = issued(agency_code, business_no)
        if found is not None:
            return found
        now = timezone.localtime()
        invoice_code = f"{REGION}{KIND}{now:%y}01"
        highest = SandboxFiscalDocument.objects.filter(
            agency_code=agency_code, invoice_code=invoice_code
        ).aggregate(highest=Max("invoice_no"))["highest"]
        invoice_no = f"{int(highest or 0) + 1:010d}"
        code = check_code(invoice_code, invoice_no)
        receipt = {
            "business_no": business_no,
            "invoice_code": invoice_code,
            "invoice_no": invoice_no,
            "check_code": code,
            "issued_at": now.isoformat(),
        }
        pdf = make_pdf({**request, **receipt})
        try:
            with transaction.atomic():
                doc = SandboxFiscalDocument.objects.create(
                    agency_code=agency_code,
                    business_no=business_no,
                    invoice_code=invoice_code,
                    invoice_no=invoice_no,
                    check_code=code,
                    issued_at=now,
                    pdf=pdf,
                )
        except IntegrityError:
            continue  # issued side by side, or the number was taken meanwhile: look again
        return _answer(doc)
    raise RuntimeError("sandbox fiscal issuer: no number after several tries")


def reverse(agency_code: str, business_no: str, reason: str) -> dict | None:
    """The red-letter reversal of the business number's e-receipt: made now, or the one made before."""
    for _attempt in range(ATTEMPTS):
        doc = _document(agency_code, business_no)
        if doc is None:
            return None
        if doc.red_invoice_no:
            return _red_answer(doc)
        red_code = f"{REGION}{RED_KIND}{timezone.localtime():%y}01"
        highest = SandboxFiscalDocument.objects.filter(
            agency_code=agency_code, red_invoice_code=red_code
        ).aggregate(highest=Max("red_invoice_no"))["highest"]
        try:
            with transaction.atomic():
                SandboxFiscalDocument.objects.filter(pk=doc.pk, red_invoice_no="").update(
                    red_invoice_code=red_code,
                    red_invoice_no=f"{int(highest or 0) + 1:010d}",
                    reversal_reason=reason,
                    reversed_at=timezone.now(),
                )
        except IntegrityError:
            continue  # the red number was taken meanwhile
        break
    doc = _document(agency_code, business_no)
    return _red_answer(doc) if doc is not None and doc.red_invoice_no else None
