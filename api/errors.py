"""Every error of the open APIs in one shape::

    {"error": {"code": "signature_invalid", "message": "签名与请求不符……", "details": {...}}}

`code` is stable and meant for machines; `message` is in the language of Accept-Language (Simplified
Chinese by default, English on request). Payment refusals keep the posting service's own codes
(`billing.exceptions`).
"""

import math

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions as drf
from rest_framework.response import Response

from api.exceptions import ApiError
from billing.exceptions import BillingError, IdempotencyConflict

STATUS_BY_CODE = {
    "signature_missing": 401,
    "credential_unknown": 401,
    "credential_expired": 401,
    "timestamp_invalid": 401,
    "timestamp_stale": 401,
    "nonce_invalid": 401,
    "nonce_replayed": 401,
    "nonce_store_unavailable": 503,
    "signature_invalid": 401,
    "ip_not_allowed": 403,
    "partner_suspended": 403,
    "partner_closed": 403,
    "biller_api_disabled": 403,
    "wrong_api": 403,
    "biller_not_allowed": 403,
    # Agents with a float (issue 18, item 4): nothing was posted.
    "not_an_agent_app": 403,
    "agent_unknown": 404,
    "agent_terminal_unknown": 404,
    "agent_not_active": 403,
    "agent_biller_not_assigned": 403,
    "agent_outside_area": 403,
    "float_exhausted": 409,
    "rate_limited": 429,
    "idempotency_key_required": 400,
    "idempotency_key_invalid": 400,
    "validation_failed": 400,
    "parse_error": 400,
    "body_too_large": 413,
    "cursor_invalid": 400,
    "batch_too_large": 400,
    "payment_batch_too_large": 400,
    "idempotency_key_reused": 409,
    "idempotency_conflict": 409,
    "payment_already_reversed": 409,
    "not_found": 404,
    # A live biller's system (billing.presentment, docs/biller-protocol.md): nothing was posted.
    "biller_timeout": 504,
    "biller_unavailable": 503,
    "biller_bad_signature": 502,
    "biller_bad_answer": 502,
    "biller_amount_changed": 409,
    "payment_unknown": 404,
    # A card top-up (billing.topups): decided the other way already.
    "topup_already_voided": 409,
    "topup_already_written": 409,
    "topup_not_held": 409,
    "biller_unknown": 404,
    "account_unknown": 404,
    "bill_unknown": 404,
    "bill_not_yours": 404,
    # Disputes (disputes.exceptions): another partner's payment or dispute reads as unknown.
    "dispute_payment_unknown": 404,
    "dispute_unknown": 404,
    "dispute_key_reused": 409,
    "dispute_closed": 409,
    "dispute_refund_ref_required": 409,
    "dispute_not_biller_answer": 403,
    # Auto-pay mandates (payers.mandates): another partner's mandate reads as unknown.
    "mandate_unknown": 404,
    "mandate_debit_unknown": 404,
    "mandate_exists": 409,
    "mandate_not_changeable": 409,
    "mandate_debit_not_skippable": 409,
    "method_not_allowed": 405,
    "not_acceptable": 406,
    "unsupported_media_type": 415,
}
DEFAULT_REFUSAL_STATUS = 422


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    body = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


def error_detail(exc: BillingError | drf.ValidationError) -> dict:
    """What an error body holds under "error" (code, message, details): one wording of a refusal or of a
    body's field errors, for a whole request's answer and for one payment of a batch's."""
    if isinstance(exc, drf.ValidationError):
        fields = _field_errors(exc.detail)
        names = ", ".join(fields) if isinstance(fields, dict) else _("the body")
        error = ApiError("validation_failed", fields=names)
        return error_body(error.code, error.message, {"fields": fields})["error"]
    details = getattr(exc, "details", None) or {
        key: str(value) for key, value in exc.params.items() if key in {"fields"}
    }
    return error_body(exc.code, exc.message, details)["error"]


def error_response(exc: BillingError, *, headers: dict | None = None) -> Response:
    status = STATUS_BY_CODE.get(exc.code, DEFAULT_REFUSAL_STATUS)
    if isinstance(exc, IdempotencyConflict):
        status = 409
    return Response({"error": error_detail(exc)}, status=status, headers=headers)


def _field_errors(detail) -> dict:
    if isinstance(detail, dict):
        return {key: _field_errors(value) for key, value in detail.items()}
    if isinstance(detail, list):
        flat = [_field_errors(item) for item in detail]
        if all(isinstance(item, str) for item in flat):
            return flat
        return flat
    return str(detail)


def api_exception_handler(exc, context):
    """DRF's exception handler for the open APIs' views."""
    if isinstance(exc, BillingError):
        return error_response(exc)
    if isinstance(exc, drf.Throttled):
        view = context.get("view")
        limit = getattr(getattr(getattr(view, "request", None), "user", None), "rate_limit", "")
        retry_after = math.ceil(exc.wait or 1)
        return error_response(
            ApiError("rate_limited", limit=limit, retry_after=retry_after),
            headers={"Retry-After": str(retry_after)},
        )
    if isinstance(exc, drf.ValidationError):
        return Response({"error": error_detail(exc)}, status=400)
    if isinstance(exc, drf.ParseError):
        return error_response(ApiError("parse_error"))
    if isinstance(exc, RequestDataTooBig):  # DATA_UPLOAD_MAX_MEMORY_SIZE (issue 12: untrusted input)
        return error_response(ApiError("body_too_large", limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE))
    if isinstance(exc, Http404 | drf.NotFound):
        return error_response(ApiError("not_found"))
    if isinstance(exc, drf.MethodNotAllowed):
        request = context.get("request")
        return error_response(ApiError("method_not_allowed", method=getattr(request, "method", "")))
    if isinstance(exc, drf.NotAcceptable):
        return error_response(ApiError("not_acceptable"))
    if isinstance(exc, drf.UnsupportedMediaType):
        return error_response(ApiError("unsupported_media_type"))
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return error_response(ApiError("signature_missing", headers="X-BillPay-*"))
    if isinstance(exc, PermissionDenied | drf.PermissionDenied):
        return error_response(ApiError("wrong_api", kind=_("different kind of client")))
    return None
