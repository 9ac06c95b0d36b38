"""Reads of the billing domain: balances, bills to pay, receipts."""

import datetime
from decimal import Decimal

from django.db.models import Count, F, Prefetch, Q, Sum
from django.db.models.functions import ExtractHour
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import access
from billing.choices import PAYABLE_BILL_STATUSES, BillerStatus, PaymentMode, PaymentStatus
from billing.models import (
    Bill,
    Biller,
    BillerCategory,
    BillImportJob,
    FailedTask,
    FeeSchedule,
    JournalLine,
    LedgerAccount,
)
from billing.money import ZERO
from billing.rules import normalize_notice_no
from billing.topup_models import TopUpHold
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
        Bill.objects.filter(account=account, status__in=PAYABLE_BILL_STATUSES)
        .select_related("biller")  # each bill's amount today reads its biller's late-fee rule
        .prefetch_related("instalments")
        .order_by("due_date", "period")
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


# --- the staff home (billing/dashboard.py): one query each, scoped to what the user may see ------------


def payments_by_channel(user, day: datetime.date) -> list[dict]:
    """The day's posted payments per channel: [{channel, count, total}]."""
    return list(
        access.visible_payments(user)
        .filter(business_date=day, status=PaymentStatus.POSTED)
        .values("channel")
        .annotate(count=Count("pk"), total=Sum("amount"))
        .order_by("channel")
    )


def payments_by_hour(user, day: datetime.date) -> list[tuple[int, int, Decimal]]:
    """The day's posted payments per hour of the platform's time zone, every hour up to the last with one."""
    rows = (
        access.visible_payments(user)
        .filter(business_date=day, status=PaymentStatus.POSTED)
        .annotate(hour=ExtractHour("posted_at", tzinfo=timezone.get_current_timezone()))
        .values("hour")
        .annotate(count=Count("pk"), total=Sum("amount"))
        .order_by("hour")
    )
    by_hour = {row["hour"]: (row["count"], row["total"]) for row in rows}
    if not by_hour:
        return []
    return [(hour, *by_hour.get(hour, (0, ZERO))) for hour in range(min(by_hour), max(by_hour) + 1)]


def collections_by_biller(user, since: datetime.date, until: datetime.date, top: int = 10):
    """The billers that collected most between two days: [(name, total, count)], largest first."""
    rows = (
        access.visible_payments(user)
        .filter(business_date__range=(since, until), status=PaymentStatus.POSTED)
        .values("biller__code", "biller__name", "biller__name_en")
        .annotate(total=Sum("amount"), count=Count("pk"))
        .order_by("-total", "biller__code")[:top]
    )

    def name(row) -> str:  # in the page's language, as Biller.display_name says
        return Biller(name=row["biller__name"], name_en=row["biller__name_en"]).display_name

    return [(name(row), row["total"], row["count"]) for row in rows]


def billers_awaiting_approval(user, today: datetime.date) -> int:
    return access.visible_billers(user).filter(status=BillerStatus.SUBMITTED).count()


def failed_tasks_to_look_into(user, today: datetime.date) -> int:
    """Tasks that exhausted their retries and have failed again since staff last sent them (or never were)."""
    failed = access.scoped_queryset(user, FailedTask)
    return failed.filter(Q(retried_at__isnull=True) | Q(retried_at__lt=F("last_failed_at"))).count()


def failed_bill_imports(user, today: datetime.date) -> int:
    since = today - datetime.timedelta(days=7)
    jobs = access.scoped_queryset(user, BillImportJob).filter(status=BillImportJob.Status.FAILED)
    return jobs.filter(created_at__date__gte=since).count()


def payment_split(payment) -> list[tuple[str, Decimal]]:
    """Who the payment's money is owed to (issue 17, item 4), from its own journal entry: the biller, its
    late fee, and each co-beneficiary by name (in the reader's language), as (who, amount)."""
    from billing.choices import EntryKind, LedgerAccountKind
    from billing.models import CollectionShare

    lines = JournalLine.objects.filter(
        entry__payment=payment,
        entry__kind=EntryKind.PAYMENT,
        account__kind__in=(LedgerAccountKind.BILLER_PAYABLE, LedgerAccountKind.LATE_FEE_PAYABLE),
    ).values_list("account__code", "account__kind", "amount")
    biller = payment.biller
    prefix = f"PAYABLE:{biller.code}:"
    shares = {share.code: share for share in CollectionShare.objects.filter(biller=biller)}
    rows = []
    for code, kind, amount in lines.order_by("pk"):
        if code.startswith(prefix) and code.removeprefix(prefix) in shares:
            who = shares[code.removeprefix(prefix)].display_name
        elif kind == LedgerAccountKind.LATE_FEE_PAYABLE:
            who = f"{biller.display_name} · {_('late fee')}"
        else:
            who = biller.display_name
        rows.append((who, -amount))
    return rows


def topup_hold_of(payment) -> TopUpHold | None:
    """The card-write hold of a top-up (billing/topups.py), or None for any other payment: no query for a
    payment to a biller that is not prepaid."""
    if payment is None or payment.biller.payment_mode != PaymentMode.PREPAID:
        return None
    return TopUpHold.objects.filter(payment=payment).first()


def account_no_for_notice(*, biller_code: str, notice_no: str) -> str | None:
    """The account a payment notice (缴款书) of this biller was issued to, found by its number: the lookups
    of the portal and the counter try it when what was typed is not an account number."""
    notice_no = normalize_notice_no(notice_no)[:32]
    if not notice_no:
        return None
    return (
        Bill.objects.filter(biller__code=biller_code, notice_no=notice_no)
        .values_list("account__account_no", flat=True)
        .first()
    )
