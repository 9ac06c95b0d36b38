"""Top-ups that must reach a card or meter (issue 17, item 8; 圈存): phase 2 of their two-phase transfer.

A top-up to a biller with a `CardWriteRule` is posted held (billing/topup_holds.py). Then exactly one of:

* `confirm_topup`: the biller's system (signed, through the biller API) or the counter's card writer says
  the amount is on the card: the money moves to the biller's payable and becomes settleable;
* `void_topup`: the write failed, or nobody confirmed it within the biller's timeout (`void_expired_topups`,
  run by beat): the payment is reversed and the payer refunded through the channel that took the money,
  by the refunder that channel registered (`register_refunder`: the portal refunds through the gateway,
  the counter pays the cash back from the till, a partner sees the reversal in its API).

Both lock the payment (the hold is guarded by its payment's row lock, which `reverse_payment` takes too),
so a confirmation and a timeout racing each other decide once: confirming twice is confirming once,
voiding twice refunds once, and each refuses the other once it has happened.
"""

import logging
import re
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from billing import locks, topup_holds
from billing.audit import record_audit
from billing.exceptions import TopUpRefused
from billing.models import Payment
from billing.money_log import log_money_action
from billing.services import reverse_payment
from billing.topup_models import TopUpHold, TopUpSource, TopUpStatus

logger = logging.getLogger(__name__)

WRITE_REF_RE = re.compile(r"^[\x21-\x7e]{0,64}$")

# channel → what gives the payer the money back once the ledger reversal is written (inside its
# transaction: it writes rows only, and leaves any call to an outside party for after commit).
Refunder = Callable[[Payment, TopUpHold], None]
_refunders: dict[str, Refunder] = {}


def register_refunder(channel: str, refunder: Refunder) -> None:
    """Each channel's app registers, when it loads, how a voided top-up's money goes back to the payer."""
    _refunders[channel] = refunder


def _lock_hold(payment_id: int) -> tuple[Payment, TopUpHold]:
    payment = locks.lock_payment(payment_id)
    hold = TopUpHold.objects.filter(payment=payment).first()
    if hold is None:
        raise TopUpRefused("topup_not_held", receipt_no=payment.receipt_no)
    hold.payment = payment
    return payment, hold


def confirm_topup(*, payment: Payment, source: str, write_ref: str = "", actor=None) -> TopUpHold:
    """Phase 2, written: the biller's system or the counter's card writer says the amount is on the card.
    Confirming again answers as before; confirming a voided top-up is refused."""
    write_ref = (write_ref or "").strip()
    if not WRITE_REF_RE.fullmatch(write_ref):
        raise TopUpRefused("topup_ref_invalid")
    with transaction.atomic():
        payment, hold = _lock_hold(payment.pk)
        if hold.status == TopUpStatus.WRITTEN:
            return hold
        if hold.status == TopUpStatus.VOIDED:
            raise TopUpRefused("topup_already_voided", receipt_no=payment.receipt_no)
        entry = topup_holds.post_written_entry(hold=hold, write_ref=write_ref, actor=actor)
        hold.status = TopUpStatus.WRITTEN
        hold.decided_at = timezone.now()
        hold.decided_by = source
        hold.write_ref = write_ref
        hold.actor = actor if getattr(actor, "pk", None) else None
        hold.save(update_fields=["status", "decided_at", "decided_by", "write_ref", "actor"])
        record_audit(
            actor=actor,
            action="topup.written",
            target=payment,
            source=source,
            write_ref=write_ref,
            amount=payment.amount,
        )
        log_money_action(
            "topup_written",
            amount=payment.amount,
            channel=payment.channel,
            outcome="written",
            payment_id=payment.pk,
            receipt_no=payment.receipt_no,
            biller_id=payment.biller_id,
            entry_id=entry.pk,
        )
    return hold


def void_topup(*, payment: Payment, source: str, reason: str, actor=None) -> TopUpHold:
    """Phase 2, voided: the card was not written. The payment is reversed (its mirror entry takes the money
    out of the hold) and the payer refunded through its channel, once: voiding again answers as before,
    voiding a written top-up is refused."""
    return _void(payment=payment, source=source, reason=reason, actor=actor)[0]


def _void(*, payment: Payment, source: str, reason: str, actor=None) -> tuple[TopUpHold, bool]:
    """`void_topup`, saying whether this call voided it (False: it was voided before)."""
    reason = (reason or "").strip()
    if not reason:
        raise TopUpRefused("topup_reason_required")
    with transaction.atomic():
        payment, hold = _lock_hold(payment.pk)
        if hold.status == TopUpStatus.VOIDED:
            return hold, False
        if hold.status == TopUpStatus.WRITTEN:
            raise TopUpRefused("topup_already_written", receipt_no=payment.receipt_no)
        hold.status = TopUpStatus.VOIDED
        hold.decided_at = timezone.now()
        hold.decided_by = source
        hold.reason = reason[:200]
        hold.actor = actor if getattr(actor, "pk", None) else None
        hold.save(update_fields=["status", "decided_at", "decided_by", "reason", "actor"])
        reverse_payment(payment=payment, actor=actor, reason=f"card not written: {reason}"[:200])
        refunder = _refunders.get(payment.channel)
        if refunder is not None:
            refunder(payment, hold)
        record_audit(
            actor=actor,
            action="topup.voided",
            target=payment,
            source=source,
            reason=reason,
            amount=payment.amount,
        )
    return hold, True


def void_expired_topups(*, now=None, limit: int = 500) -> int:
    """Beat's sweep: void each top-up whose biller did not confirm it in time. Each is its own transaction,
    and one confirmed (or voided) meanwhile is left alone, so a sweep racing a confirmation, or another
    sweep, voids and refunds nothing twice."""
    now = now or timezone.now()
    expired = list(
        TopUpHold.objects.filter(status=TopUpStatus.HELD, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("payment_id", flat=True)[:limit]
    )
    voided = 0
    for payment_id in expired:
        try:
            _hold, did_void = _void(
                payment=Payment(pk=payment_id),
                source=TopUpSource.TIMEOUT,
                reason="no confirmation of the card write in time",
            )
        except TopUpRefused as refused:  # written just before the sweep reached it
            logger.info("top-up of payment %s not voided: %s", payment_id, refused.code)
            continue
        voided += did_void
    return voided
