"""The sandbox fiscal issuer's three endpoints (docs/fiscal-receipts.md), served under
/sandbox-fiscal/<issuing unit code>/ when the sandboxes are on (SANDBOX_BANK_ENABLED). A real issuer is a
province's e-receipt platform, reached through its own adapter (billing.fiscal.ADAPTERS).

It checks the platform's signature with the secret of the biller's fiscal setting (it shares the platform's
database only because it is a sandbox) and signs its answers as the biller protocol does.
"""

import json

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.fiscal_models import FiscalIssuerKind, FiscalSetup
from billing.sandbox_biller.views import _answer, _error, signed_by
from billing.sandbox_fiscal import store
from billing.sandbox_fiscal.document import e_receipt_pdf

MAX_BODY = 32 * 1024


def _verified(request, agency_code: str, route: str) -> tuple[FiscalSetup | None, dict | HttpResponse]:
    setup = (
        FiscalSetup.objects.select_related("biller")
        .filter(agency_code=agency_code, issuer=FiscalIssuerKind.SANDBOX)
        .first()
    )
    if setup is None or not setup.secret:
        return None, _error(request, None, "agency_unknown", 404)
    if store.mode(agency_code) == store.DOWN:
        return setup, HttpResponse("sandbox fiscal issuer: down for maintenance", status=503)
    body = request.body[: MAX_BODY + 1]
    if len(body) > MAX_BODY or not signed_by(request, key_id=setup.key_id, secret=setup.secret, body=body):
        return setup, _error(request, setup, "signature_invalid", 401)
    try:
        data = json.loads(body)
    except ValueError:
        return setup, _error(request, setup, "body_invalid", 400)
    if (
        not isinstance(data, dict)
        or data.get("agency_code") != agency_code
        or not isinstance(data.get("business_no"), str)
        or not 1 <= len(data["business_no"]) <= 40
    ):
        return setup, _error(request, setup, "body_invalid", 400)
    store.count_call(agency_code, route, data["business_no"])
    return setup, data


def _respond(request, setup: FiscalSetup, answer: dict) -> HttpResponse:
    """The answer, or the bad one the issuing unit's mode plays."""
    mode = store.mode(setup.agency_code)
    if mode == store.BAD_SIGNATURE:
        return _answer(request, setup, answer, key="not-the-shared-secret")
    if mode == store.MALFORMED:
        return _answer(request, setup, {"business_no": answer.get("business_no"), "invoice_no": "soon"})
    return _answer(request, setup, answer)


@csrf_exempt
@require_POST
def issue(request, agency_code: str):
    setup, data = _verified(request, agency_code, "issue")
    if isinstance(data, HttpResponse):
        return data
    if not isinstance(data.get("amount"), str) or not isinstance(data.get("items"), list):
        return _error(request, setup, "body_invalid", 400)
    request_part = {
        key: data.get(key) for key in ("agency_code", "notice_no", "payer", "amount", "paid_at", "items")
    }
    answer = store.issue(agency_code, data["business_no"], request_part, e_receipt_pdf)
    return _respond(request, setup, answer)


@csrf_exempt
@require_POST
def query(request, agency_code: str):
    setup, data = _verified(request, agency_code, "query")
    if isinstance(data, HttpResponse):
        return data
    found = store.issued(agency_code, data["business_no"])
    if found is None:
        return _error(request, setup, "not_issued", 404)
    return _respond(request, setup, found)


@csrf_exempt
@require_POST
def reverse(request, agency_code: str):
    setup, data = _verified(request, agency_code, "reverse")
    if isinstance(data, HttpResponse):
        return data
    found = store.issued(agency_code, data["business_no"])
    if found is None or found["invoice_no"] != data.get("invoice_no"):
        return _error(request, setup, "not_issued", 404)
    red = store.reverse(agency_code, data["business_no"], str(data.get("reason", ""))[:100])
    return _respond(request, setup, red)
