"""Writes of reconciliation and settlement. Money moves only through billing.services (post_payment,
reverse_payment) and billing.ledger (settlement and write-off entries); every action is audited."""

import datetime
import hashlib
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _g

from billing import access, ledger, roles, untrusted_files
from billing import locks as billing_locks
from billing.audit import record_audit
from billing.choices import Channel, PaymentStatus
from billing.fees import compute_fee, schedule_on
from billing.models import Biller, Payment
from billing.money import ZERO
from billing.rules import normalize_account_no, normalize_code
from billing.services import post_payment, reverse_payment
from billing.transitions import transition
from reconciliation import locks, matching, remittance
from reconciliation.adapters import ParsedStatement, parse_statement
from reconciliation.adapters import camt as camt_adapter
from reconciliation.choices import (
    ALLOWED_RESOLUTIONS,
    COMPLAINT_TRANSITIONS,
    DISCREPANCY_TRANSITIONS,
    ComplaintStatus,
    DiscrepancyStatus,
    LineKind,
    MatchClass,
    Resolution,
    RunStatus,
    SettlementStatus,
    StatementFormat,
)
from reconciliation.exceptions import (
    ReconciliationError,
    ReconciliationTransitionNotAllowed,
    StatementRefused,
)
from reconciliation.models import (
    Complaint,
    Discrepancy,
    MatchResult,
    ReconciliationRun,
    SettlementBatch,
    SettlementChannelTotal,
    SettlementItem,
    SettlementRun,
    StatementFile,
    StatementLine,
)

logger = logging.getLogger(__name__)

CHANNEL_PREFIXES = {"ONLINE": Channel.ONLINE, "PARTNER": Channel.PARTNER, "COUNTER": Channel.COUNTER}
LINE_BATCH_SIZE = 5000


# --- channel codes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelCode:
    code: str
    channel: str
    source: str


def parse_channel_code(code: str) -> ChannelCode:
    """`ONLINE:<gateway>` or `PARTNER:<code>` (docs/statement-format.md); the cash channel has no file."""
    code = normalize_code(code)
    prefix, _sep, source = code.partition(":")
    if prefix not in CHANNEL_PREFIXES or not source or len(code) > 48:
        raise ReconciliationError("channel_code_invalid", channel=code)
    return ChannelCode(code=code, channel=CHANNEL_PREFIXES[prefix], source=source)


def _require_recon_staff(actor) -> None:
    held = access.roles_of(actor)
    if not held & {roles.PLATFORM_ADMIN, roles.RECONCILIATION_OFFICER} and not getattr(
        actor, "is_superuser", False
    ):
        raise ReconciliationError("not_reconciliation_staff")


def is_recon_staff(user) -> bool:
    try:
        _require_recon_staff(user)
    except ReconciliationError:
        return False
    return True


# --- statement import ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    statement: StatementFile
    run: ReconciliationRun
    created: bool


def _check_statement(parsed: ParsedStatement, code: ChannelCode, day: datetime.date) -> None:
    if parsed.format == StatementFormat.BILLPAY:
        if parsed.channel_code != code.code:
            raise StatementRefused("header_mismatch", line=1, stated=parsed.channel_code, expected=code.code)
        if parsed.business_date != day:
            raise StatementRefused("header_mismatch", line=1, stated=parsed.business_date, expected=day)
    for line in parsed.lines:
        if line.currency != "CNY":
            raise StatementRefused("currency_not_cny", line=line.line_no, currency=line.currency)
        local_day = timezone.localdate(line.occurred_at) if line.occurred_at else None
        if (
            parsed.format in (StatementFormat.WECHAT, StatementFormat.ALIPAY)
            and line.kind == LineKind.PAYMENT
            and local_day != day
        ):
            raise StatementRefused(
                "line_invalid",
                line=line.line_no,
                reason=_g("the trade is of %(stated)s, not of the statement's day %(day)s")
                % {"stated": local_day, "day": day},
            )


def _statement_channel(channel_code: str) -> ChannelCode:
    code = parse_channel_code(channel_code)
    if code.channel == Channel.COUNTER:  # cash is reconciled from till closings, not from a file
        raise ReconciliationError("channel_code_invalid", channel=code.code)
    return code


def import_statement(
    *,
    channel_code: str,
    business_date: datetime.date,
    data: bytes,
    file_name: str,
    fmt: str | None = None,
    actor=None,
    amount_tolerance: Decimal | None = None,
    time_window_seconds: int | None = None,
) -> ImportResult:
    """Check a statement file whole (within the bounds of billing.untrusted_files) and keep it (bytes,
    SHA-256 and content fingerprint) with a pending run.

    A statement is recognised by its bytes and by its content (channel, day and decoded lines): the same
    statement again — the same bytes, or re-sent with CRLF, a BOM, gzipped — returns the first import and
    changes nothing. A different statement for a channel and day that already has one is refused
    (`statement_day_taken`): the first one's matches are never reopened. A refused file stores nothing."""
    code = _statement_channel(channel_code)
    try:
        return _import_statement(
            code=code,
            business_date=business_date,
            data=data,
            file_name=file_name,
            fmt=fmt,
            actor=actor,
            amount_tolerance=amount_tolerance,
            time_window_seconds=time_window_seconds,
        )
    except StatementRefused as refused:
        logger.warning(
            "statement refused: %s %s %s (%s bytes): %s %s",
            code.code,
            business_date,
            file_name[:255],
            len(data),
            refused.code,
            refused.params,
        )
        raise


def _import_statement(
    *, code, business_date, data, file_name, fmt, actor, amount_tolerance, time_window_seconds
):
    with untrusted_files.refusals_as(StatementRefused):
        untrusted_files.check_size(len(data), "statement")
    sha = hashlib.sha256(data).hexdigest()
    existing = StatementFile.objects.filter(sha256=sha).select_related("run").first()
    if existing is not None:
        return _recognised(existing, code, business_date)
    parsed = parse_statement(data, fmt)
    _check_statement(parsed, code, business_date)
    fingerprint = parsed.fingerprint(code.code, business_date)
    same_day = _statement_of_day(code, business_date, fingerprint)
    if same_day is not None:
        return same_day
    try:
        with transaction.atomic():
            statement = StatementFile.objects.create(
                channel_code=code.code,
                business_date=business_date,
                format=parsed.format,
                file_name=file_name[:255],
                sha256=sha,
                content_fingerprint=fingerprint,
                size=len(data),
                content=data,
                line_count=len(parsed.lines),
                payments_total=parsed.payments_total,
                refunds_total=parsed.refunds_total,
                fees_total=parsed.fees_total,
                imported_by=actor if getattr(actor, "pk", None) else None,
            )
            run = ReconciliationRun.objects.create(
                statement=statement,
                channel_code=code.code,
                business_date=business_date,
                total_lines=len(parsed.lines),
                amount_tolerance=amount_tolerance
                if amount_tolerance is not None
                else settings.RECON_AMOUNT_TOLERANCE,
                time_window_seconds=time_window_seconds
                if time_window_seconds is not None
                else settings.RECON_TIME_WINDOW_SECONDS,
            )
            record_audit(
                actor=actor,
                action="statement.imported",
                target=statement,
                sha256=sha,
                fingerprint=fingerprint,
                format=parsed.format,
                lines=len(parsed.lines),
                payments_total=parsed.payments_total,
                refunds_total=parsed.refunds_total,
            )
    except IntegrityError:
        # Another import of the same bytes, or for the same channel and day, committed first.
        existing = StatementFile.objects.filter(sha256=sha).select_related("run").first()
        if existing is not None:
            return _recognised(existing, code, business_date)
        same_day = _statement_of_day(code, business_date, fingerprint)
        if same_day is None:
            raise
        return same_day
    return ImportResult(statement=statement, run=run, created=True)


def _statement_of_day(code: ChannelCode, day: datetime.date, fingerprint: str) -> ImportResult | None:
    """The import already in for this channel and day: the same content is recognised (None when there is
    none), a different one refused."""
    existing = list(
        StatementFile.objects.filter(channel_code=code.code, business_date=day)
        .select_related("run")
        .order_by("imported_at", "pk")
    )
    for statement in existing:  # more than one only from before the rule
        if _fingerprint_of(statement) == fingerprint:
            return ImportResult(statement=statement, run=statement.run, created=False)
    if not existing:
        return None
    first = existing[0]
    raise StatementRefused(
        "statement_day_taken",
        file_name=first.file_name,
        imported=timezone.localtime(first.imported_at).strftime("%Y-%m-%d %H:%M"),
        channel=first.channel_code,
        day=first.business_date,
    )


def _fingerprint_of(statement: StatementFile) -> str:
    """A statement's content fingerprint; one imported before fingerprints existed is read again."""
    if statement.content_fingerprint:
        return statement.content_fingerprint
    try:
        parsed = parse_statement(bytes(statement.content), statement.format)
    except StatementRefused:
        return ""
    return parsed.fingerprint(statement.channel_code, statement.business_date)


def _recognised(existing: StatementFile, code: ChannelCode, day: datetime.date) -> ImportResult:
    if existing.channel_code != code.code or existing.business_date != day:
        raise StatementRefused(
            "statement_already_imported",
            sha=existing.sha256[:12],
            channel=existing.channel_code,
            day=existing.business_date,
        )
    return ImportResult(statement=existing, run=existing.run, created=False)


# --- runs --------------------------------------------------------------------------------------------


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
    parsed = parse_statement(bytes(statement.content), statement.format)
    loaded = StatementLine.objects.filter(statement=statement).count()
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
        counts = matching.match_statement(
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


# --- discrepancies -----------------------------------------------------------------------------------


def _transition(discrepancy: Discrepancy, target: str) -> None:
    transition(
        discrepancy,
        target,
        table=DISCREPANCY_TRANSITIONS,
        choices=DiscrepancyStatus,
        error=ReconciliationTransitionNotAllowed,
    )


def _lock_discrepancy(pk: int) -> Discrepancy:
    return locks.lock_discrepancy(pk)


def assign_discrepancy(*, discrepancy: Discrepancy, assignee, actor) -> Discrepancy:
    _require_recon_staff(actor)
    _require_recon_staff(assignee)
    with transaction.atomic():
        discrepancy = _lock_discrepancy(discrepancy.pk)
        if discrepancy.status == DiscrepancyStatus.RESOLVED:
            raise ReconciliationError("discrepancy_closed", id=discrepancy.pk)
        if discrepancy.status != DiscrepancyStatus.AWAITING_APPROVAL:
            _transition(discrepancy, DiscrepancyStatus.ASSIGNED)
        discrepancy.assignee = assignee
        discrepancy.save(update_fields=["status", "assignee"])
        record_audit(
            actor=actor, action="discrepancy.assigned", target=discrepancy, assignee=assignee.get_username()
        )
    return discrepancy


def allowed_resolutions(discrepancy: Discrepancy) -> tuple[str, ...]:
    """The actions that fit the discrepancy: its class's, narrowed by what it concerns."""
    if discrepancy.till_id is not None:
        return (Resolution.ACCEPT_VARIANCE,) if discrepancy.till.variance_entry_id else ()
    actions = [a for a in ALLOWED_RESOLUTIONS[discrepancy.klass] if a != Resolution.ACCEPT_VARIANCE]
    if discrepancy.payment_id is None:
        actions = [a for a in actions if a not in (Resolution.REVERSE_OURS, Resolution.RECORD_REFUND)]
    if discrepancy.line_id is None or discrepancy.line.kind != LineKind.PAYMENT:
        actions = [a for a in actions if a != Resolution.POST_MISSING]
    return tuple(actions)


def write_off_amount(discrepancy: Discrepancy) -> Decimal:
    """How far the channel's clearing account must move (debit positive) to agree with the channel."""
    line_amount = discrepancy.line_amount or ZERO
    payment_amount = discrepancy.payment_amount or ZERO
    refund_line = discrepancy.line_id is not None and discrepancy.line.kind == LineKind.REFUND
    if discrepancy.klass == MatchClass.STATUS_MISMATCH:
        return -line_amount if refund_line else line_amount
    difference = line_amount - payment_amount
    return -difference if refund_line else difference


def resolve_discrepancy(
    *,
    discrepancy: Discrepancy,
    action: str,
    note: str,
    actor,
    biller_code: str = "",
    account_no: str = "",
) -> Discrepancy:
    """Close a discrepancy with an action that keeps the ledger balanced. A write-off is only asked for
    here; a second person approves it (`approve_write_off`)."""
    _require_recon_staff(actor)
    note = (note or "").strip()
    if not note:
        raise ReconciliationError("note_required")
    with transaction.atomic():
        discrepancy = _lock_discrepancy(discrepancy.pk)
        if discrepancy.status == DiscrepancyStatus.RESOLVED:
            raise ReconciliationError("discrepancy_closed", id=discrepancy.pk)
        if action not in allowed_resolutions(discrepancy):
            raise ReconciliationError(
                "not_resolvable",
                klass=MatchClass(discrepancy.klass).label,
                action=Resolution(action).label if action in Resolution.values else action,
            )
        if action == Resolution.ACCEPT_VARIANCE:
            # The till's close already posted its over/short entry: the ledger is balanced by it.
            discrepancy.resolution_entry = discrepancy.till.variance_entry
            _close(discrepancy, action=action, note=note, actor=actor, till=discrepancy.till_id)
            return discrepancy
        code = parse_channel_code(discrepancy.channel_code)
        if action == Resolution.WRITE_OFF:
            if write_off_amount(discrepancy) == ZERO:
                raise ReconciliationError("nothing_to_difference")
            _transition(discrepancy, DiscrepancyStatus.AWAITING_APPROVAL)
            discrepancy.write_off_requested_by = actor
            discrepancy.resolution_note = note
            discrepancy.save(update_fields=["status", "write_off_requested_by", "resolution_note"])
            record_audit(
                actor=actor,
                action="discrepancy.write_off_requested",
                target=discrepancy,
                reason=note,
                amount=write_off_amount(discrepancy),
            )
            return discrepancy
        if action == Resolution.POST_MISSING:
            line = discrepancy.line
            biller_code = normalize_code(biller_code or line.biller_code)
            account_no = normalize_account_no(account_no or line.account_no)
            if not biller_code or not account_no:
                raise ReconciliationError("post_missing_needs_account")
            result = post_payment(
                channel=code.channel,
                idempotency_key=f"{code.source}:{line.merchant_ref or line.channel_ref}"[:128],
                biller_code=biller_code,
                account_no=account_no,
                amount=line.amount,
                channel_ref=line.channel_ref,
                actor=actor,
            )
            discrepancy.resolution_payment = result.payment
            discrepancy.resolution_entry = result.payment.journal_entries.order_by("id").first()
            discrepancy.biller_id = result.payment.biller_id
        else:  # reverse ours, or record the refund the channel made
            payment = reverse_payment(payment=discrepancy.payment, actor=actor, reason=note)
            discrepancy.resolution_entry = payment.journal_entries.order_by("-id").first()
        _close(discrepancy, action=action, note=note, actor=actor)
    return discrepancy


def approve_write_off(*, discrepancy: Discrepancy, actor, note: str = "") -> Discrepancy:
    _require_recon_staff(actor)
    with transaction.atomic():
        discrepancy = _lock_discrepancy(discrepancy.pk)
        if discrepancy.status != DiscrepancyStatus.AWAITING_APPROVAL:
            raise ReconciliationError("write_off_not_requested", id=discrepancy.pk)
        if discrepancy.write_off_requested_by_id == actor.pk:
            raise ReconciliationError("write_off_second_person", user=actor.get_username())
        code = parse_channel_code(discrepancy.channel_code)
        amount = write_off_amount(discrepancy)
        entry = ledger.post_write_off_entry(
            channel=code.channel,
            branch=discrepancy.run.branch,
            amount=amount,
            business_date=timezone.localdate(),
            memo=f"D{discrepancy.pk} {discrepancy.channel_code} {discrepancy.business_date}",
            actor=actor,
        )
        discrepancy.resolution_entry = entry
        full_note = discrepancy.resolution_note + (f"\n{note.strip()}" if note.strip() else "")
        _close(discrepancy, action=Resolution.WRITE_OFF, note=full_note, actor=actor, amount=amount)
    return discrepancy


def reject_write_off(*, discrepancy: Discrepancy, actor, note: str) -> Discrepancy:
    _require_recon_staff(actor)
    if not (note or "").strip():
        raise ReconciliationError("note_required")
    with transaction.atomic():
        discrepancy = _lock_discrepancy(discrepancy.pk)
        if discrepancy.status != DiscrepancyStatus.AWAITING_APPROVAL:
            raise ReconciliationError("write_off_not_requested", id=discrepancy.pk)
        _transition(discrepancy, DiscrepancyStatus.ASSIGNED)
        discrepancy.assignee = discrepancy.write_off_requested_by
        discrepancy.write_off_requested_by = None
        discrepancy.save(update_fields=["status", "assignee", "write_off_requested_by"])
        record_audit(actor=actor, action="discrepancy.write_off_rejected", target=discrepancy, reason=note)
    return discrepancy


def _close(discrepancy: Discrepancy, *, action: str, note: str, actor, **data) -> None:
    _transition(discrepancy, DiscrepancyStatus.RESOLVED)
    discrepancy.resolution = action
    discrepancy.resolution_note = note
    discrepancy.resolved_by = actor
    discrepancy.resolved_at = timezone.now()
    discrepancy.save()
    record_audit(
        actor=actor,
        action="discrepancy.resolved",
        target=discrepancy,
        reason=note,
        resolution=action,
        journal_entry=discrepancy.resolution_entry_id,
        **data,
    )
    for complaint in locks.lock_open_complaints_of(discrepancy, resolved=ComplaintStatus.RESOLVED):
        open_left = complaint.discrepancies.exclude(status=DiscrepancyStatus.RESOLVED).exclude(
            pk=discrepancy.pk
        )
        record_audit(
            actor=actor, action="complaint.discrepancy_resolved", target=complaint, discrepancy=discrepancy.pk
        )
        if not open_left.exists():
            outcome = _g("The difference on your payment was found and corrected: %(action)s. %(note)s") % {
                "action": Resolution(action).label,
                "note": note,
            }
            _resolve_complaint_locked(complaint, outcome=outcome, actor=actor)


# --- settlement ------------------------------------------------------------------------------------


def reconciled_payments(*, biller: Biller, day: datetime.date):
    """Payments of the biller and day that reconciliation accepted and nobody has settled yet."""
    # A payment of `day` is matched by a run of `day` (a refund line may match an older payment, but that
    # payment is reversed and never settled).
    matched = MatchResult.objects.filter(
        run__business_date=day, run__status=RunStatus.DONE, klass=MatchClass.MATCHED, payment_id__isnull=False
    )
    posted_to_resolve = Discrepancy.objects.filter(
        status=DiscrepancyStatus.RESOLVED, resolution_payment__isnull=False
    ).values("resolution_payment_id")
    return (
        Payment.objects.filter(biller=biller, business_date=day, status=PaymentStatus.POSTED)
        .filter(Q(pk__in=matched.values("payment_id")) | Q(pk__in=posted_to_resolve))
        .exclude(pk__in=SettlementItem.objects.values("payment_id"))
        .order_by("channel", "posted_at", "id")
    )


def build_settlement(*, biller: Biller, day: datetime.date, actor=None) -> SettlementBatch | None:
    """One batch per biller and day (a unique constraint, and the biller row locked while building)."""
    with transaction.atomic():
        biller = billing_locks.lock_biller(biller.pk)
        existing = SettlementBatch.objects.filter(biller=biller, business_date=day).first()
        if existing is not None:
            return existing
        payments = list(reconciled_payments(biller=biller, day=day))
        if not payments:
            return None
        per_channel: dict[str, list] = {}
        items = []
        for payment in payments:
            schedule = _schedule(biller, payment.channel, day)
            fee = ZERO
            if schedule is not None and not schedule.payer_pays:
                fee = compute_fee(
                    amount=payment.amount,
                    fixed=schedule.fixed_fee,
                    percentage=schedule.percentage,
                    min_fee=schedule.min_fee,
                    max_fee=schedule.max_fee,
                )
                fee = min(fee, payment.amount)
            items.append((payment, fee))
            per_channel.setdefault(payment.channel, []).append((payment, fee))
        gross = sum((p.amount for p, _f in items), ZERO)
        fees = sum((f for _p, f in items), ZERO)
        reference = f"S{day:%Y%m%d}{biller.code}"[:40]
        batch = SettlementBatch.objects.create(
            reference=reference,
            biller=biller,
            business_date=day,
            payment_count=len(items),
            gross=gross,
            fees=fees,
            net=gross - fees,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        SettlementChannelTotal.objects.bulk_create(
            [
                SettlementChannelTotal(
                    batch=batch,
                    channel=channel,
                    payment_count=len(rows),
                    gross=sum((p.amount for p, _f in rows), ZERO),
                    fees=sum((f for _p, f in rows), ZERO),
                    net=sum((p.amount - f for p, f in rows), ZERO),
                )
                for channel, rows in sorted(per_channel.items())
            ]
        )
        SettlementItem.objects.bulk_create(
            [
                SettlementItem(batch=batch, payment=payment, amount=payment.amount, fee=fee)
                for payment, fee in items
            ]
        )
        batch.journal_entry = ledger.post_settlement_entry(
            biller=biller,
            gross=gross,
            fees=fees,
            business_date=day,
            memo=f"{reference} {biller.code}",
            actor=actor,
        )
        batch.remittance_csv = remittance.remittance_csv(batch, items)
        batch.remittance_xml = remittance.remittance_camt054(batch, items)
        batch.save(update_fields=["journal_entry", "remittance_csv", "remittance_xml"])
        record_audit(
            actor=actor, action="settlement.built", target=batch, gross=gross, fees=fees, net=gross - fees
        )
    return batch


def _schedule(biller, channel, day):
    return schedule_on(biller=biller, channel=channel, on_date=day)


def _after_biller(run: SettlementRun, done: int) -> None:
    """A seam between committed billers (tests kill a run here)."""


def settle_day(*, day: datetime.date, actor=None) -> SettlementRun:
    """`manage.py settle --date` and the nightly T+1 task: a batch for each biller with reconciled money
    on `day`, each in its own transaction; a rerun skips what is built and resumes the rest."""
    run, _created = SettlementRun.objects.get_or_create(business_date=day)
    SettlementRun.objects.filter(pk=run.pk).update(
        status=RunStatus.LOADING,
        attempts=run.attempts + 1,
        error="",
        started_at=run.started_at or timezone.now(),
    )
    try:
        biller_ids = sorted(
            set(
                Payment.objects.filter(business_date=day, status=PaymentStatus.POSTED).values_list(
                    "biller_id", flat=True
                )
            )
        )
        SettlementRun.objects.filter(pk=run.pk).update(billers_total=len(biller_ids))
        for done, biller_id in enumerate(biller_ids, start=1):
            build_settlement(biller=Biller.objects.get(pk=biller_id), day=day, actor=actor)
            SettlementRun.objects.filter(pk=run.pk).update(
                billers_done=done,
                percent=int(100 * done / len(biller_ids)),
                batches_built=SettlementBatch.objects.filter(business_date=day).count(),
            )
            _after_biller(run, done)
        SettlementRun.objects.filter(pk=run.pk).update(
            status=RunStatus.DONE,
            percent=100,
            finished_at=timezone.now(),
            batches_built=SettlementBatch.objects.filter(business_date=day).count(),
        )
    except Exception as exc:
        SettlementRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error=str(exc)[:2000])
        raise
    built_before = run.batches_built
    run.refresh_from_db()
    if run.batches_built != built_before or run.attempts == 1:  # a rerun that built nothing changes nothing
        record_audit(actor=actor, action="settlement.day_settled", target=run, batches=run.batches_built)
    return run


def import_settlement_confirmation(*, data: bytes, actor=None) -> list[SettlementBatch]:
    """The biller's bank confirms the credit with a camt.054: each credit names the batch reference
    (EndToEndId) and must carry exactly its net amount."""
    with untrusted_files.refusals_as(StatementRefused):
        untrusted_files.check_size(len(data), "confirmation")
    parsed = camt_adapter.parse(data)
    if parsed.format != StatementFormat.CAMT054:
        raise StatementRefused("format_mismatch", format="camt.054", reason=parsed.format)
    sha = hashlib.sha256(data).hexdigest()
    confirmed = []
    with transaction.atomic():
        for line in parsed.lines:
            if line.kind != LineKind.PAYMENT:
                continue
            if line.currency != "CNY":
                raise StatementRefused("currency_not_cny", line=line.line_no, currency=line.currency)
            reference = line.merchant_ref or line.channel_ref
            batch = locks.lock_settlement_batch_by_reference(reference)
            if batch is None or batch.net != line.amount:
                raise ReconciliationError("confirmation_no_match", amount=line.amount, reference=reference)
            if batch.status == SettlementStatus.CONFIRMED:
                if batch.confirmation_sha256 == sha:
                    confirmed.append(batch)
                    continue
                raise ReconciliationError("confirmation_already", reference=reference)
            batch.status = SettlementStatus.CONFIRMED
            batch.confirmation_sha256 = sha
            batch.confirmation_content = data
            batch.confirmed_at = timezone.now()
            batch.save(
                update_fields=["status", "confirmation_sha256", "confirmation_content", "confirmed_at"]
            )
            record_audit(
                actor=actor, action="settlement.confirmed", target=batch, sha256=sha, amount=line.amount
            )
            confirmed.append(batch)
        if not confirmed:
            raise ReconciliationError("confirmation_no_match", amount="-", reference="-")
    return confirmed


# --- complaints --------------------------------------------------------------------------------------


def raise_complaint(
    *,
    receipt_no: str,
    reason: str,
    contact_name: str,
    contact_email: str = "",
    contact_phone: str = "",
    details: str = "",
    actor=None,
) -> Complaint:
    receipt_no = normalize_code(receipt_no)
    payment = Payment.objects.filter(receipt_no=receipt_no).first()
    if payment is None:
        raise ReconciliationError("receipt_unknown", receipt_no=receipt_no)
    if not (contact_email or "").strip() and not (contact_phone or "").strip():
        raise ReconciliationError("contact_required")
    now = timezone.now()
    with transaction.atomic():
        complaint = Complaint.objects.create(
            payment=payment,
            reason=reason,
            details=details[:4000],
            contact_name=contact_name[:60],
            contact_email=contact_email.strip(),
            contact_phone=contact_phone.strip()[:30],
            due_at=now + datetime.timedelta(hours=settings.RECON_COMPLAINT_RESPONSE_HOURS),
            created_at=now,
        )
        complaint.discrepancies.set(
            Discrepancy.objects.filter(Q(payment=payment) | Q(resolution_payment=payment)).exclude(
                status=DiscrepancyStatus.RESOLVED
            )
        )
        record_audit(
            actor=actor, action="complaint.logged", target=complaint, reason=reason, receipt_no=receipt_no
        )
        _notify(complaint, "logged")
    return complaint


def _link_complaints_to_new_discrepancies(run: ReconciliationRun) -> None:
    """A complaint raised before the statement arrived gets the discrepancies found on its payment."""
    open_complaints = Complaint.objects.exclude(status=ComplaintStatus.RESOLVED).filter(
        payment__in=Discrepancy.objects.filter(run=run).values("payment_id")
    )
    for complaint in open_complaints:
        complaint.discrepancies.add(*Discrepancy.objects.filter(run=run, payment=complaint.payment_id))


def _complaint_transition(complaint: Complaint, target: str) -> None:
    transition(
        complaint,
        target,
        table=COMPLAINT_TRANSITIONS,
        choices=ComplaintStatus,
        error=ReconciliationTransitionNotAllowed,
    )


def assign_complaint(*, complaint: Complaint, assignee, actor) -> Complaint:
    _require_recon_staff(actor)
    with transaction.atomic():
        complaint = locks.lock_complaint(complaint.pk)
        _complaint_transition(complaint, ComplaintStatus.ASSIGNED)
        complaint.assignee = assignee
        complaint.save(update_fields=["status", "assignee"])
        record_audit(
            actor=actor, action="complaint.assigned", target=complaint, assignee=assignee.get_username()
        )
    return complaint


def escalate_complaint(*, complaint: Complaint, actor, note: str) -> Complaint:
    _require_recon_staff(actor)
    if not (note or "").strip():
        raise ReconciliationError("note_required")
    with transaction.atomic():
        complaint = locks.lock_complaint(complaint.pk)
        _complaint_transition(complaint, ComplaintStatus.ESCALATED)
        complaint.save(update_fields=["status"])
        record_audit(actor=actor, action="complaint.escalated", target=complaint, reason=note)
    return complaint


def resolve_complaint(*, complaint: Complaint, outcome: str, actor) -> Complaint:
    _require_recon_staff(actor)
    if not (outcome or "").strip():
        raise ReconciliationError("outcome_required")
    with transaction.atomic():
        complaint = locks.lock_complaint(complaint.pk)
        _resolve_complaint_locked(complaint, outcome=outcome.strip(), actor=actor)
        for discrepancy in complaint.discrepancies.exclude(status=DiscrepancyStatus.RESOLVED):
            record_audit(
                actor=actor,
                action="discrepancy.complaint_resolved",
                target=discrepancy,
                reason=outcome,
                complaint=complaint.pk,
            )
    return complaint


def _resolve_complaint_locked(complaint: Complaint, *, outcome: str, actor) -> None:
    _complaint_transition(complaint, ComplaintStatus.RESOLVED)
    complaint.outcome = outcome
    complaint.resolved_at = timezone.now()
    complaint.save(update_fields=["status", "outcome", "resolved_at"])
    record_audit(actor=actor, action="complaint.resolved", target=complaint, reason=outcome)
    _notify(complaint, "resolved")


def _notify(complaint: Complaint, event: str) -> None:
    """Tell the citizen, after the commit (an e-mail; the demo's backend prints it)."""
    if not complaint.contact_email:
        return
    complaint_id = complaint.pk

    def send():
        from reconciliation.tasks import send_complaint_notice

        send_complaint_notice.delay(complaint_id, event)

    transaction.on_commit(send)


def complaint_notice(complaint: Complaint, event: str) -> tuple[str, str]:
    if event == "logged":
        subject = _g("We have your complaint C%(id)s") % {"id": complaint.pk}
        body = _g(
            "Dear %(name)s,\n\nWe have logged your complaint about payment %(receipt)s (%(reason)s). "
            "We will answer by %(due)s.\n"
        ) % {
            "name": complaint.contact_name,
            "receipt": complaint.payment.receipt_no,
            "reason": complaint.get_reason_display(),
            "due": timezone.localtime(complaint.due_at).strftime("%Y-%m-%d %H:%M"),
        }
    else:
        subject = _g("Your complaint C%(id)s is resolved") % {"id": complaint.pk}
        body = _g(
            "Dear %(name)s,\n\nYour complaint about payment %(receipt)s is resolved.\n\n%(outcome)s\n"
        ) % {
            "name": complaint.contact_name,
            "receipt": complaint.payment.receipt_no,
            "outcome": complaint.outcome,
        }
    return subject, body


def send_notice(complaint_id: int, event: str) -> None:
    complaint = Complaint.objects.select_related("payment").get(pk=complaint_id)
    subject, body = complaint_notice(complaint, event)
    send_mail(subject, body, None, [complaint.contact_email])
    record_audit(
        actor=None, action=f"complaint.notified_{event}", target=complaint, to=complaint.contact_email
    )


# --- cash: till closings against counter payments --------------------------------------------------


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
        counts = {klass: {"count": 0, "amount": ZERO} for klass in MatchClass.values}
        for result in results:
            counts[result.klass]["count"] += 1
            counts[result.klass]["amount"] += result.payment_amount or ZERO
        run.counts = {k: {"count": v["count"], "amount": str(v["amount"])} for k, v in counts.items()}
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
