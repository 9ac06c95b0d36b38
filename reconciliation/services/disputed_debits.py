"""Disputed debits, settled by T+1 from reconciliation's findings: a payer or partner says money was taken
at the channel but no payment was made (taxonomy D11); the channel's statement carries that debit as a line
the platform has no payment for (a `missing_platform` discrepancy). Once both are there the platform acts
on its own, once:

- the bill is still payable: the missing payment is posted (`post_payment`, the statement line's channel
  reference and the channel's key — the same key a person would post it with from the workbench, so it is
  posted once however often this runs);
- it is not (paid meanwhile, cancelled, the biller not taking payments): the money goes back to the payer.
  The platform's books never held it, so no entry is written; the discrepancy closes as `channel_refund`
  (its note names the refund) and the dispute stays open, its refund pending, until the refund is seen:
  * online (a bank / Alipay / WeChat merchant order): the order's unpaid lines are refunded through the
    gateway by payers' retried refund (refund_line: backoff, then a FailedTask for staff); a later run
    resolves the dispute once every line is refunded, and closes the bank's REFUND line of that trade
    when a statement brings it (match_gateway_refund_line);
  * a partner holds the money: it gets `dispute.resolved` with the outcome `refund_required` and the
    amount; its next statement's REFUND line of that debit (original_channel_ref) is matched here and
    closes that line's discrepancy and resolves the dispute — or the partner closes the dispute itself
    with its refund reference (disputes.services.close_dispute);
  * an online debit whose merchant order number is no order of ours (an agreement debit, a lost
    record) is refunded by that number at the gateway if it can (`debit_refund`: the sandbox bank can),
    by `refund_disputed_trade` (reconciliation.tasks: the same backoff, then a FailedTask staff send
    again), which resolves the dispute when the bank confirms;
  * an online debit the gateway cannot refund that way, or with no merchant order number on the line:
    the channel is told to return it (`refund_instructed`, resolved at once), as before.

The payer is told at each step (e-mail / SMS) and a partner gets its webhooks (disputes.services). A
disputed debit the statement has not shown yet waits; one still unanswered at its
response time is escalated to a person (disputes.services.escalate_overdue).

Locks: the dispute (disputes.locks), then the discrepancy, then the posting service's account and bills
or the merchant order's lines (payers.locks).
"""

import logging

from django.db import transaction
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext

from billing import failed_tasks
from billing.audit import record_audit
from billing.choices import Channel, PaymentStatus
from billing.exceptions import BillingError
from billing.models import Payment
from billing.services import post_payment
from config import retries
from disputes import locks as dispute_locks
from disputes import selectors as dispute_selectors
from disputes import services as dispute_services
from disputes import taxonomy
from disputes.choices import OPEN_STATUSES, DisputeChannel, Outcome, RefundState
from disputes.models import Dispute
from payers import selectors as payer_selectors
from payers import services as payer_services
from payers.gateways import Gateway, get_gateway
from payers.models import Payer
from reconciliation import locks
from reconciliation.choices import DiscrepancyStatus, LineKind, MatchClass, Resolution
from reconciliation.models import Discrepancy
from reconciliation.services.channel_codes import parse_channel_code
from reconciliation.services.discrepancies import _close

logger = logging.getLogger(__name__)


def _statement_debit_of(dispute) -> Discrepancy | None:
    """The open `missing_platform` discrepancy of a payment line the dispute points to: the channel's
    reference (channel reference or merchant order number), the amount, and the dispute's channel."""
    found = Discrepancy.objects.filter(
        klass=MatchClass.MISSING_PLATFORM,
        line__kind=LineKind.PAYMENT,
        line__amount=dispute.amount,
    ).exclude(status=DiscrepancyStatus.RESOLVED)
    found = found.filter(Q(line__channel_ref=dispute.channel_ref) | Q(line__merchant_ref=dispute.channel_ref))
    if dispute.channel == DisputeChannel.PARTNER:
        found = found.filter(channel_code=f"PARTNER:{dispute.source}")
    elif dispute.channel == DisputeChannel.PORTAL:
        found = found.filter(channel_code__startswith="ONLINE:")
    else:
        return None  # cash has no channel statement: the till count shows it
    return found.order_by("pk").first()


def _payment_made_for(dispute) -> Payment | None:
    """A posted payment of the disputer's channel that is the debit itself (its channel reference and
    amount): the payment was made, only its answer was lost."""
    if dispute.channel == DisputeChannel.PARTNER:
        payments = Payment.objects.filter(
            channel=Channel.PARTNER, idempotency_key__startswith=f"{dispute.source}:"
        )
    elif dispute.channel == DisputeChannel.PORTAL:
        payments = Payment.objects.filter(channel=Channel.ONLINE)
    else:
        return None
    return (
        payments.filter(channel_ref=dispute.channel_ref, amount=dispute.amount, status=PaymentStatus.POSTED)
        .order_by("pk")
        .first()
    )


def resolve_disputed_debit(dispute_id: int) -> str:
    """Settle one disputed debit if reconciliation has found it: 'posted', 'refund' (started), 'refunded'
    (seen done), 'found' (the payment had been made), or why not ('waiting' for the statement,
    'refund_pending', 'done' already)."""
    with transaction.atomic():
        dispute = dispute_locks.lock_dispute(dispute_id)
        rule = taxonomy.reason(dispute.reason)
        if dispute.status not in OPEN_STATUSES or rule is None or not rule.auto_debit:
            return "done"
        if dispute.refund_state == RefundState.PENDING:
            return _follow_refund(dispute)
        made = _payment_made_for(dispute)
        if made is not None:
            # The channel's call did reach the platform after all: nothing to post, nothing to return.
            dispute_services.resolve_from_reconciliation(
                dispute=dispute, outcome=Outcome.PAYMENT_FOUND, answer=made.receipt_no, payment=made
            )
            return "found"
        found = _statement_debit_of(dispute)
        if found is None:
            return "waiting"
        discrepancy = locks.lock_discrepancy(found.pk)
        if discrepancy.status == DiscrepancyStatus.RESOLVED:
            return "waiting"
        line = discrepancy.line
        code = parse_channel_code(discrepancy.channel_code)
        try:
            with transaction.atomic():
                result = post_payment(
                    channel=code.channel,
                    idempotency_key=code.posting_key(line),
                    biller_code=dispute.biller.code,
                    account_no=dispute.account_no,
                    amount=line.amount,
                    channel_ref=line.channel_ref,
                    payer=Payer.objects.filter(user=dispute.payer_user_id).first()
                    if dispute.payer_user_id
                    else None,
                    actor=None,
                )
        except BillingError as refusal:
            with translation.override(dispute.language):
                why = str(refusal.message)
            return _refund(dispute, discrepancy, code=code, refusal=refusal.code, why=why)
        discrepancy.resolution_payment = result.payment
        discrepancy.resolution_entry = result.payment.journal_entries.order_by("id").first()
        discrepancy.biller_id = result.payment.biller_id
        _close(discrepancy, action=Resolution.POST_MISSING, note=dispute.ref, actor=None, dispute=dispute.ref)
        dispute_services.resolve_from_reconciliation(
            dispute=dispute,
            outcome=Outcome.PAYMENT_POSTED,
            answer=result.payment.receipt_no,
            payment=result.payment,
        )
        logger.info("disputed debit %s: posted %s", dispute.ref, result.payment.receipt_no)
        return "posted"


TRADE_REFUND_TASK = "reconciliation.tasks.refund_disputed_trade"


def _refunds_by_trade(gateway_code: str) -> bool:
    """The gateway gives back a trade by its merchant number alone (not only an order's line)."""
    try:
        gateway = get_gateway(gateway_code, require_enabled=False)
    except BillingError:
        return False
    return type(gateway).debit_refund is not Gateway.debit_refund


def _refund(dispute, discrepancy: Discrepancy, *, code, refusal: str, why: str) -> str:
    """The bill cannot take the debit: start giving the money back (the caller holds both locks)."""
    channel = code.channel
    line = discrepancy.line
    refund_nos = None
    if channel == Channel.ONLINE and line.merchant_ref:
        refund_nos = payer_services.refund_disputed_order(
            order_no=line.merchant_ref, amount=line.amount, reason=dispute.ref
        )
        if refund_nos is None and _refunds_by_trade(code.source):
            refund_nos = [f"RF{dispute.ref}"]
            dispute_id, gateway_code = dispute.pk, code.source
            from reconciliation import tasks

            transaction.on_commit(lambda: tasks.refund_disputed_trade.delay(dispute_id, gateway_code))
    if channel == Channel.ONLINE and not refund_nos:
        # No order of ours to refund by: the channel is told to return it.
        note = f"{dispute.ref}: {refusal}"
        _close(discrepancy, action=Resolution.REFUND_AT_CHANNEL, note=note, actor=None, dispute=dispute.ref)
        dispute_services.resolve_from_reconciliation(
            dispute=dispute, outcome=Outcome.REFUND_INSTRUCTED, answer=why
        )
        logger.info("disputed debit %s: refund at the channel (%s)", dispute.ref, refusal)
        return "refund"
    refund_ref = refund_nos[0] if refund_nos else ""
    how = f"refund {', '.join(refund_nos)} through the gateway" if refund_nos else "the partner refunds"
    note = f"{dispute.ref}: {refusal}; {how}"
    _close(
        discrepancy,
        action=Resolution.REFUND_AT_CHANNEL,
        note=note,
        actor=None,
        dispute=dispute.ref,
        refund_ref=refund_ref,
    )
    dispute_services.require_refund(
        dispute=dispute,
        debit_ref=line.channel_ref,
        debit_order_no=line.merchant_ref if refund_nos else "",
        refund_ref=refund_ref,
        answer=why,
    )
    logger.info("disputed debit %s: refund started (%s) %s", dispute.ref, refusal, refund_ref)
    return "refund"


def _channel_refund_line_of(dispute) -> Discrepancy | None:
    """The partner's REFUND line of the disputed debit on a statement since: a refund the platform has no
    payment for (`missing_platform`), of the debit's reference and amount, on that partner's statement."""
    return (
        Discrepancy.objects.filter(
            klass=MatchClass.MISSING_PLATFORM,
            line__kind=LineKind.REFUND,
            line__original_ref=dispute.debit_ref,
            line__amount=dispute.amount,
            channel_code=f"PARTNER:{dispute.source}",
        )
        .exclude(status=DiscrepancyStatus.RESOLVED)
        .order_by("pk")
        .first()
    )


def _follow_refund(dispute) -> str:
    """A disputed debit whose refund is pending: resolved once the refund is seen done (the caller holds
    the dispute's lock)."""
    if dispute.channel == DisputeChannel.PORTAL:
        if not (dispute.debit_order_no and payer_selectors.order_refunded(dispute.debit_order_no)):
            return "refund_pending"  # still being tried, or failed and waiting for staff (FailedTask)
        with translation.override(dispute.language):
            answer = gettext("The money was returned through your bank: refund %(refund)s.") % {
                "refund": dispute.refund_ref
            }
        dispute_services.refund_done(dispute=dispute, refund_ref=dispute.refund_ref, answer=answer)
        logger.info("disputed debit %s: refunded %s", dispute.ref, dispute.refund_ref)
        return "refunded"
    found = _channel_refund_line_of(dispute) if dispute.channel == DisputeChannel.PARTNER else None
    if found is None:
        return "refund_pending"
    discrepancy = locks.lock_discrepancy(found.pk)
    if discrepancy.status == DiscrepancyStatus.RESOLVED:
        return "refund_pending"
    refund_ref = discrepancy.line.channel_ref
    _close(
        discrepancy,
        action=Resolution.REFUND_AT_CHANNEL,
        note=f"{dispute.ref}: refund {refund_ref}",
        actor=None,
        dispute=dispute.ref,
    )
    with translation.override(dispute.language):
        answer = gettext("The money was returned to you by %(channel)s: refund %(refund)s.") % {
            "channel": dispute.source,
            "refund": refund_ref,
        }
    dispute_services.refund_done(dispute=dispute, refund_ref=refund_ref, answer=answer)
    logger.info("disputed debit %s: refunded at the partner %s", dispute.ref, refund_ref)
    return "refunded"


def refund_disputed_trade(*, dispute_id: int, gateway_code: str, attempt: int = 1) -> str:
    """Give a disputed debit back at the gateway by its merchant number (outside any transaction: it talks
    to the bank). The refund number is the same every time (banks refund once per number); a refusal
    leaves the refund pending for the task's next attempt, and after the policy's last one it is recorded
    for staff (FailedTask), who send it again. The bank's confirmation resolves the dispute."""
    dispute = Dispute.objects.get(pk=dispute_id)
    if dispute.refund_state != RefundState.PENDING or dispute.status not in OPEN_STATUSES:
        return "done"
    try:
        gateway = get_gateway(gateway_code, require_enabled=False)
        result = gateway.debit_refund(
            out_trade_no=dispute.debit_order_no, amount=dispute.amount, refund_no=dispute.refund_ref
        )
        ok, message = result.ok, result.message
    except Exception as exc:  # the bank unreachable or answering nonsense: a failed attempt like a refusal
        logger.warning("refund %s: attempt %d raised", dispute.refund_ref, attempt, exc_info=True)
        ok, message = False, f"{type(exc).__name__}: {exc}"[:300]
    gave_up = not ok and retries.REFUND.exhausted(attempt)
    with transaction.atomic():
        dispute = dispute_locks.lock_dispute(dispute_id)
        if dispute.refund_state != RefundState.PENDING or dispute.status not in OPEN_STATUSES:
            return "done"
        if ok:
            with translation.override(dispute.language):
                answer = gettext("The money was returned through your bank: refund %(refund)s.") % {
                    "refund": dispute.refund_ref
                }
            dispute_services.refund_done(dispute=dispute, refund_ref=dispute.refund_ref, answer=answer)
        else:
            record_audit(
                actor=None,
                action="dispute.refund_failed" if gave_up else "dispute.refund_attempt_failed",
                target=dispute,
                reason=message,
                refund_ref=dispute.refund_ref,
                attempt=attempt,
            )
    if gave_up:
        failed_tasks.record_failure(
            task_name=TRADE_REFUND_TASK,
            args=[dispute_id, gateway_code],
            error=message or "refund refused",
            attempts=attempt,
        )
    return "refunded" if ok else "refund_pending"


def _gateway_refund_lines():
    """REFUND lines of an online statement the platform has no payment for, still open."""
    return Discrepancy.objects.filter(
        klass=MatchClass.MISSING_PLATFORM, line__kind=LineKind.REFUND, channel_code__startswith="ONLINE:"
    ).exclude(status=DiscrepancyStatus.RESOLVED)


def match_gateway_refund_line(dispute_id: int) -> bool:
    """A disputed debit the platform refunded through the gateway: the bank's statement shows that refund
    later as a REFUND line of the debit's trade (original_ref, amount). It is that refund: its
    discrepancy is closed with the dispute's note, once (under the dispute's and the line's locks)."""
    with transaction.atomic():
        dispute = dispute_locks.lock_dispute(dispute_id)
        if dispute.refund_state != RefundState.REFUNDED or not dispute.debit_ref:
            return False
        found = (
            _gateway_refund_lines()
            .filter(line__original_ref=dispute.debit_ref, line__amount=dispute.amount)
            .order_by("pk")
            .first()
        )
        if found is None:
            return False
        discrepancy = locks.lock_discrepancy(found.pk)
        if discrepancy.status == DiscrepancyStatus.RESOLVED:
            return False
        _close(
            discrepancy,
            action=Resolution.REFUND_AT_CHANNEL,
            note=f"{dispute.ref}: refund {dispute.refund_ref}",
            actor=None,
            dispute=dispute.ref,
        )
        return True


def resolve_disputed_debits() -> dict[str, int]:
    """Every open disputed debit, each in its own transaction (the beat task); then the bank's REFUND
    lines of the debits refunded through the gateway."""
    counts: dict[str, int] = {}
    for dispute_id in dispute_selectors.open_debit_dispute_ids():
        outcome = resolve_disputed_debit(dispute_id)
        counts[outcome] = counts.get(outcome, 0) + 1
    refunded = Dispute.objects.filter(
        channel=DisputeChannel.PORTAL,
        refund_state=RefundState.REFUNDED,
        debit_ref__in=_gateway_refund_lines().values("line__original_ref"),
    ).values_list("pk", flat=True)
    for dispute_id in list(refunded):
        if match_gateway_refund_line(dispute_id):
            counts["refund_line_matched"] = counts.get("refund_line_matched", 0) + 1
    return counts
