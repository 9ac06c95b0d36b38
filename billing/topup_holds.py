"""The ledger side of a top-up that must reach a card or meter (issue 17, item 8): a two-phase transfer.

Phase 1 is the payment itself (`billing.services.post_payment`): for a biller with a `CardWriteRule`, its
entry debits the channel's collection account and credits the biller's hold account `TOPUP:<biller>`
instead of its payable, and a `TopUpHold` is written in the same transaction. Phase 2 is one of:

* written: `post_written_entry` moves the amount from `TOPUP:<biller>` to `PAYABLE:<biller>`, where
  settlement finds it;
* voided: the payment is reversed (`reverse_payment`), whose entry mirrors the payment's, hold included,
  so the money goes back to the channel's collection account and then to the payer.

Each phase is its own balanced, append-only entry. The decisions themselves are billing/topups.py.
"""

import datetime
from decimal import Decimal

from django.utils import timezone

from billing import ledger, outbox
from billing.choices import EntryKind, LedgerAccountKind, PaymentMode
from billing.models import Biller, JournalEntry, JournalLine, LedgerAccount, Payment
from billing.money import ZERO
from billing.topup_models import CardWriteRule, TopUpHold, TopUpSource, TopUpStatus

TOPUP_WRITTEN_EVENT = "topup.written"


def hold_account(biller: Biller) -> LedgerAccount:
    """Where a biller's top-ups wait for their card write: not yet owed to it, not the payer's either."""
    account, _ = LedgerAccount.objects.get_or_create(
        code=f"TOPUP:{biller.code}",
        defaults={
            "name": f"待写卡充值 {biller.name}",
            "kind": LedgerAccountKind.TOPUP_HOLD,
            "biller": biller,
        },
    )
    return account


def rule_for(biller: Biller) -> CardWriteRule | None:
    """The biller's card-write rule, for a prepaid biller only (no query for any other)."""
    if biller.payment_mode != PaymentMode.PREPAID:
        return None
    return CardWriteRule.objects.filter(biller=biller).first()


def open_hold(payment: Payment, rule: CardWriteRule) -> TopUpHold:
    """Phase 1's row, in the payment's transaction: the hold, voided if not confirmed in time."""
    return TopUpHold.objects.create(
        payment=payment,
        expires_at=payment.posted_at + datetime.timedelta(minutes=rule.timeout_minutes),
        created_at=payment.posted_at,
    )


def post_written_entry(*, hold: TopUpHold, write_ref: str, actor=None) -> JournalEntry:
    """Phase 2, written: the held amount becomes the biller's payable (a payment of a locked hold)."""
    payment = hold.payment
    biller = payment.biller
    entry = ledger.post_entry(
        kind=EntryKind.TOPUP_WRITTEN,
        lines=[(hold_account(biller), payment.amount), (ledger.payable_account(biller), -payment.amount)],
        business_date=timezone.localdate(),
        payment=payment,
        memo=f"{payment.receipt_no} {write_ref}".strip(),
        actor=actor if getattr(actor, "pk", None) else None,
    )
    outbox.record(
        type=TOPUP_WRITTEN_EVENT,
        aggregate_type="payment",
        aggregate_id=payment.pk,
        payload={
            "receipt_no": payment.receipt_no,
            "biller_code": biller.code,
            "account_no": payment.account.account_no if payment.account_id else "",
            "amount": outbox.money(payment.amount),
            "write_ref": write_ref,
            "entry_id": entry.pk,
        },
    )
    return entry


def release_on_reversal(payment: Payment, *, reason: str) -> None:
    """A payment reversed while its top-up was still held (by a clerk's void, a partner's reversal, the
    workbench): the hold ends with it, so nothing voids it twice. Called by `reverse_payment` under the
    payment's lock; a hold already decided is left as it is."""
    if payment.biller.payment_mode != PaymentMode.PREPAID:
        return
    TopUpHold.objects.filter(payment=payment, status=TopUpStatus.HELD).update(
        status=TopUpStatus.VOIDED,
        decided_by=TopUpSource.REVERSAL,
        decided_at=timezone.now(),
        reason=reason[:200],
    )


def reversal_lines(payment: Payment, original: JournalEntry) -> list[tuple[LedgerAccount, Decimal]]:
    """A reversal's lines: the mirror of the payment's entry and, for a top-up written to its card, of the
    entry that moved it to the biller's payable (so the money leaves the account it is in now)."""
    mirror = [(line.account, -line.amount) for line in original.lines.select_related("account")]
    if payment.biller.payment_mode != PaymentMode.PREPAID:
        return mirror
    written = [
        (line.account, -line.amount)
        for line in JournalLine.objects.filter(
            entry__payment=payment, entry__kind=EntryKind.TOPUP_WRITTEN
        ).select_related("account")
    ]
    if not written:
        return mirror
    net: dict[int, tuple[LedgerAccount, Decimal]] = {}
    for account, amount in mirror + written:
        net[account.pk] = (account, net.get(account.pk, (account, ZERO))[1] + amount)
    return [(account, amount) for account, amount in net.values() if amount]
