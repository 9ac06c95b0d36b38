"""Reads of reconciliation: the daily report and the audit trail of a discrepancy."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import access
from billing.models import AuditEvent
from billing.money import ZERO, format_money
from reconciliation.choices import DiscrepancyStatus, MatchClass, RunStatus
from reconciliation.models import (
    Discrepancy,
    MatchResult,
    ReconciliationRun,
    SettlementBatch,
    SettlementItem,
)

BAR_WIDTH = 360


def daily_report(day: datetime.date) -> dict:
    """Counts and amounts per class and channel for a business day, with bar geometry for the SVG."""
    rows = (
        MatchResult.objects.filter(run__business_date=day, run__status=RunStatus.DONE)
        .values("run__channel_code", "klass")
        .annotate(
            count=Count("id"),
            line_total=Coalesce(Sum("line_amount"), ZERO),
            payment_total=Coalesce(Sum("payment_amount"), ZERO),
            difference=Coalesce(Sum(F("line_amount") - F("payment_amount")), ZERO),
        )
        .order_by("run__channel_code", "klass")
    )
    channels: dict[str, dict] = {}
    for row in rows:
        channel = channels.setdefault(
            row["run__channel_code"], {klass: {"count": 0, "amount": ZERO} for klass in MatchClass.values}
        )
        if row["klass"] == MatchClass.AMOUNT_MISMATCH:
            amount = row["difference"]  # what differs, signed (channel or count minus ours), not the takings
        else:
            amount = row["line_total"] if row["line_total"] else row["payment_total"]
        channel[row["klass"]] = {"count": row["count"], "amount": Decimal(amount)}
    totals = {klass: {"count": 0, "amount": ZERO} for klass in MatchClass.values}
    for classes in channels.values():
        for klass, value in classes.items():
            totals[klass]["count"] += value["count"]
            totals[klass]["amount"] += value["amount"]
    biggest = max((value["count"] for value in totals.values()), default=0) or 1
    bars = [
        {
            "klass": klass,
            "label": MatchClass(klass).label,
            "count": totals[klass]["count"],
            "amount": totals[klass]["amount"],
            "width": round(BAR_WIDTH * totals[klass]["count"] / biggest),
            "y": 10 + index * 28,
        }
        for index, klass in enumerate(MatchClass.values)
    ]
    table = [
        {"channel": code, "cells": [classes[klass] for klass in MatchClass.values]}
        for code, classes in sorted(channels.items())
    ]
    runs = ReconciliationRun.objects.filter(business_date=day).order_by("channel_code")
    return {
        "day": day,
        "classes": [MatchClass(klass).label for klass in MatchClass.values],
        "table": table,
        "totals": [totals[klass] for klass in MatchClass.values],
        "bars": bars,
        "chart_height": 20 + 28 * len(MatchClass.values),
        "runs": runs,
    }


def audit_trail(obj) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(target_type=obj._meta.label_lower, target_id=str(obj.pk))
        .select_related("actor")
        .order_by("created_at", "id")
    )


def settlement_report_rows(batch) -> list[dict]:
    """The items of a settlement batch for its report: each with its own business day, and "carried from
    <day>" for those that became settleable after their day's batch (or the day before this cut-off)."""
    items = batch.items.select_related("payment").order_by("business_date", "id")
    return [
        {
            "receipt_no": item.payment.receipt_no,
            "kind": item.get_kind_display(),
            "business_date": item.business_date,
            "amount": item.amount,
            "fee": item.fee,
            "carried": (
                _("carried from %(day)s") % {"day": f"{item.business_date:%Y-%m-%d}"}
                if item.business_date < batch.business_date
                else ""
            ),
        }
        for item in items
    ]


def remittance_rows(batch) -> list[dict]:
    """Where a batch's money goes (issue 17, item 4): the biller's own account (the net less its
    co-beneficiaries' parts) and each co-beneficiary's, with the reference its bank confirms."""
    biller = batch.biller
    own_account = (
        " ".join(part for part in (biller.settlement_bank_name, biller.settlement_account_no) if part)
        or biller.code
    )
    rows = [
        {
            "who": biller.display_name,
            "account": own_account,
            "reference": batch.reference,
            "amount": batch.net - batch.shared,
            "confirmed": _when(batch.confirmed_at),
        }
    ]
    for share in batch.shares.select_related("share"):
        rows.append(
            {
                "who": share.share.display_name,
                "account": f"{share.bank_name} {share.account_name} {share.account_no}",
                "reference": share.reference,
                "amount": share.amount,
                "confirmed": _when(share.confirmed_at),
            }
        )
    return rows


def _when(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else ""


def carried_summaries(day: datetime.date) -> dict[int, list[tuple[datetime.date, int, Decimal]]]:
    """(day, items, net) of what each batch of cut-off `day` carried from each earlier day, by batch id:
    one query for the day's batches (a province's 20,000)."""
    rows = (
        SettlementItem.objects.filter(batch__business_date=day, business_date__lt=day)
        .values("batch_id", "business_date")
        .annotate(count=Count("id"), amount=Sum("amount"), fee=Sum("fee"))
        .order_by("batch_id", "business_date")
    )
    carried: dict[int, list[tuple[datetime.date, int, Decimal]]] = {}
    for row in rows:
        carried.setdefault(row["batch_id"], []).append(
            (row["business_date"], row["count"], row["amount"] - row["fee"])
        )
    return carried


def signed_money(value: Decimal) -> str:
    """A difference with its sign in front of the currency: +¥0.50, -¥0.05, ¥0.00."""
    sign = "-" if value < 0 else "+" if value > 0 else ""
    return f"{sign}¥{format_money(abs(value))}"


@dataclass(frozen=True)
class TillDifference:
    till: object
    expected: Decimal
    counted: Decimal

    @property
    def difference(self) -> Decimal:
        """Counted minus expected: negative is short."""
        return self.counted - self.expected

    def describe(self) -> str:
        """Expected, counted and the signed difference, in the active language."""
        return _("expected ¥%(expected)s, counted ¥%(counted)s, difference %(difference)s") % {
            "expected": format_money(self.expected),
            "counted": format_money(self.counted),
            "difference": signed_money(self.difference),
        }


def till_difference(till) -> TillDifference | None:
    """A closed till's count against what it should hold; None while it is open."""
    if till is None or till.counted_cash is None or till.expected_cash is None:
        return None
    return TillDifference(till=till, expected=till.expected_cash, counted=till.counted_cash)


def till_differences(run: ReconciliationRun) -> list[TillDifference]:
    """The tills of a cash run whose count differs from what they should hold, in till order."""
    results = run.results.filter(till__isnull=False, payment__isnull=True).select_related("till")
    return [till_difference(result.till) for result in results.order_by("till_id")]


# --- the staff home (billing/dashboard.py): one query each, scoped to what the user may see ------------

# Open discrepancies by age since their business day: the buckets the dashboard counts.
AGE_BUCKETS = ((0, 1), (2, 7), (8, None))


def open_discrepancies_by_class_and_age(user, today: datetime.date) -> list[tuple[str, list[int], int]]:
    """Unresolved discrepancies per class: [(class, [count per AGE_BUCKETS], total)], most first."""
    ages = {}
    for index, (low, high) in enumerate(AGE_BUCKETS):
        window = Q(business_date__lte=today - datetime.timedelta(days=low))
        if high is not None:
            window &= Q(business_date__gte=today - datetime.timedelta(days=high))
        ages[f"age{index}"] = Count("pk", filter=window)
    rows = (
        access.scoped_queryset(user, Discrepancy)
        .exclude(status=DiscrepancyStatus.RESOLVED)
        .values("klass")
        .annotate(total=Count("pk"), **ages)
        .order_by("-total", "klass")
    )
    return [(row["klass"], [row[f"age{i}"] for i in range(len(AGE_BUCKETS))], row["total"]) for row in rows]


def write_offs_awaiting_approval(user, today: datetime.date) -> int:
    return (
        access.scoped_queryset(user, Discrepancy).filter(status=DiscrepancyStatus.AWAITING_APPROVAL).count()
    )


def settlement_status(user, today: datetime.date) -> list[dict]:
    """Today's and yesterday's settlement batches by day and status: [{business_date, status, count, net}]"""
    return list(
        access.scoped_queryset(user, SettlementBatch)
        .filter(business_date__in=[today, today - datetime.timedelta(days=1)])
        .values("business_date", "status")
        .annotate(count=Count("pk"), net=Sum("net"))
        .order_by("-business_date", "status")
    )
