"""Statement import: a channel's file checked whole, kept once, with a pending run."""

import datetime
import hashlib
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _g

from billing import untrusted_files
from billing.audit import record_audit
from billing.choices import Channel
from reconciliation.adapters import ParsedStatement, parse_statement
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
