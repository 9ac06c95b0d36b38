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
from django.db.models import Exists, F, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing import ledger, untrusted_files
from billing.audit import audit_event, record_audit
from billing.choices import AllocationKind, Channel, EntryKind, PaymentStatus
from billing.fees import compute_fee
from billing.models import (
    AuditEvent,
    Biller,
    CollectionShare,
    FeeSchedule,
    JournalLine,
    LedgerAccount,
    Payment,
    PaymentAllocation,
)
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


def _with_original_day(payments):
    """Each payment annotated with `original_day`: its own business day, or for a payment posted from the
    workbench the day the channel took the money."""
    resolved_day = Discrepancy.objects.filter(
        status=DiscrepancyStatus.RESOLVED, resolution_payment=OuterRef("pk")
    ).values("business_date")[:1]
    return payments.annotate(original_day=Coalesce(Subquery(resolved_day), F("business_date")))


def _not_settled(kind: str):
    """No settlement item of `kind` holds the payment yet (NOT EXISTS: an anti-join on the item's unique
    index, where NOT IN over every item ever built would not fit in memory at a province's scale)."""
    return ~Exists(SettlementItem.objects.filter(payment=OuterRef("pk"), kind=kind))


def settleable_payments(*, up_to: datetime.date, biller: Biller | None = None):
    """Posted payments of days up to `up_to` that reconciliation accepted and no batch holds yet, each
    annotated with `original_day` (`_with_original_day`).

    Accepted: matched by a finished run, posted from the workbench to resolve a discrepancy, written off,
    or an agent's (its payment came out of a float already in the bank: its top-up was reconciled). The
    sources are one UNION that PostgreSQL joins to the payments (a semi-join, which spills to disk when a
    province's six months of matches do not fit in memory), not an OR of IN lists: a hashed IN list too
    large for work_mem becomes a scan of the whole list for every payment."""
    matched = MatchResult.objects.filter(
        run__status=RunStatus.DONE, run__business_date__lte=up_to, klass=MatchClass.MATCHED
    ).values("payment_id")
    resolved = Discrepancy.objects.filter(status=DiscrepancyStatus.RESOLVED).order_by()
    posted_to_resolve = resolved.filter(resolution_payment__isnull=False).values("resolution_payment_id")
    written_off = resolved.filter(resolution=Resolution.WRITE_OFF, payment__isnull=False).values("payment_id")
    agents = Payment.objects.filter(channel=Channel.AGENT, business_date__lte=up_to).order_by().values("pk")
    if biller is not None:
        agents = agents.filter(biller=biller)
    accepted = matched.order_by().union(posted_to_resolve, written_off, agents)
    payments = (
        Payment.objects.filter(status=PaymentStatus.POSTED, business_date__lte=up_to, pk__in=accepted)
        .filter(_not_settled(SettlementItemKind.PAYMENT))
        # A top-up waiting for its card write is not owed to the biller yet (billing/topups.py).
        .exclude(topup_hold__status=TopUpStatus.HELD)
    )
    if biller is not None:
        payments = payments.filter(biller=biller)
    return _with_original_day(payments).order_by("business_date", "channel", "posted_at", "id")


def settleable_reversals(*, up_to: datetime.date, biller: Biller | None = None):
    """Payments reversed on or before `up_to` after a batch paid them, not yet taken back."""
    settled = SettlementItem.objects.filter(kind=SettlementItemKind.PAYMENT)
    payments = Payment.objects.filter(
        status=PaymentStatus.REVERSED,
        reversed_at__date__lte=up_to,
        pk__in=settled.values("payment_id"),
    ).filter(_not_settled(SettlementItemKind.REVERSAL))
    if biller is not None:
        payments = payments.filter(biller=biller)
    return payments.order_by("reversed_at", "id")


def _still_settleable(payment_ids: list[int], reversal_ids: list[int]):
    """Of the payments (and reversals) found settleable before their billers were locked, those that
    still are: not reversed (not re-posted), in no batch of a run that got there first, not held."""
    payments = (
        Payment.objects.filter(pk__in=payment_ids, status=PaymentStatus.POSTED)
        .filter(_not_settled(SettlementItemKind.PAYMENT))
        .exclude(topup_hold__status=TopUpStatus.HELD)
    )
    reversals = Payment.objects.filter(pk__in=reversal_ids, status=PaymentStatus.REVERSED).filter(
        _not_settled(SettlementItemKind.REVERSAL)
    )
    return _with_original_day(payments), reversals


class _FeeRules:
    """The fee schedules of the billers being settled, read once: the fee of each item costs no query."""

    def __init__(self, biller_ids) -> None:
        self._schedules: dict[tuple[int, str], list[FeeSchedule]] = {}
        for schedule in FeeSchedule.objects.filter(biller_id__in=biller_ids).order_by("-valid_from"):
            self._schedules.setdefault((schedule.biller_id, schedule.channel), []).append(schedule)

    def fee(self, biller_id: int, channel: str, day: datetime.date, amount: Decimal) -> Decimal:
        """The platform's fee on a payment, under the biller's schedule of the payment's own day (the
        one with the latest `valid_from` not after it, as billing.fees.schedule_on)."""
        schedules = self._schedules.get((biller_id, channel), ())
        schedule = next((schedule for schedule in schedules if schedule.valid_from <= day), None)
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


def _late_fee_parts(payment_ids) -> dict[int, Decimal]:
    """The late fee (billing.amounts) each payment carried, by payment id (none: not listed)."""
    return dict(
        PaymentAllocation.objects.filter(
            payment_id__in=payment_ids, kind=AllocationKind.LATE_FEE, is_reversal=False
        )
        .values("payment_id")
        .annotate(total=Sum("amount"))
        .values_list("payment_id", "total")
    )


def _items_by_biller(payments, reversals, fees: _FeeRules) -> tuple[dict[int, list[Settleable]], dict]:
    """The items of settleable `payments` (annotated with `original_day`) and `reversals`, per biller,
    each biller's oldest day first; and the late fee part of each item's payment. A fixed number of
    queries however many billers and items."""
    payments = list(payments.select_related("account"))
    reversals = list(reversals.select_related("account"))
    late_parts = _late_fee_parts([payment.pk for payment in payments + reversals])
    fees_paid = dict(
        SettlementItem.objects.filter(
            kind=SettlementItemKind.PAYMENT, payment_id__in=[payment.pk for payment in reversals]
        ).values_list("payment_id", "fee")
    )
    per_biller: dict[int, list[Settleable]] = {}
    for payment in payments:
        # The fee rule applies to the principal: a late fee (billing.amounts) reaches the biller whole.
        principal = payment.amount - late_parts.get(payment.pk, ZERO)
        per_biller.setdefault(payment.biller_id, []).append(
            Settleable(
                kind=SettlementItemKind.PAYMENT,
                payment=payment,
                business_date=payment.original_day,
                amount=payment.amount,
                fee=fees.fee(payment.biller_id, payment.channel, payment.original_day, principal),
            )
        )
    for payment in reversals:
        per_biller.setdefault(payment.biller_id, []).append(
            Settleable(
                kind=SettlementItemKind.REVERSAL,
                payment=payment,
                business_date=timezone.localdate(payment.reversed_at),
                amount=-payment.amount,
                fee=-fees_paid[payment.pk],
            )
        )
    for items in per_biller.values():
        items.sort(key=lambda item: (item.business_date, item.payment.channel, item.payment.pk))
    return per_biller, late_parts


def settleable_items(*, biller: Biller, up_to: datetime.date) -> list[Settleable]:
    """What the biller's batch with cut-off `up_to` takes, oldest day first."""
    per_biller, _late = _items_by_biller(
        settleable_payments(up_to=up_to, biller=biller),
        settleable_reversals(up_to=up_to, biller=biller),
        _FeeRules([biller.pk]),
    )
    return per_biller.get(biller.pk, [])


def build_settlement(
    *, biller: Biller, day: datetime.date, actor=None, as_of: datetime.date | None = None
) -> SettlementBatch | None:
    """The biller's batch with cut-off `day`: one per biller and day (a rerun returns it; what became
    settleable since waits for the next cut-off). None when nothing is settleable."""
    return build_settlements(biller_ids=[biller.pk], day=day, actor=actor, as_of=as_of).get(biller.pk)


def build_settlements(
    *,
    biller_ids: list[int],
    day: datetime.date,
    actor=None,
    as_of: datetime.date | None = None,
    found: dict[int, tuple[list[int], list[int]]] | None = None,
) -> dict[int, SettlementBatch]:
    """The batches of the billers with cut-off `day`, in one transaction and a fixed number of queries
    (a day's settlement builds its 20,000 batches in chunks of these): each biller's batch, the one a
    rerun finds or the one built now, by biller id; a biller with nothing settleable has none.

    The billers are locked first, in id order, so two runs at once (the nightly task and the admin's
    action, or two days) take turns biller by biller, and the second sees what the first took.
    `found`: the settleable payment and reversal ids of each biller (`_settleable_ids`), read before the
    lock by `settle_day`; each is checked again under the lock (`_still_settleable`). Without it they
    are read under the lock."""
    with transaction.atomic():
        billers = locks.lock_billers_for_settlement(biller_ids)
        batches = {
            batch.biller_id: batch
            for batch in SettlementBatch.objects.filter(biller_id__in=biller_ids, business_date=day)
        }
        to_build = [biller for biller in billers if biller.pk not in batches]
        if not to_build:
            return batches
        ids = [biller.pk for biller in to_build]
        found = _settleable_ids(day, biller_ids=ids) if found is None else found
        payment_ids = [pk for biller_id in ids for pk in found.get(biller_id, ([], []))[0]]
        reversal_ids = [pk for biller_id in ids for pk in found.get(biller_id, ([], []))[1]]
        payments, reversals = _still_settleable(payment_ids, reversal_ids)
        per_biller, late_parts = _items_by_biller(payments, reversals, _FeeRules(ids))
        to_build = [biller for biller in to_build if per_biller.get(biller.pk)]
        built = _create_batches(to_build, day, per_biller, late_parts, actor, as_of or timezone.localdate())
        batches.update((batch.biller_id, batch) for batch in built)
    return batches


def _create_batches(billers, day, per_biller, late_parts, actor, as_of) -> list[SettlementBatch]:
    """Write the billers' batches: their per-channel totals, items, co-beneficiaries' credits and
    remittance files, their settlement entries through the posting service (in bulk), and the audit."""
    if not billers:
        return []
    value_date = working_days.value_date(day, as_of)
    credits_of = _share_credits_of(billers, day, per_biller)
    batches, postings = [], []
    for biller in billers:
        items = per_biller[biller.pk]
        credits = credits_of.get(biller.pk, [])
        gross = sum((item.amount for item in items), ZERO)
        fees = sum((item.fee for item in items), ZERO)
        reference = _reference(biller, day)
        batches.append(
            SettlementBatch(
                reference=reference,
                biller=biller,
                business_date=day,
                value_date=value_date,
                payment_count=len(items),
                gross=gross,
                fees=fees,
                net=gross - fees,
                shared=sum((credit.amount for credit in credits), ZERO),
                created_by=actor if getattr(actor, "pk", None) else None,
            )
        )
        postings.append(
            ledger.SettlementPosting(
                biller=biller,
                gross=gross,
                fees=fees,
                late_fees=_late_fees(items, late_parts),
                shares=[(credit.ledger_account, credit.amount) for credit in credits],
                business_date=day,
                memo=f"{reference} {biller.code}",
            )
        )
    entries = ledger.post_settlement_entries(postings, actor=actor)
    for batch, entry in zip(batches, entries, strict=True):
        items, credits = per_biller[batch.biller_id], credits_of.get(batch.biller_id, [])
        batch.journal_entry = entry
        batch.remittance_csv = remittance.remittance_csv(batch, items, credits)
        batch.remittance_xml = remittance.remittance_camt054(batch, items, credits)
    SettlementBatch.objects.bulk_create(batches)
    shares = []
    for batch in batches:
        for credit in credits_of.get(batch.biller_id, []):
            credit.row.batch = batch
            shares.append(credit.row)
    SettlementShare.objects.bulk_create(shares)
    SettlementChannelTotal.objects.bulk_create(
        [total for batch in batches for total in _channel_totals(batch, per_biller[batch.biller_id])]
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
            for batch in batches
            for item in per_biller[batch.biller_id]
        ],
        batch_size=10_000,
    )
    audits = []
    for batch in batches:
        items = per_biller[batch.biller_id]
        carried = [item for item in items if item.business_date < day]
        audits.append(
            audit_event(
                actor=actor,
                action="settlement.built",
                target=batch,
                gross=batch.gross,
                fees=batch.fees,
                net=batch.net,
                carried=len(carried),
                carried_from=min((item.business_date for item in carried), default=""),
            )
        )
        log_money_action(
            "settle",
            amount=batch.net,
            gross=str(batch.gross),
            fees=str(batch.fees),
            batch_id=batch.pk,
            biller_id=batch.biller_id,
            entry_id=batch.journal_entry_id,  # None when payments and reversals cancel out
            payments=len(items),
        )
    AuditEvent.objects.bulk_create(audits)
    return batches


def _reference(biller: Biller, day: datetime.date) -> str:
    return f"S{day:%Y%m%d}{biller.code}"[:40]


def _channel_totals(batch: SettlementBatch, items: list[Settleable]) -> list[SettlementChannelTotal]:
    per_channel: dict[str, list[Settleable]] = {}
    for item in items:
        per_channel.setdefault(item.payment.channel, []).append(item)
    return [
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


def _share_credits_of(billers, day, per_biller) -> dict[int, list[remittance.ShareCredit]]:
    """The co-beneficiaries' credits (`_share_credits`) of the billers that share their collections."""
    sharing = set(
        CollectionShare.objects.filter(biller__in=billers).values_list("biller_id", flat=True).distinct()
    )
    return {
        biller.pk: _share_credits(biller, _reference(biller, day), per_biller[biller.pk])
        for biller in billers
        if biller.pk in sharing
    }


def _share_credits(biller, reference, items) -> list[remittance.ShareCredit]:
    """What the batch owes each co-beneficiary of the biller (issue 17, item 4): the credits of the items'
    payment entries to its payable account (PAYABLE:<biller>:<code>), a reversal item taking its payment's
    part back. One SettlementShare row each (unsaved: written with the batch), under the batch's reference
    and the part's code; the fees stay with the biller (it is the platform's customer), so a
    co-beneficiary receives its parts whole."""
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
        row = SettlementShare(
            share=share,
            reference=f"{reference}-{code}",
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


def _late_fees(items, parts: dict[int, Decimal] | None = None) -> Decimal:
    """The part of the items that was late fees (billing.amounts): settled from the biller's late-fee
    account, the rest from its payable. A reversal item takes its payment's late fee back. `parts`: the
    late fee of each payment (`_late_fee_parts`), read here when not given."""
    if parts is None:
        parts = _late_fee_parts([item.payment.pk for item in items])
    total = ZERO
    for item in items:
        late = parts.get(item.payment.pk, ZERO)
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
    """A seam after each committed chunk of billers, `done` of them built so far (tests kill a run here)."""


# A day's billers are settled in chunks, each in its own transaction of set-based queries (a province's
# 20,000 billers in some fifty transactions instead of 20,000 of a dozen queries each). The first chunks
# are small (1, 1, 2, 4, … billers) so that a run shows progress, and commits, at once.
SETTLE_CHUNK_BILLERS = 500


def _chunks(ids: list[int]) -> list[list[int]]:
    chunks, start, size = [], 0, 1
    while start < len(ids):
        chunks.append(ids[start : start + size])
        start += size
        size = min(SETTLE_CHUNK_BILLERS, start) if start else 1
    return chunks


def _settleable_ids(
    day: datetime.date, *, biller_ids: list[int] | None = None
) -> dict[int, tuple[list[int], list[int]]]:
    """The settleable payment ids and reversal ids up to `day`, by biller: two queries over the day (and
    the money carried from before it), however many billers."""
    payments = settleable_payments(up_to=day).values_list("pk", "biller_id").order_by()
    reversals = settleable_reversals(up_to=day).values_list("pk", "biller_id").order_by()
    if biller_ids is not None:
        payments = payments.filter(biller_id__in=biller_ids)
        reversals = reversals.filter(biller_id__in=biller_ids)
    found: dict[int, tuple[list[int], list[int]]] = {}
    for pk, biller_id in payments:
        found.setdefault(biller_id, ([], []))[0].append(pk)
    for pk, biller_id in reversals:
        found.setdefault(biller_id, ([], []))[1].append(pk)
    return found


def _run_of(day: datetime.date) -> SettlementRun:
    try:
        with transaction.atomic():
            return SettlementRun.objects.get_or_create(business_date=day)[0]
    except IntegrityError:  # a second run of the day started at the same moment
        return SettlementRun.objects.get(business_date=day)


def settle_day(*, day: datetime.date, actor=None, as_of: datetime.date | None = None) -> SettlementRun:
    """`manage.py settle --date`, the admin's settle action and the nightly T+1 task: a batch for each
    biller with settleable money up to `day`, built in chunks of billers, each chunk in its own
    transaction; a rerun skips what is built and resumes the rest. `as_of` is the day it runs (today in
    Beijing)."""
    check_day_closed(day, as_of)
    run = _run_of(day)
    SettlementRun.objects.filter(pk=run.pk).update(
        status=RunStatus.LOADING,
        attempts=F("attempts") + 1,
        error="",
        started_at=run.started_at or timezone.now(),
    )
    try:
        found = _settleable_ids(day)
        biller_ids = sorted(found)
        SettlementRun.objects.filter(pk=run.pk).update(billers_total=len(biller_ids))
        done = 0
        for chunk in _chunks(biller_ids):
            build_settlements(biller_ids=chunk, day=day, actor=actor, as_of=as_of, found=found)
            done += len(chunk)
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
    payments = settleable_payments(up_to=up_to).select_related("biller")
    reversals = settleable_reversals(up_to=up_to).select_related("biller")
    biller_ids = {pk for query in (payments, reversals) for pk in query.values_list("biller_id", flat=True)}
    per_biller, _late = _items_by_biller(payments, reversals, _FeeRules(biller_ids))
    return [item for biller_id in sorted(per_biller) for item in per_biller[biller_id]]


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
