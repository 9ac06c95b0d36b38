"""Settlement: each biller is paid, per cut-off day, everything settleable up to that day that no batch
holds yet, and the bank's confirmation.

What is settleable (each settled once: SettlementItem is unique on the payment and kind):
* a posted payment that reconciliation accepted: matched by a finished run (a channel statement, or a
  branch's cash), posted from the workbench to resolve a discrepancy, or whose difference was written off;
  a top-up that must reach a card is settleable only once the write is confirmed (billing/topups.py);
* the reversal (a refund, a reversal from the workbench) of a payment that was settled before: the money
  is taken back in the biller's next batch.
Money that becomes settleable after its day's batch exists goes into the next batch, keeping its own
business day ("carried"). Settling day D waits for the working day after D (T+1) and for D to be closed.
"""

import datetime
import hashlib
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing import ledger, untrusted_files
from billing.audit import record_audit
from billing.choices import AllocationKind, Channel, EntryKind, PaymentStatus
from billing.fees import compute_fee, schedule_on
from billing.models import Biller, CollectionShare, JournalLine, LedgerAccount, Payment, PaymentAllocation
from billing.money import ZERO
from billing.money_log import log_money_action
from billing.topup_models import TopUpStatus
from reconciliation import locks, remittance, working_days
from reconciliation.adapters import camt as camt_adapter
from reconciliation.choices import (
    DiscrepancyStatus,
    LineKind,
    MatchClass,
    Resolution,
    RunStatus,
    SettlementItemKind,
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
    ReconciliationRun,
    SettlementBatch,
    SettlementChannelTotal,
    SettlementItem,
    SettlementRun,
    SettlementShare,
)

logger = logging.getLogger(__name__)

UNFINISHED_RUNS = (RunStatus.PENDING, RunStatus.LOADING, RunStatus.MATCHING)


@dataclass(frozen=True)
class Settleable:
    """One item a batch takes: signed amount and fee (a reversal is negative), and its own business day."""

    kind: str
    payment: Payment
    business_date: datetime.date
    amount: Decimal
    fee: Decimal

    @property
    def net(self) -> Decimal:
        return self.amount - self.fee


def settleable_payments(*, up_to: datetime.date, biller: Biller | None = None):
    """Posted payments of days up to `up_to` that reconciliation accepted and no batch holds yet, each
    annotated with `original_day`: its own business day, or for a payment posted from the workbench the
    day the channel took the money."""
    matched = MatchResult.objects.filter(
        run__status=RunStatus.DONE, run__business_date__lte=up_to, klass=MatchClass.MATCHED
    ).values("payment_id")
    resolved = Discrepancy.objects.filter(status=DiscrepancyStatus.RESOLVED)
    posted_to_resolve = resolved.filter(resolution_payment__isnull=False).values("resolution_payment_id")
    written_off = resolved.filter(resolution=Resolution.WRITE_OFF, payment__isnull=False).values("payment_id")
    resolved_day = resolved.filter(resolution_payment=OuterRef("pk")).values("business_date")[:1]
    payments = (
        Payment.objects.filter(status=PaymentStatus.POSTED, business_date__lte=up_to)
        # An agent's payment came out of a float already in the bank (its top-up was reconciled).
        .filter(
            Q(pk__in=matched) | Q(pk__in=posted_to_resolve) | Q(pk__in=written_off) | Q(channel=Channel.AGENT)
        )
        .exclude(pk__in=SettlementItem.objects.filter(kind=SettlementItemKind.PAYMENT).values("payment_id"))
        # A top-up waiting for its card write is not owed to the biller yet (billing/topups.py).
        .exclude(topup_hold__status=TopUpStatus.HELD)
        .annotate(original_day=Coalesce(Subquery(resolved_day), F("business_date")))
    )
    if biller is not None:
        payments = payments.filter(biller=biller)
    return payments.order_by("business_date", "channel", "posted_at", "id")


def settleable_reversals(*, up_to: datetime.date, biller: Biller | None = None):
    """Payments reversed on or before `up_to` after a batch paid them, not yet taken back."""
    settled = SettlementItem.objects.filter(kind=SettlementItemKind.PAYMENT)
    taken_back = SettlementItem.objects.filter(kind=SettlementItemKind.REVERSAL)
    payments = Payment.objects.filter(
        status=PaymentStatus.REVERSED,
        reversed_at__date__lte=up_to,
        pk__in=settled.values("payment_id"),
    ).exclude(pk__in=taken_back.values("payment_id"))
    if biller is not None:
        payments = payments.filter(biller=biller)
    return payments.order_by("reversed_at", "id")


def settleable_items(*, biller: Biller, up_to: datetime.date) -> list[Settleable]:
    """What the biller's batch with cut-off `up_to` takes, oldest day first."""
    items = [
        Settleable(
            kind=SettlementItemKind.PAYMENT,
            payment=payment,
            business_date=payment.original_day,
            amount=payment.amount,
            # The fee rule applies to the principal: a late fee (billing.amounts) reaches the biller whole.
            fee=_fee(biller, payment.channel, payment.original_day, payment.amount - payment.late_fee_part),
        )
        for payment in settleable_payments(up_to=up_to, biller=biller).annotate(
            late_fee_part=Coalesce(
                Subquery(
                    PaymentAllocation.objects.filter(
                        payment=OuterRef("pk"), kind=AllocationKind.LATE_FEE, is_reversal=False
                    )
                    .values("payment")
                    .annotate(total=Sum("amount"))
                    .values("total")[:1]
                ),
                ZERO,
            )
        )
    ]
    reversals = list(settleable_reversals(up_to=up_to, biller=biller))
    fees_paid = dict(
        SettlementItem.objects.filter(kind=SettlementItemKind.PAYMENT, payment__in=reversals).values_list(
            "payment_id", "fee"
        )
    )
    items += [
        Settleable(
            kind=SettlementItemKind.REVERSAL,
            payment=payment,
            business_date=timezone.localdate(payment.reversed_at),
            amount=-payment.amount,
            fee=-fees_paid[payment.pk],
        )
        for payment in reversals
    ]
    return sorted(items, key=lambda item: (item.business_date, item.payment.channel, item.payment.pk))


def _fee(biller: Biller, channel: str, day: datetime.date, amount: Decimal) -> Decimal:
    """The platform's fee on a payment, under the biller's schedule of the payment's own day."""
    schedule = schedule_on(biller=biller, channel=channel, on_date=day)
    if schedule is None or schedule.payer_pays:
        return ZERO
    fee = compute_fee(
        amount=amount,
        fixed=schedule.fixed_fee,
        percentage=schedule.percentage,
        min_fee=schedule.min_fee,
        max_fee=schedule.max_fee,
    )
    return min(fee, amount)


def build_settlement(
    *, biller: Biller, day: datetime.date, actor=None, as_of: datetime.date | None = None
) -> SettlementBatch | None:
    """The biller's batch with cut-off `day`: one per biller and day (a rerun returns it; what became
    settleable since waits for the next cut-off). The biller is locked while building, so two runs at
    once cannot both take an item (and the unique item would refuse the second)."""
    with transaction.atomic():
        biller = locks.lock_biller_for_settlement(biller.pk)
        existing = SettlementBatch.objects.filter(biller=biller, business_date=day).first()
        if existing is not None:
            return existing
        items = settleable_items(biller=biller, up_to=day)
        if not items:
            return None
        batch = _create_batch(biller, day, items, actor, as_of or timezone.localdate())
        carried = [item for item in items if item.business_date < day]
        record_audit(
            actor=actor,
            action="settlement.built",
            target=batch,
            gross=batch.gross,
            fees=batch.fees,
            net=batch.net,
            carried=len(carried),
            carried_from=min((item.business_date for item in carried), default=""),
        )
        log_money_action(
            "settle",
            amount=batch.net,
            gross=str(batch.gross),
            fees=str(batch.fees),
            batch_id=batch.pk,
            biller_id=biller.pk,
            entry_id=batch.journal_entry_id,  # None when payments and reversals cancel out
            payments=len(items),
        )
    return batch


def _create_batch(biller, day, items, actor, as_of) -> SettlementBatch:
    gross = sum((item.amount for item in items), ZERO)
    fees = sum((item.fee for item in items), ZERO)
    reference = f"S{day:%Y%m%d}{biller.code}"[:40]
    batch = SettlementBatch.objects.create(
        reference=reference,
        biller=biller,
        business_date=day,
        value_date=working_days.value_date(day, as_of),
        payment_count=len(items),
        gross=gross,
        fees=fees,
        net=gross - fees,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    per_channel: dict[str, list[Settleable]] = {}
    for item in items:
        per_channel.setdefault(item.payment.channel, []).append(item)
    SettlementChannelTotal.objects.bulk_create(
        [
            SettlementChannelTotal(
                batch=batch,
                channel=channel,
                payment_count=len(rows),
                gross=sum((item.amount for item in rows), ZERO),
                fees=sum((item.fee for item in rows), ZERO),
                net=sum((item.net for item in rows), ZERO),
            )
            for channel, rows in sorted(per_channel.items())
        ]
    )
    SettlementItem.objects.bulk_create(
        [
            SettlementItem(
                batch=batch,
                kind=item.kind,
                payment=item.payment,
                business_date=item.business_date,
                amount=item.amount,
                fee=item.fee,
            )
            for item in items
        ]
    )
    credits = _share_credits(biller, batch, items)
    batch.shared = sum((credit.amount for credit in credits), ZERO)
    batch.journal_entry = ledger.post_settlement_entry(
        biller=biller,
        gross=gross,
        fees=fees,
        late_fees=_late_fees(items),
        shares=[(credit.ledger_account, credit.amount) for credit in credits],
        business_date=day,
        memo=f"{reference} {biller.code}",
        actor=actor,
    )
    batch.remittance_csv = remittance.remittance_csv(batch, items, credits)
    batch.remittance_xml = remittance.remittance_camt054(batch, items, credits)
    batch.save(update_fields=["shared", "journal_entry", "remittance_csv", "remittance_xml"])
    return batch


def _share_credits(biller, batch, items) -> list[remittance.ShareCredit]:
    """What the batch owes each co-beneficiary of the biller (issue 17, item 4): the credits of the items'
    payment entries to its payable account (PAYABLE:<biller>:<code>), a reversal item taking its payment's
    part back. One SettlementShare row each, under the batch's reference and the part's code; the fees
    stay with the biller (it is the platform's customer), so a co-beneficiary receives its parts whole."""
    prefix = f"PAYABLE:{biller.code}:"
    lines = JournalLine.objects.filter(
        entry__kind=EntryKind.PAYMENT,
        entry__payment__in=[item.payment.pk for item in items],
        account__code__startswith=prefix,
    ).values_list("entry__payment_id", "account_id", "account__code", "amount")
    sign = {item.payment.pk: 1 if item.kind == SettlementItemKind.PAYMENT else -1 for item in items}
    per_code: dict[str, dict[int, Decimal]] = {}
    accounts: dict[str, int] = {}
    for payment_id, account_id, code, amount in lines:
        parts = per_code.setdefault(code.removeprefix(prefix), {})
        parts[payment_id] = parts.get(payment_id, ZERO) - sign[payment_id] * amount  # a credit is negative
        accounts[code.removeprefix(prefix)] = account_id
    shares = {share.code: share for share in CollectionShare.objects.filter(biller=biller, code__in=per_code)}
    ledger_accounts = LedgerAccount.objects.in_bulk(accounts.values())
    credits = []
    for code in sorted(per_code, key=lambda c: (shares[c].position, c)):
        share, parts = shares[code], per_code[code]
        amount = sum(parts.values(), ZERO)
        if not amount:
            continue
        row = SettlementShare.objects.create(
            batch=batch,
            share=share,
            reference=f"{batch.reference}-{code}",
            amount=amount,
            bank_name=share.settlement_bank_name,
            account_name=share.settlement_account_name,
            account_no=share.settlement_account_no,
        )
        credits.append(
            remittance.ShareCredit(
                row=row, name=share.name, ledger_account=ledger_accounts[accounts[code]], parts=parts
            )
        )
    return credits


def _late_fees(items) -> Decimal:
    """The part of the items that was late fees (billing.amounts): settled from the biller's late-fee
    account, the rest from its payable. A reversal item takes its payment's late fee back."""
    late_by_payment = dict(
        PaymentAllocation.objects.filter(
            payment__in=[item.payment.pk for item in items], kind=AllocationKind.LATE_FEE, is_reversal=False
        )
        .values("payment_id")
        .annotate(total=Sum("amount"))
        .values_list("payment_id", "total")
    )
    total = ZERO
    for item in items:
        late = late_by_payment.get(item.payment.pk, ZERO)
        total += late if item.kind == SettlementItemKind.PAYMENT else -late
    return total


def check_day_closed(day: datetime.date, today: datetime.date | None = None) -> None:
    """Refuse to settle a day that is not closed: not ended in Beijing, before its T+1 working day, with a
    reconciliation still running, or with a till still open."""
    from branches.choices import TillStatus
    from branches.models import Till

    today = today or timezone.localdate()
    if day >= today:
        raise ReconciliationError("day_not_over", day=day)
    due = working_days.next_working_day(day)
    if today < due:
        raise ReconciliationError("day_settles_later", day=day, due=due)
    running = ReconciliationRun.objects.filter(business_date=day, status__in=UNFINISHED_RUNS)
    if running.exists():
        raise ReconciliationError(
            "day_reconciliation_running", day=day, runs=", ".join(str(run) for run in running[:5])
        )
    open_tills = Till.objects.filter(business_date=day, status=TillStatus.OPEN)
    if open_tills.exists():
        raise ReconciliationError(
            "day_tills_open", day=day, tills=", ".join(str(till) for till in open_tills[:5])
        )


def _after_biller(run: SettlementRun, done: int) -> None:
    """A seam between committed billers (tests kill a run here)."""


def _billers_to_settle(day: datetime.date) -> list[int]:
    return sorted(
        set(settleable_payments(up_to=day).values_list("biller_id", flat=True).order_by())
        | set(settleable_reversals(up_to=day).values_list("biller_id", flat=True).order_by())
    )


def _run_of(day: datetime.date) -> SettlementRun:
    try:
        with transaction.atomic():
            return SettlementRun.objects.get_or_create(business_date=day)[0]
    except IntegrityError:  # a second run of the day started at the same moment
        return SettlementRun.objects.get(business_date=day)


def settle_day(*, day: datetime.date, actor=None, as_of: datetime.date | None = None) -> SettlementRun:
    """`manage.py settle --date`, the admin's settle action and the nightly T+1 task: a batch for each
    biller with settleable money up to `day`, each in its own transaction; a rerun skips what is built
    and resumes the rest. `as_of` is the day it runs (today in Beijing)."""
    check_day_closed(day, as_of)
    run = _run_of(day)
    SettlementRun.objects.filter(pk=run.pk).update(
        status=RunStatus.LOADING,
        attempts=F("attempts") + 1,
        error="",
        started_at=run.started_at or timezone.now(),
    )
    try:
        biller_ids = _billers_to_settle(day)
        SettlementRun.objects.filter(pk=run.pk).update(billers_total=len(biller_ids))
        for done, biller_id in enumerate(biller_ids, start=1):
            build_settlement(biller=Biller.objects.get(pk=biller_id), day=day, actor=actor, as_of=as_of)
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


SETTLE_LOOK_BACK_DAYS = 14


def days_due(today: datetime.date | None = None) -> list[datetime.date]:
    """The days the nightly task settles: those of the last two weeks whose T+1 working day has come and
    that no finished run settled (a Monday settles Friday, Saturday and Sunday)."""
    today = today or timezone.localdate()
    settled = set(
        SettlementRun.objects.filter(
            status=RunStatus.DONE, business_date__gte=today - datetime.timedelta(days=SETTLE_LOOK_BACK_DAYS)
        ).values_list("business_date", flat=True)
    )
    days = [today - datetime.timedelta(days=back) for back in range(SETTLE_LOOK_BACK_DAYS, 0, -1)]
    return [day for day in days if day not in settled and working_days.next_working_day(day) <= today]


def overdue_unsettled(today: datetime.date | None = None) -> list[Settleable]:
    """Settleable money older than SETTLEMENT_OVERDUE_WORKING_DAYS working days that is in no batch."""
    today = today or timezone.localdate()
    before = working_days.working_days_back(today, settings.SETTLEMENT_OVERDUE_WORKING_DAYS)
    up_to = before - datetime.timedelta(days=1)
    billers = Biller.objects.filter(
        pk__in=settleable_payments(up_to=up_to)
        .values("biller_id")
        .union(settleable_reversals(up_to=up_to).values("biller_id"))
    )
    return [item for biller in billers for item in settleable_items(biller=biller, up_to=up_to)]


def check_unsettled_money(today: datetime.date | None = None, actor=None) -> list[Settleable]:
    """Fail loudly when money waits too long: an ERROR log and an audit event per biller (the admin's
    audit list shows them). Returns what is overdue."""
    overdue = overdue_unsettled(today)
    per_biller: dict[Biller, list[Settleable]] = {}
    for item in overdue:
        per_biller.setdefault(item.payment.biller, []).append(item)
    for biller, items in per_biller.items():
        amount = sum((item.amount for item in items), ZERO)
        oldest = min(item.business_date for item in items)
        logger.error(
            "settlement overdue: %s has %s items (%s yuan) unsettled since %s",
            biller.code,
            len(items),
            amount,
            oldest,
        )
        record_audit(
            actor=actor,
            action="settlement.money_overdue",
            target=biller,
            reason=f"{len(items)} items, {amount} yuan, since {oldest}",
            items=len(items),
            amount=amount,
            oldest=oldest,
        )
    return overdue


def import_settlement_confirmation(*, data: bytes, actor=None) -> list[SettlementBatch]:
    """The biller's bank confirms the credit with a camt.054: each credit names the batch reference
    (EndToEndId) and must carry exactly the biller's own net amount (the batch's net less its
    co-beneficiaries' parts); a co-beneficiary's bank confirms its credit by its own reference
    (<batch>-<code>) and exact part."""
    with untrusted_files.refusals_as(StatementRefused):
        untrusted_files.check_size(len(data), "confirmation")
    parsed = camt_adapter.parse(data)
    if parsed.format != StatementFormat.CAMT054:
        raise StatementRefused("format_mismatch", format="camt.054", reason=parsed.format)
    sha = hashlib.sha256(data).hexdigest()
    confirmed, shares_confirmed = [], 0
    with transaction.atomic():
        for line in parsed.lines:
            if line.kind != LineKind.PAYMENT:
                continue
            if line.currency != "CNY":
                raise StatementRefused("currency_not_cny", line=line.line_no, currency=line.currency)
            reference = line.merchant_ref or line.channel_ref
            batch = locks.lock_settlement_batch_by_reference(reference)
            if batch is None and _confirm_share(reference, line.amount, sha, actor):
                shares_confirmed += 1
                continue
            if batch is None or batch.net - batch.shared != line.amount:  # the biller's own credit
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
        if not confirmed and not shares_confirmed:
            raise ReconciliationError("confirmation_no_match", amount="-", reference="-")
    return confirmed


def _confirm_share(reference: str, amount: Decimal, sha: str, actor) -> bool:
    """A co-beneficiary's bank confirms its credit of a batch (issue 17, item 4): False when the reference
    names none; refused when the amount is not exactly its part."""
    share = locks.lock_settlement_share_by_reference(reference)
    if share is None:
        return False
    if share.amount != amount:
        raise ReconciliationError("confirmation_no_match", amount=amount, reference=reference)
    if share.confirmed_at is None:
        share.confirmed_at = timezone.now()
        share.save(update_fields=["confirmed_at"])
        record_audit(
            actor=actor, action="settlement.share_confirmed", target=share, sha256=sha, amount=amount
        )
    return True
