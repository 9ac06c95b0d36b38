"""Refusals of disputes: a stable code and a message in the reader's language."""

from django.utils.translation import gettext_lazy as _

from billing.exceptions import BillingError, TransitionNotAllowed

DISPUTE_MESSAGES = {
    "dispute_reason_unknown": _("“%(reason)s” is not a dispute reason code: use one of %(codes)s."),
    "dispute_payment_unknown": _("You have no payment with the receipt number %(receipt_no)s."),
    "dispute_payment_required": _("Reason %(reason)s is about a payment: give its receipt number."),
    "dispute_debit_details_required": _(
        "Reason %(reason)s needs the biller code, the account number, the amount and your reference of "
        "the debit."
    ),
    "dispute_biller_required": _("Name the biller the dispute is about."),
    "dispute_contact_required": _(
        "Give an e-mail address or a phone number so that we can tell you the outcome."
    ),
    "dispute_unknown": _("There is no dispute %(ref)s of yours."),
    "dispute_not_biller_answer": _("Dispute %(ref)s is answered by %(answerer)s, not by the biller."),
    "dispute_answer_required": _("Write the answer the citizen will be told."),
    "dispute_closed": _("Dispute %(ref)s is already %(status)s."),
    "dispute_key_reused": _(
        "The idempotency key “%(key)s” was already used for dispute %(ref)s about something else."
    ),
    "dispute_no_permission": _("Only counter staff, reconciliation officers and administrators may do this."),
    "dispute_debit_not_at_counter": _(
        "Reason %(reason)s is for money taken by a bank or partner: cash is counted at the till, so "
        "raise it on the payment's receipt number instead."
    ),
    "dispute_refund_ref_required": _(
        "Dispute %(ref)s waits for your refund to the payer: close it with your refund reference "
        "(refund_ref)."
    ),
    "transition_not_allowed": _("%(object)s cannot go from “%(current)s” to “%(target)s”."),
}


class DisputeError(BillingError):
    messages = DISPUTE_MESSAGES


class DisputeTransitionNotAllowed(DisputeError, TransitionNotAllowed):
    pass
