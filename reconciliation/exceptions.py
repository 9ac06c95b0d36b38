"""Refusals of reconciliation and settlement: a stable code and a translated message."""

from django.utils.translation import gettext_lazy as _

from billing.exceptions import BillingError, TransitionNotAllowed
from billing.untrusted_files import FILE_MESSAGES

RECON_MESSAGES = {
    "file_empty": _("The file is empty."),
    "file_unreadable": _("The file is neither UTF-8 nor GBK text."),
    "format_unknown": _("The file is not in any statement format the platform reads."),
    "format_mismatch": _("The file is not a %(format)s file: %(reason)s"),
    "line_invalid": _("Line %(line)s is wrong: %(reason)s"),
    "totals_mismatch": _(
        "Line %(line)s: the totals say %(field)s is %(stated)s, but the lines add up to %(actual)s."
    ),
    "trailer_missing": _("The file ends without its totals line (line %(line)s)."),
    "namespace_unknown": _(
        "The XML namespace “%(namespace)s” is not a camt.053 or camt.054 version the platform reads."
    ),
    "header_mismatch": _("Line %(line)s: the file is for %(stated)s, not %(expected)s."),
    "currency_not_cny": _("Line %(line)s: the amount is in %(currency)s; the platform takes CNY only."),
    "statement_already_imported": _(
        "This file (SHA-256 %(sha)s…) was already imported for %(channel)s on %(day)s."
    ),
    "channel_code_invalid": _("“%(channel)s” is not a channel code: use ONLINE:<gateway> or PARTNER:<code>."),
    "not_resolvable": _("A %(klass)s discrepancy cannot be resolved by “%(action)s”."),
    "discrepancy_closed": _("Discrepancy %(id)s is already resolved."),
    "note_required": _("Write a note saying why."),
    "post_missing_needs_account": _("Name the biller code and account number the payment was for."),
    "write_off_second_person": _(
        "A write-off must be approved by someone other than %(user)s, who asked for it."
    ),
    "write_off_not_requested": _("No write-off was asked for on discrepancy %(id)s."),
    "not_reconciliation_staff": _("Only reconciliation officers and platform administrators may do this."),
    "transition_not_allowed": _("%(object)s cannot go from “%(current)s” to “%(target)s”."),
    "nothing_to_difference": _(
        "The channel and platform amounts are the same: there is nothing to write off."
    ),
    "settlement_exists": _("%(biller)s was already settled for %(day)s (%(reference)s)."),
    "confirmation_no_match": _("The confirmation has no credit of ¥%(amount)s for settlement %(reference)s."),
    "confirmation_already": _("Settlement %(reference)s was already confirmed."),
    "receipt_unknown": _("There is no payment with the receipt number %(receipt_no)s."),
    "contact_required": _("Give an e-mail address or a phone number so that we can tell you the outcome."),
    "outcome_required": _("Write the outcome the citizen will be told."),
    "tills_open": _("%(branch)s still has open tills (%(tills)s): close them before reconciling its cash."),
    "statement_day_taken": _(
        "A different statement (%(file_name)s, imported %(imported)s) is already in for %(channel)s on "
        "%(day)s: a second one is refused so that what the first matched is never reopened."
    ),
    "day_not_over": _("%(day)s has not ended yet in Beijing time: it cannot be settled."),
    "day_settles_later": _(
        "%(day)s is settled T+1 in working days: not before %(due)s, the next working day after it."
    ),
    "day_reconciliation_running": _(
        "The reconciliation of %(day)s is not finished (%(runs)s): settle the day once it is done."
    ),
    "day_tills_open": _("%(day)s is not closed: tills are still open (%(tills)s)."),
    # Files from outside: size, archives, lines and fields, XML (billing.untrusted_files)
    **FILE_MESSAGES,
}


class ReconciliationError(BillingError):
    messages = RECON_MESSAGES


class ReconciliationTransitionNotAllowed(ReconciliationError, TransitionNotAllowed):
    """A discrepancy or complaint move its transition table forbids (caught as either class)."""


class StatementRefused(ReconciliationError):
    """The whole file was refused; nothing of it was imported."""
