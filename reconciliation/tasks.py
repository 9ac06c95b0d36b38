"""Celery tasks: thin wrappers that call the services by id; safe to run twice."""

import datetime
import logging
import smtplib
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from billing import untrusted_files
from billing.exceptions import BillingError
from config import retries
from reconciliation import services

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def run_reconciliation(run_id: int) -> dict:
    run = services.run_reconciliation(run_id=run_id)
    return {"run": run.pk, "status": run.status, "counts": run.counts}


@shared_task(acks_late=True)
def settle_day(day: str, actor_id: int | None = None, as_of: str | None = None) -> dict:
    """Progress shows on the day's SettlementRun (the admin's settlement runs list). `as_of`: the day
    the settlement counts as run on (today in Beijing unless said)."""
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    run = services.settle_day(
        day=datetime.date.fromisoformat(day),
        actor=actor,
        as_of=datetime.date.fromisoformat(as_of) if as_of else None,
    )
    return {"day": day, "status": run.status, "batches": run.batches_built}


@shared_task
def nightly_reconcile(day: str | None = None) -> list[dict]:
    """Reconcile yesterday's cash (each branch's till closings) and every statement dropped for yesterday
    under RECON_INBOX_DIR/<CHANNEL>/<YYYY-MM-DD>.* (e.g. inbox/ONLINE_WECHAT/2026-11-26.csv; `_` stands
    for `:` in the folder name)."""
    target = datetime.date.fromisoformat(day) if day else timezone.localdate() - datetime.timedelta(days=1)
    inbox = Path(settings.RECON_INBOX_DIR)
    done = [
        {"channel": run.channel_code, "status": run.status, "counts": run.counts}
        for run in services.reconcile_cash_day(day=target)
    ]
    if not inbox.is_dir():
        return done
    for folder in sorted(p for p in inbox.iterdir() if p.is_dir()):
        channel = folder.name.replace("_", ":", 1)
        for path in sorted(folder.glob(f"{target:%Y-%m-%d}.*")):
            # A refused file (too large, a bomb, damaged, a second statement for the day) is logged and
            # skipped with its code; the other channels' files are still reconciled.
            try:
                run = services.reconcile_file(
                    channel_code=channel,
                    business_date=target,
                    data=untrusted_files.read_path(path, "statement"),
                    file_name=path.name,
                )
            except BillingError as refused:
                logger.warning("inbox statement %s refused: %s %s", path, refused.code, refused.message)
                done.append({"channel": channel, "file": path.name, "refused": refused.code})
                continue
            done.append({"channel": run.channel_code, "status": run.status, "counts": run.counts})
    return done


@shared_task
def nightly_settle(day: str | None = None, as_of: str | None = None) -> dict:
    """T+1 in working days: settle each closed day whose next working day has come (or `day`), then fail
    loudly (ERROR log, audit event) when settleable money is older than SETTLEMENT_OVERDUE_WORKING_DAYS
    working days and in no batch. A day that is not closed yet is logged and left for the next night."""
    today = datetime.date.fromisoformat(as_of) if as_of else timezone.localdate()
    days = [datetime.date.fromisoformat(day)] if day else services.days_due(today)
    settled = []
    for target in days:
        try:
            run = services.settle_day(day=target, as_of=today)
        except BillingError as refused:
            logger.warning("settlement of %s refused: %s %s", target, refused.code, refused.message)
            settled.append({"day": target.isoformat(), "refused": refused.code})
            continue
        settled.append({"day": target.isoformat(), "status": run.status, "batches": run.batches_built})
    overdue = services.check_unsettled_money(today)
    return {"days": settled, "overdue": len(overdue)}


@shared_task(bind=True, acks_late=True, max_retries=retries.MESSAGE.max_attempts - 1)
def send_complaint_notice(self, complaint_id: int, event: str) -> None:
    """One notice to a complainant, retried with backoff and jitter while the mail server is away."""
    try:
        services.send_notice(complaint_id, event)
    except (OSError, smtplib.SMTPException) as exc:
        raise self.retry(exc=exc, countdown=retries.MESSAGE.delay(self.request.retries + 1)) from exc


@shared_task(bind=True, acks_late=True, max_retries=retries.MESSAGE.max_attempts - 1)
def fetch_wechat_trade_bill(self, day: str | None = None) -> dict:
    """Download WeChat Pay's trade bill of `day` (yesterday unless said; WeChat publishes it after 10:00
    Beijing time) and reconcile it as the statement of channel ONLINE:WECHAT. Nothing to do while WeChat is
    switched off; a bill WeChat cannot give yet is asked for again with backoff; a refused bill is logged."""
    from payers.exceptions import GatewayError
    from payers.gateways import get_gateway

    if not settings.WECHATPAY_ENABLED:
        return {"skipped": "WECHATPAY_ENABLED is off"}
    target = datetime.date.fromisoformat(day) if day else timezone.localdate() - datetime.timedelta(days=1)
    gateway = get_gateway("WECHAT")
    try:
        data = gateway.trade_bill(target)
    except (GatewayError, OSError) as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=retries.MESSAGE.delay(self.request.retries + 1)) from exc
        logger.warning("wechat trade bill of %s not fetched: %s", target, exc)
        return {"day": target.isoformat(), "refused": getattr(exc, "code", "unreachable")}
    try:
        run = services.reconcile_file(
            channel_code="ONLINE:WECHAT",
            business_date=target,
            data=data,
            file_name=f"wechat-tradebill-{target:%Y-%m-%d}.csv.gz",
        )
    except BillingError as refused:
        logger.warning("wechat trade bill of %s refused: %s %s", target, refused.code, refused.message)
        return {"day": target.isoformat(), "refused": refused.code}
    return {"day": target.isoformat(), "status": run.status, "counts": run.counts}


@shared_task(bind=True, max_retries=None)
def refund_disputed_trade(self, dispute_id: int, gateway_code: str) -> str:
    """One attempt at giving a disputed debit back by its merchant number; while the bank has not
    confirmed it, try again later (services/disputed_debits.py)."""
    attempt = self.request.retries + 1
    outcome = services.refund_disputed_trade(
        dispute_id=dispute_id, gateway_code=gateway_code, attempt=attempt
    )
    if outcome == "refund_pending" and not self.request.is_eager:
        raise self.retry(countdown=retries.REFUND.delay(attempt))
    return outcome


@shared_task(acks_late=True)
def resolve_disputed_debits() -> dict:
    """Beat: settle the disputed channel debits reconciliation has found (services/disputed_debits.py)."""
    return services.resolve_disputed_debits()
