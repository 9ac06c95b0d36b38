"""The same matching rules as `matching.py`, in Python over dicts: a test oracle only. The tests compare
what it computes for a day with what the SQL engine stored; nothing runs it in the platform."""

import datetime
from collections import Counter

from django.db.models import Q

from billing.models import Payment
from reconciliation.choices import LineKind, MatchClass, RunStatus
from reconciliation.models import StatementLine

M = MatchClass


def compute(
    *, statement_id, channel_code, channel, source, day, amount_tolerance, window_seconds
) -> list[dict]:
    """One dict per result row: klass, method, line, payment, line_amount, payment_amount, candidates."""
    lines = list(StatementLine.objects.filter(statement_id=statement_id).order_by("line_no").values())
    prior = set(
        StatementLine.objects.filter(
            statement__channel_code=channel_code, statement__run__status=RunStatus.DONE
        )
        .exclude(statement_id=statement_id)
        .values_list("kind", "channel_ref")
    )
    prefix = f"{source}:"
    payments = list(
        Payment.objects.filter(channel=channel, business_date=day, idempotency_key__startswith=prefix)
        .order_by("posted_at", "id")
        .values("id", "channel_ref", "idempotency_key", "receipt_no", "amount", "status", "posted_at")
    )
    seen_ref: Counter = Counter()
    for line in lines:
        seen_ref[(line["kind"], line["channel_ref"])] += 1
        line["rn"] = seen_ref[(line["kind"], line["channel_ref"])]
        line["seen_before"] = (line["kind"], line["channel_ref"]) in prior
    by_ref: Counter = Counter()
    for payment in payments:
        payment["merchant_ref"] = payment["idempotency_key"][len(prefix) :]
        if payment["channel_ref"]:
            by_ref[payment["channel_ref"]] += 1
            payment["rn"] = by_ref[payment["channel_ref"]]
        else:
            payment["rn"] = 1
    first_payment = {p["channel_ref"]: p for p in payments if p["rn"] == 1 and p["channel_ref"]}
    pairs: dict[int, tuple[dict, str]] = {}  # line id → (payment, method)
    paired_payments: set[int] = set()
    payment_lines = [
        ln for ln in lines if ln["kind"] == LineKind.PAYMENT and ln["rn"] == 1 and not ln["seen_before"]
    ]
    for line in payment_lines:
        payment = first_payment.get(line["channel_ref"])
        if payment is not None:
            pairs[line["id"]] = (payment, "channel_ref")
            paired_payments.add(payment["id"])

    def unmatched():
        return (
            [ln for ln in payment_lines if ln["id"] not in pairs],
            [p for p in payments if p["rn"] == 1 and p["id"] not in paired_payments],
        )

    for field, method in (("merchant_ref", "merchant_ref"), ("receipt_no", "receipt")):
        open_lines, open_payments = unmatched()
        line_counts = Counter(ln[field] for ln in open_lines)
        payment_counts = Counter(p[field] for p in open_payments)
        by_value = {p[field]: p for p in open_payments if payment_counts[p[field]] == 1}
        for line in open_lines:
            value = line[field]
            if value and line_counts[value] == 1 and value in by_value:
                pairs[line["id"]] = (by_value[value], method)
                paired_payments.add(by_value[value]["id"])
    open_lines, open_payments = unmatched()
    window = datetime.timedelta(seconds=window_seconds)
    candidates = [
        (line, payment)
        for line in open_lines
        if line["occurred_at"] is not None
        for payment in open_payments
        if abs(payment["amount"] - line["amount"]) <= amount_tolerance
        and abs(payment["posted_at"] - line["occurred_at"]) <= window
    ]
    per_line = Counter(line["id"] for line, _p in candidates)
    per_payment = Counter(payment["id"] for _l, payment in candidates)
    for line, payment in candidates:
        if per_line[line["id"]] == 1 and per_payment[payment["id"]] == 1:
            pairs[line["id"]] = (payment, "amount_time")
            paired_payments.add(payment["id"])

    refunded_refs = {ln["original_ref"] for ln in lines if ln["kind"] == LineKind.REFUND}
    rows = []
    line_by_id = {ln["id"]: ln for ln in lines}
    for line_id, (payment, method) in pairs.items():
        line = line_by_id[line_id]
        if line["amount"] != payment["amount"]:
            klass = M.AMOUNT_MISMATCH
        elif payment["status"] == "reversed" and line["channel_ref"] not in refunded_refs:
            klass = M.STATUS_MISMATCH
        else:
            klass = M.MATCHED
        rows.append(_row(klass, method, line, payment, 1))
    first_line = {(ln["kind"], ln["channel_ref"]): ln for ln in lines if ln["rn"] == 1}
    for line in lines:
        if line["kind"] == LineKind.PAYMENT and (line["rn"] > 1 or line["seen_before"]):
            first = first_line.get((line["kind"], line["channel_ref"]))
            paired = pairs.get(first["id"]) if first else None
            rows.append(_row(M.DUPLICATE, "", line, None, 0, payment_id=paired[0]["id"] if paired else None))
    for line in open_lines:
        if line["id"] not in pairs:
            rows.append(_row(M.MISSING_PLATFORM, "", line, None, per_line[line["id"]]))
    for payment in payments:
        if payment["rn"] > 1:
            rows.append(_row(M.DUPLICATE, "", None, payment, 0))
    for payment in open_payments:
        if payment["id"] not in paired_payments:
            rows.append(_row(M.MISSING_CHANNEL, "", None, payment, per_payment[payment["id"]]))
    refund_targets = _refund_targets(channel, prefix, refunded_refs)
    for line in lines:
        if line["kind"] != LineKind.REFUND:
            continue
        payment = refund_targets.get(line["original_ref"])
        if line["rn"] > 1 or line["seen_before"]:
            klass = M.DUPLICATE
        elif payment is None:
            klass = M.MISSING_PLATFORM
        elif payment["amount"] != line["amount"]:
            klass = M.AMOUNT_MISMATCH
        elif payment["status"] == "posted":
            klass = M.STATUS_MISMATCH
        else:
            klass = M.MATCHED
        method = "" if payment is None or klass == M.DUPLICATE else "channel_ref"
        rows.append(_row(klass, method, line, payment, 0 if payment is None else 1))
    return rows


def _refund_targets(channel, prefix, refs) -> dict:
    targets = {}
    refs = {ref for ref in refs if ref}
    if not refs:
        return targets
    for payment in (
        Payment.objects.filter(Q(channel=channel, idempotency_key__startswith=prefix, channel_ref__in=refs))
        .order_by("posted_at", "id")
        .values("id", "channel_ref", "amount", "status")
    ):
        targets.setdefault(payment["channel_ref"], payment)
    return targets


def _row(klass, method, line, payment, candidates, payment_id=None) -> dict:
    return {
        "klass": klass,
        "method": method,
        "line_id": line["id"] if line else None,
        "payment_id": payment["id"] if payment else payment_id,
        "line_amount": line["amount"] if line else None,
        "payment_amount": payment["amount"] if payment else None,
        "candidates": candidates,
    }
