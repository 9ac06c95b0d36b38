"""Refusals of the branch and cash-counter domain: stable codes, messages in the user's language."""

from django.utils.translation import gettext_lazy as _

from billing.exceptions import BillingError

COUNTER_MESSAGES = {
    "not_branch_staff": _("You do not work at %(branch)s: only its own staff can use its counter."),
    "not_a_counter_role": _("Only branch clerks and supervisors use the counter."),
    "branch_not_open": _("%(branch)s is %(status)s and cannot take cash: %(reason)s"),
    "till_already_open": _("You already have an open till (%(till)s): close it before opening another."),
    "till_not_open": _("Open your till before taking cash."),
    "till_closed": _("This till is already closed."),
    "till_not_yours": _("This till belongs to another clerk."),
    "till_from_another_day": _(
        "Your till was opened on %(day)s: close it and open a new one for today before taking cash."
    ),
    "float_negative": _("The opening float cannot be negative."),
    "biller_takes_no_cash": _("%(biller)s does not take cash payments at counters."),
    "branch_does_not_take_biller": _("%(branch)s does not take cash for %(biller)s."),
    "biller_suspended": _("%(biller)s is not taking payments at the moment: %(reason)s"),
    "tendered_too_little": _(
        "The cash tendered (¥%(tendered)s) is less than the amount to pay (¥%(amount)s)."
    ),
    "nothing_selected": _("Choose at least one bill to pay."),
    "notice_phone_invalid": _("The phone number for outlet notices must be a mainland mobile number."),
    "notice_consent_required": _(
        "A phone number for outlet notices is kept only with the citizen's consent: tick the box, or leave "
        "the number out."
    ),
    "lookup_empty": _("Enter an account number, or scan the slip's barcode or QR code."),
    "scan_unreadable": _(
        "The scanned code is not a payment slip of this platform (check digit wrong or damaged)."
    ),
    "slip_bill_unknown": _("The bill on this slip no longer exists: look the account up by its number."),
    "slip_expired": _(
        "This slip was due on %(due)s and is past its due date: the amount may include a late fee now. "
        "Look the account up by its number to take the current amount."
    ),
    "slip_amount_changed": _(
        "The amount on this slip (¥%(slip)s) is no longer what is owed (¥%(current)s): the bill has "
        "changed or been partly paid. Look the account up by its number."
    ),
    "slip_bill_not_payable": _("The bill on this slip (%(period)s) is %(status)s and cannot be paid."),
    "void_other_day": _("Payment %(receipt_no)s was taken on %(day)s: only same-day payments can be voided."),
    "void_supervisor_required": _("A void needs the approval of a supervisor of %(branch)s."),
    "void_self_approval": _("A supervisor cannot approve the void of their own payment."),
    "void_supervisor_password": _("The supervisor's user name or password is wrong."),
    "void_reason_required": _("Say why the payment is voided."),
    "void_already": _("Payment %(receipt_no)s was already voided."),
    "count_invalid": _("Count each denomination as a whole number of notes or coins, 0 or more."),
    "variance_note_required": _(
        "The count differs from what is expected by ¥%(variance)s: write a note explaining the difference."
    ),
    "status_reason_required": _("Say why %(branch)s is %(status)s."),
    "closure_needs_notice": _(
        "A planned closure needs notice: it may start on %(earliest)s at the earliest."
    ),
    "closure_overlaps": _("%(branch)s already has a planned closure from %(starts_on)s."),
    "closure_not_planned": _("This closure is %(status)s and can no longer be cancelled."),
    "reopen_before_start": _("The reopening date must be after the closure starts."),
    "import_failed": _("Row %(row)s: %(errors)s"),
    # Agents with a float (issue 18, item 4).
    "not_agent_staff": _("You do not take payments for an agent."),
    "agent_not_active": _("Agent %(agent)s is %(status)s and cannot take payments."),
    "agent_biller_not_assigned": _("Agent %(agent)s is not assigned to take payments for %(biller)s."),
    "agent_outside_area": _(
        "Account %(account_no)s is outside the area of agent %(agent)s: it serves accounts starting with "
        "%(prefixes)s."
    ),
    "float_exhausted": _(
        "The float of agent %(agent)s has ¥%(balance)s left, not enough for this payment of ¥%(amount)s: "
        "nothing was taken. Top up the float by bank transfer with the reference %(agent)s."
    ),
    "agent_unknown": _("There is no agent %(agent)s."),
    "agent_terminal_unknown": _("Terminal %(terminal)s is not a terminal of agent %(agent)s."),
    "topup_amount_invalid": _("A float top-up must be more than ¥0.00."),
    "topup_already_credited": _("The bank transfer %(bank_ref)s was already credited to a float."),
}


class CounterError(BillingError):
    """A refusal at the counter or in the branch registry; nothing was stored."""

    messages = COUNTER_MESSAGES
