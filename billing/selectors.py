"""Reads of the billing domain: balances, bills to pay, receipts."""

from decimal import Decimal

from django.db.models import Prefetch, Sum

from billing.choices import PAYABLE_BILL_STATUSES, BillerStatus
from billing.models import Bill, Biller, BillerCategory, FeeSchedule, JournalLine, LedgerAccount
from billing.money import ZERO
from config.db_router import may_lag


def ledger_balance(account: LedgerAccount) -> Decimal:
    """Debit-positive balance: the sum of the account's lines. Nothing stores it, so nothing can drift."""
    return JournalLine.objects.filter(account=account).aggregate(total=Sum("amount"))["total"] or ZERO


def trial_balance() -> dict[str, Decimal]:
    """Every ledger account's balance by code; the values sum to zero when the books are right."""
    rows = JournalLine.objects.values("account__code").annotate(total=Sum("amount")).order_by("account__code")
    return {row["account__code"]: row["total"] for row in rows}


def unbalanced_entry_ids() -> list[int]:
    return list(
        JournalLine.objects.values("entry_id")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .values_list("entry_id", flat=True)
    )


def payable_bills(account) -> list[Bill]:
    return list(
        Bill.objects.filter(account=account, status__in=PAYABLE_BILL_STATUSES).order_by("due_date", "period")
    )


@may_lag
def categories_with_active_billers() -> list[BillerCategory]:
    """Top-level categories with their sub-categories and active billers, for the home page."""
    active = Biller.objects.filter(status=BillerStatus.ACTIVE).order_by("code")
    return list(
        BillerCategory.objects.filter(parent__isnull=True)
        .prefetch_related(
            Prefetch("billers", queryset=active),
            Prefetch("children__billers", queryset=active),
            "children",
        )
        .order_by("sort_order", "code")
    )


DONATION_CODE_PREFIX = "DON"


def next_donation_biller_code() -> str:
    """A code for a donation biller created without one: DON0001, DON0002, … after the highest in use.
    Two admins saving at the same moment get the same code and the second is refused by the unique code."""
    numbered = Biller.objects.filter(code__regex=rf"^{DONATION_CODE_PREFIX}[0-9]+$")
    codes = numbered.values_list("code", flat=True)
    highest = max((int(code[len(DONATION_CODE_PREFIX) :]) for code in codes), default=0)
    return f"{DONATION_CODE_PREFIX}{highest + 1:04d}"


def fee_schedule_exists(*, biller_id: int, channel: str, valid_from) -> bool:
    """Whether the biller already has a price for this channel from that day (one per day and channel)."""
    return FeeSchedule.objects.filter(biller_id=biller_id, channel=channel, valid_from=valid_from).exists()
