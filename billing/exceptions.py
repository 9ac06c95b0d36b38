"""Domain errors: a stable machine code for channels and a message in the user's language.

The message is rendered when read, so the same error reads in Chinese for a citizen and in English for a
partner that sent `Accept-Language: en`.
"""

from django.utils.translation import gettext_lazy as _

MESSAGES = {
    "amount_invalid": _(
        "“%(amount)s” is not an amount of money: write yuan with at most two decimals, such as 128.50."
    ),
    "amount_not_positive": _("The amount must be more than zero (it was %(amount)s)."),
    "amount_below_minimum": _("%(biller)s takes at least ¥%(minimum)s in one payment."),
    "amount_above_maximum": _("%(biller)s takes at most ¥%(maximum)s in one payment."),
    "amount_not_exact": _("%(biller)s takes only the exact amount due: %(expected)s."),
    "amount_due_changed": _(
        "The amount due changed with the date: today it is %(expected)s (%(holds)s). "
        "Nothing was paid; check the amount and pay again."
    ),
    "price_date_invalid": _("A payment cannot be priced for %(day)s: only the last few days are kept."),
    "instalments_not_offerable": _(
        "The bill for %(period)s can be offered in instalments only while it is open and nothing is paid."
    ),
    "instalments_count_invalid": _("Offer 2 to 12 instalments (not %(count)s)."),
    "instalments_do_not_add_up": _(
        "The instalments must be more than zero and add up to the bill: ¥%(total)s."
    ),
    "instalments_dates_invalid": _("Each instalment must fall due after the one before it."),
    "amount_exceeds_due": _("%(biller)s does not take more than is due: at most ¥%(due)s."),
    "amount_below_due": _("%(biller)s takes at least the amount due: ¥%(due)s."),
    "biller_unknown": _("There is no biller with the code “%(biller)s”."),
    "biller_not_active": _("%(biller)s is not taking payments at the moment: %(reason)s"),
    "account_required": _("Enter the account number of the bill to pay."),
    "account_number_invalid": _("“%(account_no)s” is not a valid account number for %(biller)s. %(hint)s"),
    "account_rule_broken": _(
        "This biller's account number rule cannot be checked at the moment, so nothing was paid. "
        "The platform has been told; please try again later."
    ),
    "account_pattern_empty": _("Give the account number pattern (a regular expression)."),
    "account_pattern_too_long": _("The account number pattern is too long: at most 200 characters."),
    "account_pattern_unsupported": _(
        "The account number pattern may use only ASCII letters and digits, . ^ $ ( ) (?: ) | * + ? {m,n}, "
        "bracket classes such as [0-9X] and \\d, and a backslash before punctuation: both the platform "
        "and its database must read it the same way."
    ),
    "account_pattern_invalid": _("The account number pattern is not a valid regular expression: %(detail)s"),
    "account_unknown": _("%(biller)s has no account with the number %(account_no)s."),
    "bill_unknown": _("Account %(account_no)s has no bill for %(period)s."),
    "bill_cancelled": _("The bill for %(period)s was cancelled by the biller and cannot be paid."),
    "bill_already_paid": _("The bill for %(period)s is already paid."),
    "no_open_bill": _("Account %(account_no)s has no bill to pay."),
    "channel_invalid": _("“%(channel)s” is not a payment channel of this platform."),
    "branch_required": _("A counter payment must name the branch that took the cash."),
    "collection_account_required": _("An agent's payment must be collected from the agent's own float."),
    "idempotency_key_invalid": _("The idempotency key must be 1 to 160 printable characters without spaces."),
    "idempotency_conflict": _(
        "The idempotency key “%(key)s” was already used for a different payment (%(receipt_no)s). "
        "Use a new key for a new payment."
    ),
    "payment_already_reversed": _("Payment %(receipt_no)s was already reversed."),
    "reversal_reason_required": _("Say why the payment is reversed."),
    "credit_already_used": _(
        "Payment %(receipt_no)s cannot be reversed: the credit it left on the account has been used."
    ),
    "bill_has_payments": _(
        "The bill for %(period)s has payments of ¥%(paid)s: reverse them before cancelling the bill."
    ),
    "bill_not_cancellable": _("The bill for %(period)s is %(status)s and cannot be cancelled."),
    "transition_not_allowed": _("%(object)s cannot go from “%(current)s” to “%(target)s”."),
    "onboarding_incomplete": _(
        "%(biller)s cannot be submitted for approval yet. Still missing: %(missing)s."
    ),
    "four_eyes_required": _(
        "%(biller)s was submitted by you: another platform administrator must approve it."
    ),
    "approver_not_platform_admin": _("Only a platform administrator can approve a biller."),
    "suspension_reason_required": _("Say why %(biller)s is suspended."),
    "closure_reason_required": _("Say why %(biller)s is closed."),
    "fee_negative": _("Fees cannot be negative: the fixed fee, percentage and least fee must be 0 or more."),
    "fee_percentage_too_high": _("The percentage is a fraction of the amount and must be below 1 (100%%)."),
    "fee_max_below_min": _("The most fee (¥%(max_fee)s) cannot be below the least fee (¥%(min_fee)s)."),
    "fee_schedule_exists": _(
        "%(biller)s already has a fee schedule for %(channel)s from %(valid_from)s: "
        "add one from another date instead."
    ),
    # Shared collections (issue 17, item 4; billing.collection_shares).
    "share_code_invalid": _(
        "“%(share_code)s” is not a code for a shared collection part: use 2 to 16 capital letters or digits."
    ),
    "share_code_twice": _("Two shared collection parts have the code %(share_code)s: give each its own."),
    "share_bank_account_required": _(
        "%(share)s needs the bank, the account name and the account number its money is remitted to."
    ),
    "share_rule_value": _(
        "%(share)s: a fixed part needs an amount above zero (in yuan and fen) and no percentage; "
        "a percentage part needs a percentage above 0 and at most 100 (two decimals at most), "
        "and no amount."
    ),
    "share_fixed_needs_bills": _(
        "%(share)s takes a fixed amount per bill, but %(biller)s takes payments without bills: "
        "give it a percentage instead."
    ),
    "share_percentages_over_100": _(
        "The shared collection parts of %(biller)s take %(total)s%% in all: "
        "together they may take at most 100%%."
    ),
}


class BillingError(Exception):
    """A refusal the caller can show: `code` for machines, `message` for people.

    Other apps subclass it with their own `messages` table (code → lazy message), so every domain error
    of the platform has the same shape for views, the admin and the APIs.
    """

    messages: dict = MESSAGES

    def __init__(self, code: str, **params: object) -> None:
        if code not in self.messages:
            raise ValueError(f"unknown error code {code!r} for {type(self).__name__}")
        self.code = code
        self.params = params
        super().__init__(code)

    @property
    def message(self) -> str:
        return str(self.messages[self.code]) % {key: str(value) for key, value in self.params.items()}

    def __str__(self) -> str:
        return self.message


class PaymentRefused(BillingError):
    """The payment or reversal was refused; nothing was stored."""


class IdempotencyConflict(PaymentRefused):
    """The idempotency key was already used for a different request."""


class TransitionNotAllowed(BillingError):
    """A status change that the transition map forbids."""


class OnboardingRefused(BillingError):
    """A biller's onboarding step was refused: data missing, or the wrong person approving."""


class TopUpRefused(BillingError):
    """A card top-up's confirmation or void was refused (billing/topups.py); nothing was stored."""

    messages = {
        "topup_not_held": _("Payment %(receipt_no)s is not a top-up waiting for a card write."),
        "topup_already_voided": _(
            "The top-up %(receipt_no)s was not written in time and has been refunded: it cannot be "
            "confirmed now. Take a new payment for the card."
        ),
        "topup_already_written": _(
            "The top-up %(receipt_no)s was confirmed as written to the card: it cannot be voided now."
        ),
        "topup_reason_required": _("Say why the card could not be written."),
        "topup_ref_invalid": _("The card write reference must be at most 64 printable characters."),
    }
