"""Cash: till closings against counter payments, per branch and day."""

import datetime
import logging

from django.db import transaction
from django.utils import timezone

from billing.audit import record_audit
from billing.choices import Channel, PaymentStatus
from billing.models import Payment
from billing.money import ZERO
from reconciliation import locks
from reconciliation.choices import (
    MatchClass,
    RunStatus,
)
from reconciliation.exceptions import (
    ReconciliationError,
)
from reconciliation.models import (
    Discrepancy,
    MatchResult,
    ReconciliationRun,
)
from reconciliation.services.complaints import _link_complaints_to_new_discrepancies

logger = logging.getLogger(__name__)


def reconcile_cash(*, branch, day: datetime.date, actor=None) -> ReconciliationRun:
    """The cash channel of one branch and day: every counter payment against the till that took it, and
    every till's count against its payments. Once per branch and day (a constraint); only when every till
    of the day is closed, since an open till has not been counted."""
    from branches.choices import TillStatus
    from branches.models import CounterPayment, Till

    code = f"COUNTER:{branch.code}"
    existing = ReconciliationRun.objects.filter(branch=branch, business_date=day).first()
    if existing is not None and existing.status == RunStatus.DONE:
        return existing
    tills = list(Till.objects.filter(branch=branch, business_date=day).order_by("pk"))
    still_open = [str(t) for t in tills if t.status == TillStatus.OPEN]
    if still_open:
        raise ReconciliationError("tills_open", branch=branch.name, tills=", ".join(still_open))
    with transaction.atomic():
        run, _created = ReconciliationRun.objects.get_or_create(
            branch=branch,
            business_date=day,
            defaults={"channel_code": code, "status": RunStatus.MATCHING, "started_at": timezone.now()},
        )
        run = locks.lock_run(run.pk)
        if run.status == RunStatus.DONE:
            return run
        Discrepancy.objects.filter(run=run).delete()
        MatchResult.objects.filter(run=run).delete()
        payments = list(
            Payment.objects.filter(channel=Channel.COUNTER, branch=branch, business_date=day).order_by("pk")
        )
        taken = {cp.payment_id: cp for cp in CounterPayment.objects.filter(payment__in=payments)}
        rows = []
        for payment in payments:
            counter = taken.get(payment.pk)
            voided = counter is not None and counter.voided_at is not None
            reversed_ = payment.status == PaymentStatus.REVERSED
            if counter is None:
                klass = MatchClass.MISSING_CHANNEL  # posted as cash, but no till took it
            elif voided != reversed_:
                klass = MatchClass.STATUS_MISMATCH
            else:
                klass = MatchClass.MATCHED
            rows.append(
                MatchResult(
                    run=run,
                    klass=klass,
                    method="receipt" if counter else "",
                    payment=payment,
                    payment_amount=payment.amount,
                    line_amount=payment.amount if counter else None,
                    till_id=counter.till_id if counter else None,
                    candidates=1 if counter else 0,
                )
            )
        for till in tills:
            if till.variance:
                rows.append(
                    MatchResult(
                        run=run,
                        klass=MatchClass.AMOUNT_MISMATCH,
                        till=till,
                        line_amount=till.counted_cash - till.opening_float,
                        payment_amount=till.expected_cash - till.opening_float,
                    )
                )
        results = MatchResult.objects.bulk_create(rows)
        Discrepancy.objects.bulk_create(
            [
                Discrepancy(
                    run=run,
                    result=result,
                    klass=result.klass,
                    channel_code=code,
                    business_date=day,
                    payment_id=result.payment_id,
                    biller_id=result.payment.biller_id if result.payment_id else None,
                    till_id=result.till_id if result.payment_id is None else None,
                    line_amount=result.line_amount,
                    payment_amount=result.payment_amount,
                )
                for result in results
                if result.klass != MatchClass.MATCHED
            ]
        )
        run.counts = cash_counts(results, tills)
        run.status = RunStatus.DONE
        run.percent = 100
        run.attempts += 1
        run.finished_at = timezone.now()
        run.save()
        record_audit(
            actor=actor,
            action="reconciliation.cash_matched",
            target=run,
            tills=len(tills),
            payments=len(payments),
        )
        _link_complaints_to_new_discrepancies(run)
    return run


def cash_counts(results: list[MatchResult], tills: list) -> dict:
    """The run's results per class. A till whose count differs is an amount mismatch whose amount is the
    difference (counted minus expected: negative is short), never the day's takings; the class also
    carries the expected and counted cash of those tills."""
    counts = {klass: {"count": 0, "amount": ZERO} for klass in MatchClass.values}
    for result in results:
        counts[result.klass]["count"] += 1
        if result.payment_id is None:  # a till's count against what it took
            counts[result.klass]["amount"] += result.line_amount - result.payment_amount
        else:
            counts[result.klass]["amount"] += result.payment_amount or ZERO
    stored = {k: {"count": v["count"], "amount": str(v["amount"])} for k, v in counts.items()}
    differing = [till for till in tills if till.variance]
    expected = sum((till.expected_cash for till in differing), ZERO)
    counted = sum((till.counted_cash for till in differing), ZERO)
    stored[MatchClass.AMOUNT_MISMATCH].update(
        expected=str(expected), counted=str(counted), difference=str(counted - expected)
    )
    return stored


def reconcile_cash_day(*, day: datetime.date, actor=None) -> list[ReconciliationRun]:
    """Every branch with a till or a counter payment on `day`; a branch with a till still open is left
    for the next run (and said so in the log)."""
    from branches.models import Branch, Till

    branch_ids = set(Till.objects.filter(business_date=day).values_list("branch_id", flat=True)) | set(
        Payment.objects.filter(channel=Channel.COUNTER, business_date=day).values_list("branch_id", flat=True)
    )
    runs = []
    for branch in Branch.objects.filter(pk__in=branch_ids).order_by("code"):
        try:
            runs.append(reconcile_cash(branch=branch, day=day, actor=actor))
        except ReconciliationError as exc:
            logger.warning("cash of %s on %s not reconciled: %s", branch.code, day, exc.message)
    return runs
