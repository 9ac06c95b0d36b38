"""Statement import: a channel's file checked whole, kept once, with a pending run."""

import datetime
import hashlib
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from billing import untrusted_files
from billing.audit import record_audit
from billing.choices import Channel
from reconciliation.adapters import ParsedLine, ParsedStatement, parse_statement, stream_statement
from reconciliation.choices import (
    LineKind,
    StatementFormat,
)
from reconciliation.exceptions import (
    ReconciliationError,
    StatementRefused,
)
from reconciliation.models import (
    ReconciliationRun,
    StatementFile,
)
from reconciliation.services import statement_lines
from reconciliation.services.channel_codes import ChannelCode, parse_channel_code

logger = logging.getLogger(__name__)


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
        _check_line(line, parsed.format, day)


def _check_line(line: ParsedLine, fmt: str, day: datetime.date) -> None:
    if line.currency != "CNY":
        raise StatementRefused("currency_not_cny", line=line.line_no, currency=line.currency)
    if fmt in (StatementFormat.WECHAT, StatementFormat.ALIPAY) and line.kind == LineKind.PAYMENT:
        local_day = timezone.localdate(line.occurred_at) if line.occurred_at else None
        if local_day != day:
            raise StatementRefused(
                "line_invalid",
                line=line.line_no,
                reason=gettext("the trade is of %(stated)s, not of the statement's day %(day)s")
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
    streamed = stream_statement(data, fmt)
    if streamed is not None:
        return _import_streamed(
            streamed,
            code=code,
            business_date=business_date,
            data=data,
            sha=sha,
            file_name=file_name,
            actor=actor,
            amount_tolerance=amount_tolerance,
            time_window_seconds=time_window_seconds,
        )
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
            run = _pending_run(statement, amount_tolerance, time_window_seconds)
            _audit_import(statement, actor)
    except IntegrityError:
        meanwhile = _imported_meanwhile(sha, code, business_date, fingerprint)
        if meanwhile is None:
            raise
        return meanwhile
    return ImportResult(statement=statement, run=run, created=True)


class _AlreadyIn(Exception):  # not an error: leaves the import's transaction, rolled back
    def __init__(self, result: ImportResult) -> None:
        self.result = result


def _import_streamed(
    streamed, *, code, business_date, data, sha, file_name, actor, amount_tolerance, time_window_seconds
):
    """A statement read as a stream: its lines are written (COPY) as they are read, in the transaction that
    keeps the file, so that a refusal at any line, or of its totals at the end, leaves nothing. The content
    fingerprint is then taken from the written lines, sorted by PostgreSQL: the same as
    ParsedStatement.fingerprint, without holding the lines."""
    fmt, lines = streamed
    fingerprint = ""
    try:
        with transaction.atomic():
            statement = StatementFile.objects.create(
                channel_code=code.code,
                business_date=business_date,
                format=fmt,
                file_name=file_name[:255],
                sha256=sha,
                size=len(data),
                content=b"",
                line_count=0,
                imported_by=actor if getattr(actor, "pk", None) else None,
            )
            statement_lines.store_content(statement.pk, data)
            statement.content = data
            tally = statement_lines.copy_lines(statement.pk, _checked(lines, fmt, business_date))
            fingerprint = statement_lines.fingerprint(
                statement.pk, code.code, business_date, plain=tally.plain, prepared=tally.prepared
            )
            same_day = _statement_of_day(code, business_date, fingerprint, besides=statement.pk)
            if same_day is not None:
                raise _AlreadyIn(same_day)
            statement.content_fingerprint = fingerprint
            statement.line_count = tally.count
            statement.payments_total = tally.payments_total
            statement.refunds_total = tally.refunds_total
            statement.fees_total = tally.fees_total
            statement.save(
                update_fields=[
                    "content_fingerprint",
                    "line_count",
                    "payments_total",
                    "refunds_total",
                    "fees_total",
                ]
            )
            run = _pending_run(statement, amount_tolerance, time_window_seconds, loaded=True)
            _audit_import(statement, actor)
    except _AlreadyIn as already:
        return already.result
    except IntegrityError:
        meanwhile = _imported_meanwhile(sha, code, business_date, fingerprint)
        if meanwhile is None:
            raise
        return meanwhile
    return ImportResult(statement=statement, run=run, created=True)


def _checked(lines, fmt: str, day: datetime.date):
    """`_check_line` on each line as it passes, its day compared as instants (a million lines)."""
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time()))
    end = timezone.make_aware(datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time()))
    by_day = fmt in (StatementFormat.WECHAT, StatementFormat.ALIPAY)
    for line in lines:
        if line.currency != "CNY" or (
            by_day
            and line.kind == LineKind.PAYMENT
            and not (line.occurred_at is not None and start <= line.occurred_at < end)
        ):
            _check_line(line, fmt, day)  # refuses it, in its words
        yield line


def _pending_run(statement: StatementFile, amount_tolerance, time_window_seconds, *, loaded: bool = False):
    """The statement's run, to be started; `loaded` when its lines were written by the import."""
    return ReconciliationRun.objects.create(
        statement=statement,
        channel_code=statement.channel_code,
        business_date=statement.business_date,
        total_lines=statement.line_count,
        loaded_lines=statement.line_count if loaded else 0,
        amount_tolerance=amount_tolerance
        if amount_tolerance is not None
        else settings.RECON_AMOUNT_TOLERANCE,
        time_window_seconds=time_window_seconds
        if time_window_seconds is not None
        else settings.RECON_TIME_WINDOW_SECONDS,
    )


def _audit_import(statement: StatementFile, actor) -> None:
    record_audit(
        actor=actor,
        action="statement.imported",
        target=statement,
        sha256=statement.sha256,
        fingerprint=statement.content_fingerprint,
        format=statement.format,
        lines=statement.line_count,
        payments_total=statement.payments_total,
        refunds_total=statement.refunds_total,
    )


def _imported_meanwhile(
    sha: str, code: ChannelCode, day: datetime.date, fingerprint: str
) -> ImportResult | None:
    """Another import of the same bytes, or for the same channel and day, committed first (None: neither,
    the integrity error was something else)."""
    existing = StatementFile.objects.filter(sha256=sha).select_related("run").first()
    if existing is not None:
        return _recognised(existing, code, day)
    return _statement_of_day(code, day, fingerprint)


def _statement_of_day(
    code: ChannelCode, day: datetime.date, fingerprint: str, *, besides: int | None = None
) -> ImportResult | None:
    """The import already in for this channel and day (`besides` the one being written): the same content
    is recognised (None when there is none), a different one refused."""
    existing = list(
        StatementFile.objects.filter(channel_code=code.code, business_date=day)
        .exclude(pk=besides)
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
