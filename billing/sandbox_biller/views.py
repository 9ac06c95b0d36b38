"""The sandbox biller's two endpoints (docs/biller-protocol.md), served under /sandbox-biller/<code>/ when
the sandboxes are on (SANDBOX_BANK_ENABLED). A real biller runs them on its own system.

It checks the platform's signature with the secret of the biller's link (it shares the platform's database
only because it is a sandbox), and signs its answers as the protocol says.
"""

import json
import time

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing import presentment, signing
from billing.presentment_models import BillerLink
from billing.sandbox_biller import store

MAX_BODY = 16 * 1024
MAX_SLEEP = 11.0


def _answer(
    request, link: BillerLink | None, body: dict | str, status: int = 200, *, key: str = ""
) -> HttpResponse:
    raw = (body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)).encode()
    response = HttpResponse(raw, status=status, content_type="application/json; charset=utf-8")
    secret = key or (link.secret if link else "")
    if secret:
        headers = presentment.sign_answer(
            secret,
            path=request.path,
            query=request.META.get("QUERY_STRING", ""),
            nonce=request.headers.get(signing.NONCE_HEADER, ""),
            body=raw,
        )
        for name, value in headers.items():
            response[name] = value
    return response


def _error(request, link, code: str, status: int) -> HttpResponse:
    return _answer(request, link, {"error": {"code": code}}, status)


def signed_by(request, *, key_id: str, secret: str, body: bytes) -> bool:
    """Whether the request carries the platform's signature with this key (billing/signing.py), fresh."""
    timestamp = request.headers.get(signing.TIMESTAMP_HEADER, "")
    return (
        request.headers.get(signing.KEY_HEADER, "") == key_id
        and bool(signing.TIMESTAMP_RE.fullmatch(timestamp))
        and abs(time.time() - int(timestamp)) <= 300
        and bool(signing.NONCE_RE.fullmatch(request.headers.get(signing.NONCE_HEADER, "")))
        and signing.signature_matches(
            secret,
            request.headers.get(signing.SIGNATURE_HEADER, ""),
            method=request.method,
            path=request.path,
            query=request.META.get("QUERY_STRING", ""),
            timestamp=timestamp,
            nonce=request.headers.get(signing.NONCE_HEADER, ""),
            body=body,
        )
    )


def _verified(request, biller_code: str) -> tuple[BillerLink | None, dict | HttpResponse]:
    link = BillerLink.objects.select_related("biller").filter(biller__code=biller_code).first()
    if link is None or not link.secret:
        return None, _error(request, None, "biller_unknown", 404)
    if store.is_down(biller_code):
        return link, HttpResponse("sandbox biller: down for maintenance", status=503)
    body = request.body[: MAX_BODY + 1]
    if len(body) > MAX_BODY or not signed_by(request, key_id=link.key_id, secret=link.secret, body=body):
        return link, _error(request, link, "signature_invalid", 401)
    try:
        data = json.loads(body)
    except ValueError:
        return link, _error(request, link, "body_invalid", 400)
    if not isinstance(data, dict) or not isinstance(data.get("account_no"), str):
        return link, _error(request, link, "body_invalid", 400)
    return link, data


def _misbehave(request, link: BillerLink, account_no: str, answer: dict) -> HttpResponse | None:
    """The bad answers some account numbers play (billing/sandbox_biller/store.py)."""
    behaviour = store.behaviour(account_no)
    if behaviour == store.SLOW:
        time.sleep(min(float(link.timeout_seconds) + 1.0, MAX_SLEEP))
    elif behaviour == store.BAD_SIGNATURE:
        return _answer(request, link, answer, key="not-the-shared-secret")
    elif behaviour == store.MALFORMED:
        return _answer(request, link, {"account_no": account_no, "bills": "soon", "accepted": "perhaps"})
    elif behaviour == store.DOWN:
        return HttpResponse("sandbox biller: down", status=503)
    return None


@csrf_exempt
@require_POST
def bills(request, biller_code: str):
    link, data = _verified(request, biller_code)
    if isinstance(data, HttpResponse):
        return data
    account = store.account(biller_code, data["account_no"])
    if account is None:
        return _error(request, link, "account_unknown", 404)
    return _misbehave(request, link, data["account_no"], account) or _answer(request, link, account)


@csrf_exempt
@require_POST
def validate(request, biller_code: str):
    link, data = _verified(request, biller_code)
    if isinstance(data, HttpResponse):
        return data
    key, bills_asked = data.get("payment_key"), data.get("bills")
    if not isinstance(key, str) or not isinstance(bills_asked, list):
        return _error(request, link, "body_invalid", 400)
    answer = store.validation(key, data["account_no"], [b for b in bills_asked if isinstance(b, dict)])
    return _misbehave(request, link, data["account_no"], answer) or _answer(request, link, answer)
