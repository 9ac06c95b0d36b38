"""Reads of the billing domain: balances, bills to pay, receipts."""

from decimal import Decimal

from django.db.models import Prefetch, Sum

from billing.choices import PAYABLE_BILL_STATUSES, BillerStatus
from billing.models import Bill, Biller, BillerCategory, JournalLine, LedgerAccount
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
