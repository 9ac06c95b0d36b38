"""Runs: a statement's lines loaded in committed batches, then matched in one transaction."""

import datetime

from django.db import transaction
from django.utils import timezone

from billing.audit import record_audit
from billing.choices import Channel
from reconciliation import locks, matching
from reconciliation.adapters import parse_statement
from reconciliation.choices import (
    MatchClass,
    RunStatus,
)
from reconciliation.models import (
    Discrepancy,
    MatchResult,
    ReconciliationRun,
    StatementLine,
)
from reconciliation.services import agent_topups
from reconciliation.services.channel_codes import parse_channel_code
from reconciliation.services.complaints import _link_complaints_to_new_discrepancies
from reconciliation.services.statements import import_statement

LINE_BATCH_SIZE = 5000


def _after_batch(run: ReconciliationRun, batch_no: int) -> None:
    """A seam between committed batches (tests kill a run here)."""


def run_reconciliation(*, run_id: int, actor=None, batch_size: int = LINE_BATCH_SIZE) -> ReconciliationRun:
    """Load the statement's lines in committed batches, then match them in one transaction. A finished
    run is final: running it again changes nothing. A run killed halfway resumes where it stopped."""
    with transaction.atomic():
        run = locks.lock_run_with_statement(run_id)
        if run.status == RunStatus.DONE:
            return run
        run.status = RunStatus.LOADING
        run.attempts += 1
        run.error = ""
        run.started_at = run.started_at or timezone.now()
        run.save(update_fields=["status", "attempts", "error", "started_at"])
    try:
        _load_lines(run, batch_size)
        _match(run, actor)
    except Exception as exc:
        ReconciliationRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error=str(exc)[:2000])
        raise
    run.refresh_from_db()
    return run


def _load_lines(run: ReconciliationRun, batch_size: int) -> None:
    statement = run.statement
    loaded = StatementLine.objects.filter(statement=statement).count()
    if loaded and loaded >= run.total_lines:
        return  # all in: written by the import (a statement read as a stream), or by an earlier attempt
    parsed = parse_statement(bytes(statement.content), statement.format)
    total = len(parsed.lines)
    for batch_no, start in enumerate(range(loaded, total, batch_size), start=1):
        chunk = parsed.lines[start : start + batch_size]
        with transaction.atomic():
            StatementLine.objects.bulk_create(
                [
                    StatementLine(
                        statement=statement,
                        line_no=ln.line_no,
                        kind=ln.kind,
                        channel_ref=ln.channel_ref,
                        original_ref=ln.original_ref,
                        merchant_ref=ln.merchant_ref,
                        receipt_no=ln.receipt_no,
                        biller_code=ln.biller_code,
                        account_no=ln.account_no,
                        amount=ln.amount,
                        fee=ln.fee,
                        currency=ln.currency,
                        occurred_at=ln.occurred_at,
                    )
                    for ln in chunk
                ],
                ignore_conflicts=True,
            )
            done = start + len(chunk)
            ReconciliationRun.objects.filter(pk=run.pk).update(
                loaded_lines=done, percent=int(80 * done / total) if total else 80
            )
        _after_batch(run, batch_no)


def _match(run: ReconciliationRun, actor, timings: list | None = None) -> None:
    code = parse_channel_code(run.channel_code)
    with transaction.atomic():
        run = locks.lock_run(run.pk)
        if run.status == RunStatus.DONE:
            return
        Discrepancy.objects.filter(run=run).delete()
        MatchResult.objects.filter(run=run).delete()
        run.status = RunStatus.MATCHING
        match = agent_topups.match_float_topups if code.channel == Channel.AGENT else matching.match_statement
        counts = match(
            run_id=run.pk,
            statement_id=run.statement_id,
            channel_code=code.code,
            channel=code.channel,
            source=code.source,
            day=run.business_date,
            amount_tolerance=run.amount_tolerance,
            window_seconds=run.time_window_seconds,
            timings=timings,
        )
        run.counts = counts
        run.status = RunStatus.DONE
        run.percent = 100
        run.loaded_lines = run.total_lines
        run.finished_at = timezone.now()
        run.save()
        record_audit(
            actor=actor,
            action="reconciliation.matched",
            target=run,
            **{k: v["count"] for k, v in counts.items()},
        )
        _link_complaints_to_new_discrepancies(run)
        if counts.get(MatchClass.MISSING_PLATFORM, {}).get("count"):
            # A line with no payment may be a debit a payer or partner disputes: settle those now rather
            # than at beat's next round (services/disputed_debits.py).
            transaction.on_commit(_settle_disputed_debits)


def _settle_disputed_debits() -> None:
    from reconciliation.tasks import resolve_disputed_debits

    resolve_disputed_debits.delay()


def reconcile_file(
    *,
    channel_code: str,
    business_date: datetime.date,
    data: bytes,
    file_name: str,
    fmt: str | None = None,
    actor=None,
) -> ReconciliationRun:
    """`manage.py reconcile` and the nightly task: import (or recognise) the file, then run or resume."""
    result = import_statement(
        channel_code=channel_code,
        business_date=business_date,
        data=data,
        file_name=file_name,
        fmt=fmt,
        actor=actor,
    )
    return run_reconciliation(run_id=result.run.pk, actor=actor)
