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
    # Auto-pay mandates (代扣).
    "mandate_cap_invalid": _("The most per bill must be an amount above zero, such as 300.00."),
    "mandate_cap_too_high": _("The most per bill may be at most ¥%(limit)s."),
    "mandate_dates_invalid": _(
        "The mandate must start today or later and end after it starts, at most %(years)s years ahead."
    ),
    "mandate_notice_invalid": _("The notice must be %(low)s to %(high)s days before each debit."),
    "mandate_account_not_bound": _("Add the account to “My accounts” before setting up auto-pay for it."),
    "mandate_exists": _("This account already has an auto-pay mandate: change that one instead."),
    "mandate_biller_not_statement": _("%(biller)s does not send bills, so auto-pay has nothing to pay."),
    "mandate_gateway_no_agreements": _("The payment method “%(gateway)s” does not offer auto-pay debits."),
    "mandate_not_changeable": _("This mandate is %(status)s and cannot be changed any more."),
    "mandate_agreement_declined": _("The bank's agreement was not signed: auto-pay is not set up."),
    "mandate_agreement_unknown": _("The bank's answer is for an auto-pay mandate that is not yours."),
    "mandate_cap_exceeded": _(
        "The bill for %(period)s is ¥%(amount)s, above this mandate's most per bill (¥%(cap)s): it was not "
        "debited. Pay it yourself, or raise the limit."
    ),
    "mandate_expired": _("The mandate ended on %(date)s: the bill for %(period)s was not debited."),
    "mandate_not_active": _("The mandate is %(status)s: the bill for %(period)s was not debited."),
    "mandate_partner_not_active": _(
        "The partner %(partner)s cannot pay at the moment: the bill for %(period)s was not debited."
    ),
    "mandate_partner_biller_not_allowed": _(
        "The partner %(partner)s may no longer pay %(biller)s: the bill for %(period)s was not debited."
    ),
    "mandate_owner_missing": _("A partner's mandate names the partner's customer (customer_ref)."),
    "mandate_debit_not_skippable": _("This debit is %(status)s and can no longer be skipped."),
    "mandate_bill_paid_elsewhere": _("The bill for %(period)s was already paid at another channel."),
    # Family payment (亲情付).
    "family_label_required": _("Say who you invite, such as “my son”."),
    "family_limit_invalid": _("The limits must be amounts above zero, such as 500.00."),
    "family_limit_too_high": _("A limit may be at most ¥%(limit)s."),
    "family_month_below_payment": _("The limit per month must be at least the limit per payment."),
    "family_too_many": _("You may have at most 10 family members at a time."),
    "family_invite_invalid": _("This invitation is not valid any more: ask for a new one."),
    "family_invite_own": _("This is your own invitation: send the link to your family member."),
    "family_not_yours": _("This family payment is not yours."),
    "family_not_active": _("This family payment has ended: nothing can be paid through it."),
    "family_bill_not_shared": _("The chosen bills are not all on the accounts shared with you."),
    "family_payment_limit": _(
        "¥%(amount)s is above the limit of ¥%(limit)s per payment that was set for you: nothing was paid."
    ),
    "family_month_limit": _(
        "¥%(amount)s is more than is left of this month's limit (¥%(left)s of ¥%(limit)s): nothing was paid."
    ),
    # Start here, finish there (payers.handoff).
    "handoff_not_yours": _("Only the payer who started this order can hand it to another device."),
    "handoff_unknown": _("This QR code is not one of ours, or it was replaced by a newer one."),
    "handoff_used": _("This QR code was already used on another device: it works once."),
    "handoff_expired": _("This QR code has expired: show a new one on the first device."),
    "handoff_order_final": _("Order %(order_no)s is no longer waiting to be paid."),
}


class PortalError(BillingError):
    messages = PORTAL_MESSAGES


class GatewayError(PortalError):
    """A gateway message that cannot be trusted or understood; nothing was changed."""


class GatewayRefused(PortalError):
    """A message for a gateway that is unknown or switched off: for the outside world it has no address."""
