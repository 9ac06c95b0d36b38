"""Errors of the open APIs: a stable machine code and a message in the caller's language.

`ApiError` is a `billing.exceptions.BillingError`, so payment refusals raised by the posting service and
the APIs' own refusals reach the caller in one shape (see `api.errors`).
"""

from django.utils.translation import gettext_lazy as _

from billing.exceptions import BillingError

API_MESSAGES = {
    "signature_missing": _(
        "The request is not signed: send the headers %(headers)s (see the partner API guide)."
    ),
    "credential_unknown": _("There is no API key “%(key_id)s”."),
    "credential_expired": _("The API key “%(key_id)s” has expired or was revoked: use its replacement."),
    "timestamp_invalid": _("The timestamp must be whole seconds since 1970-01-01 UTC."),
    "timestamp_stale": _(
        "The request's timestamp is %(skew)s seconds away from the server's clock; at most %(window)s are "
        "accepted. Check the clock and sign again."
    ),
    "nonce_invalid": _("The nonce must be 16 to 64 letters, digits, dashes or underscores."),
    "nonce_replayed": _("This nonce was already used: a replayed request is refused. Sign with a new nonce."),
    "nonce_store_unavailable": _(
        "The request cannot be checked for replay right now (the nonce store is unreachable), so it is "
        "refused and nothing was done. Retry in a few seconds with a new nonce and the same Idempotency-Key."
    ),
    "signature_invalid": _("The signature does not match the request. Check the secret and the signed text."),
    "ip_not_allowed": _("Requests from %(ip)s are not allowed for this API key."),
    "partner_suspended": _("The partner %(partner)s is suspended: %(reason)s"),
    "partner_closed": _("The partner %(partner)s is closed."),
    "biller_api_disabled": _("The API access of %(biller)s is switched off."),
    "wrong_api": _("This API key belongs to a %(kind)s: it cannot call this API."),
    "rate_limited": _("Too many requests: at most %(limit)s a minute. Try again in %(retry_after)s seconds."),
    "idempotency_key_required": _("Send an Idempotency-Key header: one new key for each new request."),
    "idempotency_key_invalid": _("The Idempotency-Key must be 1 to 100 printable characters without spaces."),
    "idempotency_key_reused": _(
        "The Idempotency-Key “%(key)s” was already used with a different request. Use a new key for a new "
        "request, or resend the original request unchanged."
    ),
    "biller_not_allowed": _("This partner may not take payments for %(biller)s."),
    "not_an_agent_app": _(
        "The partner %(partner)s does not run an agents' app: it cannot take agent payments."
    ),
    "payment_unknown": _("There is no payment %(receipt_no)s of yours."),
    "reversal_window_closed": _(
        "Payment %(receipt_no)s was taken on %(business_date)s: a partner can reverse a payment only on "
        "the same business day (today is %(today)s)."
    ),
    "statement_day_invalid": _("There is no statement for %(day)s yet: the day has not begun."),
    "validation_failed": _("The request is not valid: %(fields)s."),
    "parse_error": _("The request body is not valid JSON."),
    "body_too_large": _("The request body is larger than %(limit)s bytes: send fewer rows in one request."),
    "not_found": _("Not found."),
    "mandate_unknown": _("There is no auto-pay mandate %(mandate_id)s of yours."),
    "mandate_debit_unknown": _("The auto-pay mandate %(mandate_id)s has no debit %(debit_id)s."),
    "mandate_nothing_to_change": _("Send at least one of cap_per_bill, valid_until and notice_days."),
    "method_not_allowed": _("The method %(method)s is not allowed here."),
    "not_acceptable": _("This endpoint cannot answer in the requested format."),
    "unsupported_media_type": _("Send the body as application/json."),
    "cursor_invalid": _("The cursor “%(cursor)s” is not one this API gave out."),
    "batch_too_large": _("Send at most %(limit)s bills in one batch (this one had %(count)s)."),
    "payment_batch_too_large": _(
        "Send at most %(limit)s payments in one batch (this one had %(count)s): nothing was posted."
    ),
    "batch_live_biller": _(
        "%(biller)s checks every payment with its own system before it is posted, so its payments are not "
        "taken in a batch: send this one alone (POST payments)."
    ),
    "bill_import_failed": _("The batch was refused: %(count)s of its rows have errors, nothing was stored."),
    "bill_not_yours": _("%(biller)s has no bill %(account_no)s for %(period)s."),
    "instalment_amount_invalid": _(
        "Instalment %(number)s: “%(value)s” is not an amount of money: write yuan with at most two decimals."
    ),
}


class ApiError(BillingError):
    """A refusal of the open APIs (authentication, limits, idempotency, scoping)."""

    messages = API_MESSAGES


CHECKOUT_MESSAGES = {
    "link_incomplete": _(
        "This payment link is incomplete (%(fields)s missing): ask the service for a new link."
    ),
    "link_invalid": _("This payment link has a bad value in “%(field)s”: ask the service for a new link."),
    "link_signature_invalid": _(
        "This payment link was not signed by the service that sent you, or was changed after signing. "
        "Nothing was paid: go back and start again from the service."
    ),
    "link_expired": _(
        "This payment link has expired (it is valid for %(minutes)s minutes). Nothing was paid: go back "
        "and start again from the service."
    ),
    "link_used": _(
        "This payment link was already opened once and cannot be used again. Nothing was paid: go back "
        "and start again from the service."
    ),
    "partner_unavailable": _("The service that sent you cannot take payments here at the moment."),
    "return_url_not_registered": _(
        "This payment link sends you back to an address the service has not registered with us, so it "
        "is refused."
    ),
    "biller_not_allowed": _("The service that sent you may not take payments for %(biller)s."),
    "amount_mismatch": _(
        "The link asks for ¥%(asked)s, but the amount due today is ¥%(due)s. Nothing was paid: go back "
        "and start again from the service."
    ),
    "bill_paid": _("There is nothing left to pay on this bill: it is already paid."),
    "checkout_finished": _("This payment is finished: it cannot be paid again."),
}


class CheckoutRefused(BillingError):
    """A hosted checkout link or payment refused; nothing was written."""

    messages = CHECKOUT_MESSAGES
