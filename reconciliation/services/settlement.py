"""Settlement: a batch per biller and day of reconciled payments, and the bank's confirmation."""

import datetime
import hashlib

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing import ledger, untrusted_files
from billing import locks as billing_locks
from billing.audit import record_audit
from billing.choices import PaymentStatus
from billing.fees import compute_fee, schedule_on
from billing.models import Biller, Payment
from billing.money import ZERO
from billing.money_log import log_money_action
from reconciliation import locks, remittance
from reconciliation.adapters import camt as camt_adapter
from reconciliation.choices import (
    DiscrepancyStatus,
    LineKind,
    MatchClass,
    RunStatus,
    SettlementStatus,
    StatementFormat,
)
from reconciliation.exceptions import (
    ReconciliationError,
    StatementRefused,
)
from reconciliation.models import (
    Discrepancy,
    MatchResult,
    SettlementBatch,
    SettlementChannelTotal,
    SettlementItem,
    SettlementRun,
)


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
        log_money_action(
            "settle",
            amount=gross - fees,
            gross=str(gross),
            fees=str(fees),
            batch_id=batch.pk,
            biller_id=biller.pk,
            entry_id=batch.journal_entry.pk,
            payments=len(items),
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
