"""Every set of choices of the billing domain, in one place."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class BillerStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted for approval")
    APPROVED = "approved", _("Approved")
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    CLOSED = "closed", _("Closed")


# Which biller status may follow which; anything else is refused by `change_biller_status`.
BILLER_TRANSITIONS: dict[str, frozenset[str]] = {
    BillerStatus.DRAFT: frozenset({BillerStatus.SUBMITTED, BillerStatus.CLOSED}),
    BillerStatus.SUBMITTED: frozenset({BillerStatus.APPROVED, BillerStatus.DRAFT}),
    BillerStatus.APPROVED: frozenset({BillerStatus.ACTIVE, BillerStatus.CLOSED}),
    BillerStatus.ACTIVE: frozenset({BillerStatus.SUSPENDED, BillerStatus.CLOSED}),
    BillerStatus.SUSPENDED: frozenset({BillerStatus.ACTIVE, BillerStatus.CLOSED}),
    BillerStatus.CLOSED: frozenset(),
}


class PaymentMode(models.TextChoices):
    STATEMENT = "statement", _("Statement bills")
    PREPAID = "prepaid", _("Prepaid top-up")
    DONATION = "donation", _("Open-amount donation")


class AmountRule(models.TextChoices):
    """How a payment of statement bills may differ from what is due (BBPS's names)."""

    EXACT = "exact", _("Exact amount only")
    EXACT_DOWN = "exact_down", _("Partial payment allowed")
    EXACT_UP = "exact_up", _("More than due allowed, kept as credit")


class CheckDigit(models.TextChoices):
    NONE = "none", _("No check digit")
    LUHN = "luhn", _("Luhn (mod 10)")
    MOD11_2 = "mod11_2", _("ISO 7064 MOD 11-2")


class BillStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("bill status", "Open")
    PARTLY_PAID = "partly_paid", _("Partly paid")
    PAID = "paid", _("Paid")
    CANCELLED = "cancelled", _("Cancelled")


PAYABLE_BILL_STATUSES = (BillStatus.OPEN, BillStatus.PARTLY_PAID)


class BeneficiaryKind(models.TextChoices):
    """Who a bill is for when that is not its account's holder (issue 17, item 6)."""

    STUDENT = "student", _("Student")
    PATIENT = "patient", _("Patient")
    RESIDENT = "resident", _("Resident")
    OTHER = "other", _("Beneficiary")


class Channel(models.TextChoices):
    ONLINE = "online", _("Online")
    COUNTER = "counter", _("Cash counter")
    PARTNER = "partner", _("Partner channel")
    AGENT = "agent", _("Agent with a float")


class PaymentStatus(models.TextChoices):
    POSTED = "posted", _("Posted")
    REVERSED = "reversed", _("Reversed")


class AllocationKind(models.TextChoices):
    BILL = "bill", _("Bill")
    CREDIT = "credit", _("Credit on account")
    TOPUP = "topup", _("Prepaid top-up")
    DONATION = "donation", _("Donation")
    LATE_FEE = "late_fee", _("Late fee on a bill")


# The allocation kinds that name a bill: its principal and its late fee (billing.amounts).
BILL_ALLOCATION_KINDS = (AllocationKind.BILL, AllocationKind.LATE_FEE)


class LedgerAccountKind(models.TextChoices):
    CHANNEL_CLEARING = "channel_clearing", _("Channel clearing")
    CASH_IN_TILL = "cash_in_till", _("Cash in till")
    BILLER_PAYABLE = "biller_payable", _("Payable to biller")
    LATE_FEE_PAYABLE = "late_fee_payable", _("Late fees payable to biller")
    FEE_INCOME = "fee_income", _("Fee income")
    SETTLEMENT = "settlement", _("Settlement bank account")
    AGENT_FLOAT = "agent_float", _("Agent's prefunded float")
    TOPUP_HOLD = "topup_hold", _("Top-ups waiting for the card write")


class EntryKind(models.TextChoices):
    PAYMENT = "payment", _("Payment")
    REVERSAL = "reversal", _("Reversal")
    SETTLEMENT = "settlement", _("Settlement")
    ADJUSTMENT = "adjustment", _("Adjustment")
    TOPUP_WRITTEN = "topup_written", _("Top-up written to the card")


class ShareRule(models.TextChoices):
    """How a co-beneficiary takes its part of a payment (issue 17, item 4; billing.collection_shares)."""

    FIXED = "fixed", _("Fixed amount per bill")
    PERCENT = "percent", _("Percentage of what is left")
