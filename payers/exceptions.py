"""Refusals of the citizen portal: a stable code and a message in the payer's language."""

from django.utils.translation import gettext_lazy as _

from billing.exceptions import BillingError

PORTAL_MESSAGES = {
    "nothing_to_pay": _("Choose at least one bill to pay."),
    "bill_not_payable": _("The bill for %(period)s cannot be paid here any more: it is %(status)s."),
    "bills_of_other_account": _("The chosen bills do not all belong to the account looked up."),
    "biller_not_active": _("%(biller)s is not taking payments at the moment."),
    "wrong_payment_mode": _("%(biller)s does not take this kind of payment."),
    "account_invalid": _("“%(account_no)s” is not a valid account number for %(biller)s. %(hint)s"),
    "account_unknown": _("%(biller)s has no account with the number %(account_no)s."),
    "gateway_unknown": _("The payment method “%(gateway)s” is not available."),
    "gateway_disabled": _("The payment method “%(gateway)s” is switched off."),
    "signature_invalid": _("The message does not carry a valid signature of the bank."),
    "message_invalid": _("The bank's message is missing “%(field)s” or has a bad value in it."),
    "certificate_unknown": _(
        "The message is signed with the key %(serial)s, which is not the bank's key configured here."
    ),
    "notification_stale": _(
        "The message was signed at %(signed_at)s, more than five minutes ago: an old message is not taken."
    ),
    "decryption_failed": _("The message's encrypted content could not be decrypted with the merchant's key."),
    "gateway_unreachable": _("The bank could not be reached or its answer was not signed by it: %(reason)s"),
    "order_unknown": _("There is no order %(order_no)s."),
    "amount_mismatch": _(
        "The bank reported ¥%(reported)s for order %(order_no)s, which is for ¥%(expected)s."
    ),
    "merchant_mismatch": _("The bank's message is for merchant “%(merchant)s”, not for this platform."),
    "gateway_mismatch": _(
        "Order %(order_no)s is paid through %(expected)s: a message from %(gateway)s cannot settle it."
    ),
    "trade_no_mismatch": _(
        "The bank reported trade %(reported)s for order %(order_no)s, which it already settled as %(known)s."
    ),
    "notification_duplicate": _(
        "Order %(order_no)s is already %(status)s: the repeated message changed nothing."
    ),
    "already_bound": _("This account is already in your list."),
    "label_required": _("Give the account a label, such as “home water”."),
    "batch_empty": _("The file has no rows to pay."),
    "batch_has_errors": _(
        "No row of this file can be paid: correct the rows with errors and upload it again."
    ),
    "batch_too_large": _("A batch may have at most %(limit)s rows."),
}


class PortalError(BillingError):
    messages = PORTAL_MESSAGES


class GatewayError(PortalError):
    """A gateway message that cannot be trusted or understood; nothing was changed."""


class GatewayRefused(PortalError):
    """A message for a gateway that is unknown or switched off: for the outside world it has no address."""
