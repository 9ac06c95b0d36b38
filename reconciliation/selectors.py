"""Reads of reconciliation: the daily report and the audit trail of a discrepancy."""

import datetime
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from billing import access
from billing.models import AuditEvent
from billing.money import ZERO
from reconciliation.choices import DiscrepancyStatus, MatchClass, RunStatus
from reconciliation.models import Discrepancy, MatchResult, ReconciliationRun, SettlementBatch

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
        )
        .order_by("run__channel_code", "klass")
    )
    channels: dict[str, dict] = {}
    for row in rows:
        channel = channels.setdefault(
            row["run__channel_code"], {klass: {"count": 0, "amount": ZERO} for klass in MatchClass.values}
        )
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
