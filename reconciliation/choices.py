"""Every set of choices of reconciliation and settlement, in one place."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class StatementFormat(models.TextChoices):
    BILLPAY = "billpay", _("Platform CSV statement")
    WECHAT = "wechat", _("WeChat Pay trade bill")
    ALIPAY = "alipay", _("Alipay business detail bill")
    CAMT053 = "camt053", _("ISO 20022 camt.053 statement")
    CAMT054 = "camt054", _("ISO 20022 camt.054 notification")


class LineKind(models.TextChoices):
    PAYMENT = "payment", _("Payment")
    REFUND = "refund", _("Refund")


class MatchClass(models.TextChoices):
    MATCHED = "matched", _("Matched")
    MISSING_PLATFORM = "missing_platform", _("Missing on the platform")
    MISSING_CHANNEL = "missing_channel", _("Missing at the channel")
    AMOUNT_MISMATCH = "amount_mismatch", _("Amount mismatch")
    DUPLICATE = "duplicate", _("Duplicate")
    STATUS_MISMATCH = "status_mismatch", _("Status mismatch")


class MatchMethod(models.TextChoices):
    CHANNEL_REF = "channel_ref", _("Channel reference")
    MERCHANT_REF = "merchant_ref", _("Merchant order number")
    RECEIPT = "receipt", _("Receipt number")
    AMOUNT_TIME = "amount_time", _("Amount and time")
    NONE = "", _("None")


class RunStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    LOADING = "loading", _("Loading lines")
    MATCHING = "matching", _("Matching")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class DiscrepancyStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ASSIGNED = "assigned", _("Assigned")
    AWAITING_APPROVAL = "awaiting_approval", _("Write-off awaiting approval")
    RESOLVED = "resolved", _("Resolved")


DISCREPANCY_TRANSITIONS: dict[str, frozenset[str]] = {
    DiscrepancyStatus.OPEN: frozenset(
        {DiscrepancyStatus.ASSIGNED, DiscrepancyStatus.AWAITING_APPROVAL, DiscrepancyStatus.RESOLVED}
    ),
    DiscrepancyStatus.ASSIGNED: frozenset(
        {DiscrepancyStatus.ASSIGNED, DiscrepancyStatus.AWAITING_APPROVAL, DiscrepancyStatus.RESOLVED}
    ),
    DiscrepancyStatus.AWAITING_APPROVAL: frozenset({DiscrepancyStatus.RESOLVED, DiscrepancyStatus.ASSIGNED}),
    DiscrepancyStatus.RESOLVED: frozenset(),
}


class Resolution(models.TextChoices):
    POST_MISSING = "post_missing", _("Post the missing payment")
    REVERSE_OURS = "reverse_ours", _("Reverse our payment")
    RECORD_REFUND = "record_refund", _("Record the channel's refund")
    WRITE_OFF = "write_off", _("Write off the difference")
    ACCEPT_VARIANCE = "accept_variance", _("Accept the till's over/short entry")
    # Only reconciliation's settling of a disputed debit uses it (services/disputed_debits.py): the money
    # the channel took goes back to the payer at the channel; the platform's books never held it.
    REFUND_AT_CHANNEL = "channel_refund", _("The channel returns the money to the payer")


# Which actions may close a discrepancy of each class. Each one leaves the ledger balanced: it posts
# through post_payment / reverse_payment or a balanced adjustment entry.
ALLOWED_RESOLUTIONS: dict[str, tuple[str, ...]] = {
    MatchClass.MISSING_PLATFORM: (Resolution.POST_MISSING, Resolution.WRITE_OFF),
    MatchClass.MISSING_CHANNEL: (Resolution.REVERSE_OURS, Resolution.WRITE_OFF),
    MatchClass.AMOUNT_MISMATCH: (Resolution.REVERSE_OURS, Resolution.WRITE_OFF, Resolution.ACCEPT_VARIANCE),
    MatchClass.DUPLICATE: (Resolution.REVERSE_OURS, Resolution.WRITE_OFF),
    MatchClass.STATUS_MISMATCH: (Resolution.RECORD_REFUND, Resolution.WRITE_OFF),
}


class SettlementItemKind(models.TextChoices):
    """What a settlement line settles: a payment the biller is owed, or the reversal (refund) of a
    payment it was already paid for, taken back."""

    PAYMENT = "payment", _("Payment")
    REVERSAL = "reversal", _("Reversal taken back")


class SettlementStatus(models.TextChoices):
    BUILT = "built", _("Built")
    CONFIRMED = "confirmed", _("Confirmed by the biller's bank")


class ComplaintReason(models.TextChoices):
    PAID_STILL_DUE = "paid_still_due", _("Paid, but the bill still shows as due")
    PAID_TWICE = "paid_twice", _("Paid twice")
    WRONG_ACCOUNT = "wrong_account", _("Paid the wrong account")
    WRONG_AMOUNT = "wrong_amount", _("Wrong amount taken")


class ComplaintStatus(models.TextChoices):
    LOGGED = "logged", _("Logged")
    ASSIGNED = "assigned", _("Assigned")
    ESCALATED = "escalated", _("Escalated")
    RESOLVED = "resolved", _("Resolved")


COMPLAINT_TRANSITIONS: dict[str, frozenset[str]] = {
    ComplaintStatus.LOGGED: frozenset(
        {ComplaintStatus.ASSIGNED, ComplaintStatus.ESCALATED, ComplaintStatus.RESOLVED}
    ),
    ComplaintStatus.ASSIGNED: frozenset(
        {ComplaintStatus.ASSIGNED, ComplaintStatus.ESCALATED, ComplaintStatus.RESOLVED}
    ),
    ComplaintStatus.ESCALATED: frozenset({ComplaintStatus.ASSIGNED, ComplaintStatus.RESOLVED}),
    ComplaintStatus.RESOLVED: frozenset(),
}
