"""Writes of the citizen portal: checkouts, the bank's notifications, refunds, "My accounts"."""

import datetime
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from billing import amounts, failed_tasks, instalments, outbox, presentment
from billing.audit import record_audit
from billing.choices import PAYABLE_BILL_STATUSES, AmountRule, BillStatus, Channel, PaymentMode
from billing.exceptions import PaymentRefused
from billing.models import Bill, Biller, CustomerAccount
from billing.money import ZERO, format_money, parse_amount
from billing.money_log import log_money_action
from billing.people import display_name
from billing.rules import allocate_statement_payment
from billing.services import PaymentOrder, post_payment, post_payments
from billing.transitions import allowed
from config import retries
from payers import locks
from payers.choices import ORDER_TRANSITIONS, LineOutcome, NotificationResult, OrderKind, OrderStatus
from payers.exceptions import GatewayError, GatewayRefused, PortalError
from payers.gateways import Gateway, get_gateway
from payers.gateways.base import PaymentNotice
from payers.models import BoundAccount, GatewayNotification, GatewayOrder, OrderLine, Payer, ReceiptBundle

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckoutLine:
    """One thing to pay in a checkout: an account's chosen bills, a top-up, or a donation."""

    biller: Biller
    amount: Decimal
    account: CustomerAccount | None = None
    periods: tuple[str, ...] = ()
    note: str = ""
    anonymous: bool = False


def payer_for(user) -> Payer | None:
    """The Payer row of a signed-in citizen (created on first payment); None for a guest."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    payer, _created = Payer.objects.get_or_create(
        user=user, defaults={"display_name": display_name(user), "email": user.email}
    )
    return payer


def remember_portal_language(*, user, language: str) -> Payer | None:
    """Keep the language a signed-in citizen uses the portal in on their profile: notices, reminders and
    answers to them are written in it. Writes only when it changed; an unknown language is ignored."""
    if language not in dict(settings.LANGUAGES):
        return None
    payer = payer_for(user)
    if payer is None or payer.language == language:
        return payer
    with transaction.atomic():
        Payer.objects.filter(pk=payer.pk).update(language=language)
        record_audit(actor=user, action="payer.language_set", target=payer, language=language)
    payer.language = language
    return payer


def lines_for_bills(bill_ids: Sequence[int]) -> list[CheckoutLine]:
    """The chosen bills, one checkout line per account (its bills paid whole, in one payment)."""
    bills = list(
        Bill.objects.select_related("account", "biller")
        .filter(pk__in=list(bill_ids))
        .order_by("account_id", "due_date", "period")
    )
    if not bills:
        raise PortalError("nothing_to_pay")
    by_account: dict[int, list[Bill]] = {}
    for bill in bills:
        if bill.status not in PAYABLE_BILL_STATUSES:
            raise PortalError("bill_not_payable", period=bill.period, status=BillStatus(bill.status).label)
        by_account.setdefault(bill.account_id, []).append(bill)
    return [
        CheckoutLine(
            biller=group[0].biller,
            account=group[0].account,
            periods=tuple(bill.period for bill in group),
            amount=sum((bill.outstanding for bill in group), ZERO),
        )
        for group in by_account.values()
    ]


def line_for_next_instalment(bill: Bill) -> CheckoutLine:
    """The next open instalment of a bill offered in instalments (billing.instalments), for its pay link:
    paid by its exact amount, which post_payment accepts for that bill alone."""
    upcoming = instalments.next_open(bill) if bill.status in PAYABLE_BILL_STATUSES else None
    if upcoming is None:
        raise PortalError("nothing_to_pay")
    return CheckoutLine(
        biller=bill.biller, account=bill.account, periods=(bill.period,), amount=upcoming.remaining
    )


def line_for_chosen_amount(
    *, account: CustomerAccount, bills: Sequence[Bill], amount: Decimal
) -> CheckoutLine:
    """The payer's own amount for the chosen bills, where the biller's amount rule allows one: less than
    due (EXACT_DOWN, oldest bill first) or more (EXACT_UP, the rest kept as credit; with no bill chosen, all
    of it). Checked here with the rule post_payment applies when the bank's notification comes, so a payer
    learns of a refused amount before the bank and not after."""
    biller = account.biller
    if biller.payment_mode != PaymentMode.STATEMENT or biller.amount_rule == AmountRule.EXACT:
        raise PaymentRefused("amount_not_exact", biller=biller.display_name, expected=_total_text(bills))
    if not bills and biller.amount_rule != AmountRule.EXACT_UP:
        raise PortalError("nothing_to_pay")
    allocate_statement_payment(
        rule=biller.amount_rule,
        outstanding=[bill.outstanding for bill in bills],
        amount=amount,
        bills_named=True,
        biller=biller.display_name,
    )
    return CheckoutLine(
        biller=biller, account=account, periods=tuple(bill.period for bill in bills), amount=amount
    )


def _total_text(bills: Sequence[Bill]) -> str:
    return "¥" + format_money(sum((bill.outstanding for bill in bills), ZERO))


def _check_line(line: CheckoutLine) -> None:
    biller = line.biller
    if not biller.takes_payments:
        raise PortalError("biller_not_active", biller=biller.display_name)
    if line.amount < biller.min_amount:
        raise PaymentRefused(
            "amount_below_minimum", biller=biller.display_name, minimum=format_money(biller.min_amount)
        )
    if biller.max_amount is not None and line.amount > biller.max_amount:
        raise PaymentRefused(
            "amount_above_maximum", biller=biller.display_name, maximum=format_money(biller.max_amount)
        )
    if biller.payment_mode != PaymentMode.DONATION and line.account is None:
        raise PaymentRefused("account_required")


def _check_with_biller(line: CheckoutLine) -> None:
    """A biller whose bills are fetched or validated live hears of the payment before the payer goes to the
    bank (billing.presentment): a changed amount or a bad answer is refused here, with nothing taken. Its
    payment key is a quote's: the payment itself is confirmed with the biller once the bank's notification
    has posted it (the money is taken by then)."""
    if line.account is None:
        return
    presentment.check_with_biller(
        channel=Channel.ONLINE,
        idempotency_key=f"quote-{secrets.token_hex(12)}",
        biller_code=line.biller.code,
        account_no=line.account.account_no,
        amount=line.amount,
        periods=line.periods,
    )


def start_checkout(
    *, lines: Sequence[CheckoutLine], kind: str, user, gateway_code: str, subject: str
) -> GatewayOrder:
    """Open a gateway order for the lines. Nothing is posted until the bank's verified notification."""
    if not lines:
        raise PortalError("nothing_to_pay")
    get_gateway(gateway_code)  # refuses an unknown or switched-off gateway
    for line in lines:
        parse_amount(line.amount)
        _check_line(line)
    for line in lines:
        _check_with_biller(line)
    total = sum((line.amount for line in lines), ZERO)
    with transaction.atomic():
        order = GatewayOrder.objects.create(
            gateway=gateway_code,
            kind=kind,
            amount=total,
            subject=subject[:120],
            user=user if getattr(user, "is_authenticated", False) else None,
            payer=payer_for(user),
        )
        OrderLine.objects.bulk_create(
            [
                OrderLine(
                    order=order,
                    line_no=number,
                    biller=line.biller,
                    account=line.account,
                    periods=list(line.periods),
                    amount=line.amount,
                    note=line.note[:100],
                    anonymous=line.anonymous,
                )
                for number, line in enumerate(lines, start=1)
            ]
        )
        record_audit(
            actor=user, action="order.created", target=order, amount=total, lines=len(lines), kind=kind
        )
    return order


def apply_notification(
    *, gateway_code: str, params: dict[str, str], refusals: list[PortalError] | None = None
) -> str:
    """Take one asynchronous notification from a gateway; answer what became of it.

    A notification is applied only when the gateway named by its address is switched on and is the order's
    gateway, its signature verifies with that gateway's configured key, and its merchant, amount and trade
    match the order. Anything else is refused with a stable code (`refuse_notification`): recorded,
    audited, logged at WARNING, and nothing else changes. A notification for an unknown or switched-off
    gateway raises GatewayRefused once recorded. A paid notification posts every line of the order through
    `post_payment`, once: a repeat is recorded and acknowledged. A "closed" notice arriving after the
    payment (out of order) is ignored. A payment for a bill that was paid elsewhere meanwhile is kept as
    credit when the biller's rule allows it, and refunded through the gateway if not. The reason of a
    refusal is appended to `refusals` when given (for the banks whose answer says why).
    """
    try:
        gateway = get_gateway(gateway_code)  # a switched-off gateway's signatures are believed no more
    except PortalError as error:
        refuse_notification(gateway_code=gateway_code, params=params, error=error)
        raise GatewayRefused(error.code, **error.params) from None
    return _take_notice(gateway, params, source="notification", refusals=refusals)


def _take_notice(
    gateway: Gateway, params: dict[str, str], *, source: str, refusals: list[PortalError] | None = None
) -> str:
    """Verify a gateway's message about an order (a notification, or its answer to our trade query) and
    apply it to the order it names."""
    try:
        notice = gateway.parse_notification(params)
        _check_bounds(notice)
    except GatewayError as error:
        if refusals is not None:
            refusals.append(error)
        return refuse_notification(gateway_code=gateway.code, params=params, error=error, source=source)
    with transaction.atomic():
        order = locks.lock_order_by_no(notice.order_no)
        try:
            _check_notice_fits(gateway, order, notice)
        except PortalError as error:
            if refusals is not None:
                refusals.append(error)
            return refuse_notification(
                gateway_code=gateway.code,
                params=params,
                error=error,
                order=order,
                verified=True,
                source=source,
            )
        result, note = _apply(order, notice)
        GatewayNotification.objects.create(
            order=order, gateway=gateway.code, payload=params, verified=True, result=result, note=note[:200]
        )
    return result


def _check_bounds(notice: PaymentNotice) -> None:
    """The bank's references are kept in 64-character columns: a longer one is a bad message, not a crash."""
    if len(notice.trade_no) > 64:
        raise GatewayError("message_invalid", field="trade_no")
    if any(len(ref) > 64 for ref in notice.sub_trades.values()):
        raise GatewayError("message_invalid", field="sub_trades")


def _check_notice_fits(gateway: Gateway, order: GatewayOrder | None, notice: PaymentNotice) -> None:
    """A verified notice settles only the order it names, when that order is the gateway's and the bank
    reports its amount and (once known) its trade."""
    if order is None:
        raise PortalError("order_unknown", order_no=notice.order_no[:32])
    if order.gateway != gateway.code:
        raise PortalError(
            "gateway_mismatch", order_no=order.order_no, expected=order.gateway, gateway=gateway.code
        )
    if notice.amount != order.amount:
        raise PortalError(
            "amount_mismatch",
            reported=format_money(notice.amount),
            order_no=order.order_no,
            expected=format_money(order.amount),
        )
    if order.trade_no and notice.trade_no != order.trade_no:
        raise PortalError(
            "trade_no_mismatch", reported=notice.trade_no, order_no=order.order_no, known=order.trade_no
        )


# What is kept of a refused message: enough for staff to see what was sent, not whatever a caller can post.
PAYLOAD_MAX_FIELDS = 50
PAYLOAD_MAX_KEY = 64
PAYLOAD_MAX_VALUE = 1000


def _bounded(params: dict[str, str]) -> dict[str, str]:
    items = list(params.items())
    kept = {
        str(key)[:PAYLOAD_MAX_KEY]: str(value)[:PAYLOAD_MAX_VALUE]
        for key, value in items[:PAYLOAD_MAX_FIELDS]
    }
    if len(items) > PAYLOAD_MAX_FIELDS:
        kept["_dropped_fields"] = str(len(items) - PAYLOAD_MAX_FIELDS)
    return kept


def refuse_notification(
    *,
    gateway_code: str,
    params: dict[str, str],
    error: PortalError,
    order: GatewayOrder | None = None,
    verified: bool = False,
    source: str = "notification",
) -> str:
    """Record a refused gateway message so staff see it (the order's notifications, the audit trail) and
    log it at WARNING; nothing else is written. An unknown gateway is only logged: it is no address of ours.
    """
    order_no = str(params.get("out_trade_no", ""))[:32]
    logger.warning(
        "gateway %s refused: gateway=%r code=%s order_no=%r verified=%s",
        source,
        gateway_code[:16],
        error.code,
        order_no,
        verified,
    )
    if error.code == "gateway_unknown":
        return NotificationResult.REJECTED
    with transaction.atomic():
        row = GatewayNotification.objects.create(
            order=order,
            gateway=gateway_code[:16],
            payload=_bounded(params),
            verified=verified,
            result=NotificationResult.REJECTED,
            note=f"{error.code}: {error.message}"[:200],
        )
        record_audit(
            actor=None,
            action="order.notification_refused",
            target=row,
            reason=error.message,
            code=error.code,
            gateway=gateway_code[:16],
            order_no=order.order_no if order else order_no,
            source=source,
        )
    return NotificationResult.REJECTED


def _apply(order: GatewayOrder, notice: PaymentNotice) -> tuple[str, str]:
    if order.status == notice.status:
        # Said before (a replay, or the bank re-sending because our answer was lost): acknowledged so that
        # the bank stops, and nothing more is posted.
        error = PortalError(
            "notification_duplicate", order_no=order.order_no, status=OrderStatus(order.status).label
        )
        logger.warning("gateway notification repeated: order_no=%s status=%s", order.order_no, order.status)
        record_audit(
            actor=None,
            action="order.notification_duplicate",
            target=order,
            reason=error.message,
            code=error.code,
        )
        return NotificationResult.DUPLICATE, f"{error.code}: {error.message}"
    if not allowed(ORDER_TRANSITIONS, order.status, notice.status):
        return NotificationResult.IGNORED, f"{order.status} → {notice.status}"
    late = order.status != OrderStatus.PENDING
    order.status = notice.status
    order.trade_no = notice.trade_no
    now = timezone.now()
    lines = list(order.lines.select_related("biller", "account"))
    if notice.is_paid:
        order.paid_at = notice.occurred_at or now
        if len(lines) > settings.PORTAL_INLINE_SETTLE_MAX_LINES:
            # A big batch is posted by a task, line by line with visible progress; the bank gets its
            # answer at once. The sub-trade numbers are kept now, as the notification carried them.
            for line in lines:
                line.sub_trade_no = notice.trade_ref_for(line.line_no)
            OrderLine.objects.bulk_update(lines, ["sub_trade_no"], batch_size=1000)
            from payers import tasks

            order_id = order.pk
            transaction.on_commit(lambda: tasks.settle_order.delay(order_id))
        else:
            for line in lines:
                if line.refusal_code == DISPUTED_DEBIT:
                    continue  # already on its way back to the payer (refund_disputed_order)
                _settle_line(order, line, notice.trade_ref_for(line.line_no))
        if order.family_link_id:  # a family member paid (亲情付): the citizen is told
            from payers import family

            family.order_paid(order)
    else:
        _mark_not_paid(order, now)
    order.save(update_fields=["status", "trade_no", "paid_at", "closed_at"])
    record_audit(
        actor=None,
        action=f"order.{order.status}",
        target=order,
        trade_no=notice.trade_no,
        amount=order.amount,
        late=late,
    )
    return NotificationResult.APPLIED, "late" if late else ""


def _mark_not_paid(order: GatewayOrder, now) -> None:
    order.closed_at = now
    OrderLine.objects.filter(order=order).update(outcome=LineOutcome.NOT_PAID)


def expire_order(*, order_no: str) -> bool:
    """Close an order the payer abandoned: still pending past its time to pay, which the bank was told and
    enforces, and the bank had nothing final to say. Should the bank report a payment after all, the
    notification is still applied (a closed order may become paid). True when this closed it."""
    with transaction.atomic():
        order = locks.lock_order_by_no(order_no)
        if order is None or order.status != OrderStatus.PENDING or order.expires_at > timezone.now():
            return False
        order.status = OrderStatus.CLOSED
        _mark_not_paid(order, timezone.now())
        order.save(update_fields=["status", "closed_at"])
        record_audit(actor=None, action="order.expired", target=order, amount=order.amount)
    return True


def _post(order: GatewayOrder, line: OrderLine, trade_ref: str, *, periods: Sequence[str]):
    return post_payment(
        channel=Channel.ONLINE,
        idempotency_key=line.idempotency_key,
        biller_code=line.biller.code,
        account_no=line.account.account_no if line.account else None,
        amount=line.amount,
        periods=periods,
        payer=order.payer,
        channel_ref=trade_ref,
        # The order fixed its amount when it was opened: a bank confirming after Beijing midnight pays
        # the price of that day, not the next one's (billing.amounts).
        priced_on=amounts.beijing_date(order.created_at),
    ).payment


def _settle_line(order: GatewayOrder, line: OrderLine, trade_ref: str) -> None:
    """Post the line's money; if its bills can no longer take it, keep it as credit or refund it."""
    line.sub_trade_no = trade_ref
    try:
        line.payment = _post(order, line, trade_ref, periods=line.periods)
        line.outcome = LineOutcome.POSTED
    except PaymentRefused as refused:
        line.refusal_code = refused.code
        line.outcome = LineOutcome.REFUND_PENDING
        if _may_keep_as_credit(line):
            try:
                line.payment = _post(order, line, trade_ref, periods=())
                line.outcome = LineOutcome.CREDITED
            except PaymentRefused:
                pass
        record_audit(
            actor=None,
            action=f"order_line.{line.outcome}",
            target=line,
            reason=refused.message,
            code=refused.code,
            amount=line.amount,
        )
        if line.outcome == LineOutcome.REFUND_PENDING:
            from payers import tasks

            line_id = line.pk
            transaction.on_commit(lambda: tasks.refund_order_line.delay(line_id))
    line.save(update_fields=["sub_trade_no", "payment", "outcome", "refusal_code"])


def refund_voided_topup(payment, hold) -> None:
    """The portal's refunder of a card top-up that was not written (billing.topups, registered in
    payers.apps): its order line goes back to the payer through the gateway, after commit, by the same
    retried refund as a line whose bills could not take the money. Inside the void's transaction, which
    holds the payment's lock: one conditional update, so a second void finds nothing to refund."""
    line_ids = list(
        OrderLine.objects.filter(payment=payment, outcome=LineOutcome.POSTED).values_list("pk", flat=True)
    )
    if not line_ids:
        return
    OrderLine.objects.filter(pk__in=line_ids, outcome=LineOutcome.POSTED).update(
        outcome=LineOutcome.REFUND_PENDING, refusal_code="topup_voided"
    )
    from payers import tasks

    for line_id in line_ids:
        transaction.on_commit(lambda line_id=line_id: tasks.refund_order_line.delay(line_id))


def _may_keep_as_credit(line: OrderLine) -> bool:
    biller = line.biller
    return (
        line.account is not None
        and biller.payment_mode == PaymentMode.STATEMENT
        and biller.amount_rule == AmountRule.EXACT_UP
    )


def refund_lines_the_biller_rejected(events) -> list[int]:
    """The outbox consumer (inside the relay's transaction, billing.outbox): a portal payment posted under
    a live biller's stand-in rule and then rejected by the biller is reversed by billing.presentment; the
    bank has the payer's money, so its order line is refunded, once (a line leaves POSTED or CREDITED once,
    under its row lock, however often the relay offers the event). Other reversals refund nothing here:
    reconciliation's "reverse ours" undoes a payment the bank never took."""
    from billing.presentment_models import BillerCheck

    reversed_ids = [
        int(event.aggregate_id)
        for event in events
        if event.type == outbox.EventType.PAYMENT_REVERSED and event.payload.get("channel") == Channel.ONLINE
    ]
    if not reversed_ids:
        return []
    line_ids = OrderLine.objects.filter(
        payment_id__in=reversed_ids,
        payment__biller_check__status=BillerCheck.Status.REJECTED,
        outcome__in=(LineOutcome.POSTED, LineOutcome.CREDITED),
    ).values_list("pk", flat=True)
    refunded = []
    for line_id in line_ids:
        line = locks.lock_order_line(line_id)
        if line.outcome not in (LineOutcome.POSTED, LineOutcome.CREDITED):
            continue
        _request_refund(line, code="biller_rejected", reason=line.payment.reversal_reason)
        refunded.append(line_id)
    return refunded


def _request_refund(line: OrderLine, *, code: str, reason: str) -> None:
    """A locked line's money is to go back to the payer: marked refund pending with why, audited, and its
    gateway refund (refund_line, retried) queued after commit."""
    line.outcome, line.refusal_code = LineOutcome.REFUND_PENDING, code
    line.save(update_fields=["outcome", "refusal_code"])
    record_audit(
        actor=None,
        action="order_line.refund_pending",
        target=line,
        reason=reason,
        code=code,
        amount=line.amount,
    )
    from payers import tasks

    line_id = line.pk
    transaction.on_commit(lambda: tasks.refund_order_line.delay(line_id))


# The refusal code of an order line given back because its debit was disputed and no bill could take it.
DISPUTED_DEBIT = "disputed_debit"


def refund_disputed_order(*, order_no: str, amount: Decimal, reason: str) -> list[str] | None:
    """A merchant order whose money the bank took with no payment on the platform (a disputed debit,
    reconciliation's disputed_debits): its lines that made no payment go back to the payer through the
    gateway, by the same retried refund (refund_line, then a FailedTask for staff). The caller holds the
    dispute's lock, so it asks once; each line leaves WAITING / NOT_PAID once, under its row lock.
    The refund numbers, or None when the order's unpaid lines are not that debit (no such order, another
    amount, a line already posted or refunded): nothing is written then."""
    # The order first, as a (late) notification of it does (_apply): the two are serialised, and the
    # notification then leaves these lines alone (DISPUTED_DEBIT).
    if locks.lock_order_by_no(order_no) is None:
        return None
    line_ids = list(
        OrderLine.objects.filter(order__order_no=order_no).order_by("line_no").values_list("pk", flat=True)
    )
    lines = [locks.lock_order_line(line_id) for line_id in line_ids]
    waiting = (LineOutcome.WAITING, LineOutcome.NOT_PAID)
    if not lines or any(line.outcome not in waiting for line in lines):
        return None
    if sum((line.amount for line in lines), ZERO) != amount:
        return None
    for line in lines:
        _request_refund(line, code=DISPUTED_DEBIT, reason=reason)
    return [refund_no_of(line) for line in lines]


def refund_no_of(line: OrderLine) -> str:
    """A line's refund number at its gateway: the same on every attempt (banks refund once per number)."""
    return f"RF{line.order.order_no}-{line.line_no:04d}"


REFUND_TASK = "payers.tasks.refund_order_line"


def refund_line(*, line_id: int, attempt: int = 1) -> str:
    """Give a line's money back through its gateway (outside any transaction: it talks to the bank).

    A refund the bank does not confirm (a refusal, no answer, an error) leaves the line `refund_pending`
    and is tried again by its task with backoff and jitter (config.retries.REFUND; the refund number is
    the same every time, and banks refund once per number). After the policy's last attempt the line is
    `refund_failed` and the failure recorded for staff (FailedTask), who can send it again."""
    line = OrderLine.objects.select_related("order").get(pk=line_id)
    if line.outcome != LineOutcome.REFUND_PENDING:
        return line.outcome
    refund_no = refund_no_of(line)
    # Even when the gateway has been switched off since: the money it took for this order goes back to the
    # payer by the same way. It is our request to the bank (its answer is checked by the adapter), and a
    # refund only marks the line refunded: it never posts to the ledger.
    gateway = get_gateway(line.order.gateway, require_enabled=False)
    try:
        result = gateway.refund(order=line.order, line=line, refund_no=refund_no)
        ok, message = result.ok, result.message
    except Exception as exc:  # the bank unreachable or answering nonsense: a failed attempt like a refusal
        logger.warning("refund %s: attempt %d raised", refund_no, attempt, exc_info=True)
        ok, message = False, f"{type(exc).__name__}: {exc}"[:300]
    gave_up = not ok and retries.REFUND.exhausted(attempt)
    with transaction.atomic():
        line = locks.lock_order_line(line_id)
        if line.outcome != LineOutcome.REFUND_PENDING:
            return line.outcome
        line.refund_no = refund_no
        if ok:
            line.outcome = LineOutcome.REFUNDED
            line.refunded_at = timezone.now()
            outbox.refund_event(
                line=line,
                refund_no=refund_no,
                biller_code=line.biller.code,
                account_no=line.account.account_no if line.account_id else "",
            )
        elif gave_up:
            line.outcome = LineOutcome.REFUND_FAILED
        line.save(update_fields=["outcome", "refund_no", "refunded_at"])
        record_audit(
            actor=None,
            action=f"order_line.{line.outcome}" if ok or gave_up else "order_line.refund_attempt_failed",
            target=line,
            reason=message,
            refund_no=refund_no,
            amount=line.amount,
            attempt=attempt,
        )
    if gave_up:
        failed_tasks.record_failure(
            task_name=REFUND_TASK, args=[line_id], error=message or "refund refused", attempts=attempt
        )
    if ok or gave_up:  # one line per refund, at its final outcome
        log_money_action(
            "refund",
            amount=line.amount,
            channel=Channel.ONLINE,
            outcome=line.outcome,
            order_id=line.order_id,
            order_line_id=line.pk,
            refund_no=refund_no,
            gateway=line.order.gateway,
        )
    return line.outcome


def retry_failed_refund(failed_task, actor) -> None:
    """The FailedTask retry action of a refund (billing.failed_tasks): as staff retrying the line."""
    (line_id,) = failed_task.args
    retry_refund(line=OrderLine.objects.get(pk=line_id), actor=actor)


def retry_refund(*, line: OrderLine, actor) -> str:
    """Staff send a failed refund to the bank again: a fresh round of attempts by its task, after commit."""
    with transaction.atomic():
        line = locks.lock_order_line(line.pk)
        if line.outcome != LineOutcome.REFUND_FAILED:
            return line.outcome
        line.outcome = LineOutcome.REFUND_PENDING
        line.save(update_fields=["outcome"])
        record_audit(actor=actor, action="order_line.refund_retried", target=line)
        from payers import tasks

        line_id = line.pk
        transaction.on_commit(lambda: tasks.refund_order_line.delay(line_id))
    return line.outcome


def bind_account(*, user, account: CustomerAccount, label: str) -> BoundAccount:
    label = (label or "").strip()
    if not label:
        raise PortalError("label_required")
    with transaction.atomic():
        if BoundAccount.objects.filter(user=user, account=account).exists():
            raise PortalError("already_bound")
        bound = BoundAccount.objects.create(user=user, account=account, label=label[:40])
        record_audit(actor=user, action="account.bound", target=bound, account=str(account))
    return bound


def unbind_account(*, user, bound: BoundAccount) -> None:
    with transaction.atomic():
        record_audit(actor=user, action="account.unbound", target=bound, account=str(bound.account_id))
        bound.delete()


def set_reminders(*, user, bound: BoundAccount, enabled: bool) -> BoundAccount:
    with transaction.atomic():
        bound.reminders = enabled
        bound.save(update_fields=["reminders"])
        record_audit(actor=user, action="account.reminders_set", target=bound, enabled=enabled)
    return bound


ORDER_KIND_FOR_MODE = {
    PaymentMode.STATEMENT: OrderKind.BILLS,
    PaymentMode.PREPAID: OrderKind.TOPUP,
    PaymentMode.DONATION: OrderKind.DONATION,
}


def can_retry_refunds(user) -> bool:
    from billing.access import is_platform_admin

    return is_platform_admin(user)


# How many lines of a big paid order (a proxy batch's thousands of residents) one transaction posts.
SETTLE_CHUNK = 100


def settle_order(*, order_id: int) -> dict:
    """Post the waiting lines of a paid order, a chunk at a time, each chunk in its own short transaction
    through the batch posting service (safe to run twice: a line is posted only while it waits)."""
    order = GatewayOrder.objects.get(pk=order_id)
    if order.status != OrderStatus.PAID:
        return {"posted": 0}
    done = 0
    waiting = list(
        order.lines.filter(outcome=LineOutcome.WAITING).order_by("pk").values_list("pk", flat=True)
    )
    for start in range(0, len(waiting), SETTLE_CHUNK):
        with transaction.atomic():
            lines = locks.lock_order_lines_to_post(waiting[start : start + SETTLE_CHUNK])
            done += _settle_lines(order, [line for line in lines if line.outcome == LineOutcome.WAITING])
    return {"posted": done}


def _settle_lines(order: GatewayOrder, lines: list[OrderLine]) -> int:
    """`_settle_line` for many lines of one order: posted together (`post_payments`, one transaction of a few
    statements); a line whose payment is refused goes through `_settle_line`, which keeps its money as credit
    or refunds it as it does for any line."""
    if not lines:
        return 0
    results = post_payments(
        channel=Channel.ONLINE,
        orders=[
            PaymentOrder(
                idempotency_key=line.idempotency_key,
                biller_code=line.biller.code,
                account_no=line.account.account_no if line.account else "",
                amount=line.amount,
                periods=tuple(line.periods),
                channel_ref=line.sub_trade_no,
            )
            for line in lines
        ],
        payer=order.payer,
        priced_on=amounts.beijing_date(order.created_at),  # as `_post`: the day the order fixed its amounts
    )
    posted = []
    for line, result in zip(lines, results, strict=True):
        if isinstance(result, PaymentRefused):
            _settle_line(order, line, line.sub_trade_no)
            continue
        line.payment, line.outcome = result.payment, LineOutcome.POSTED
        posted.append(line)
    OrderLine.objects.bulk_update(posted, ["payment", "outcome"])
    return len(lines)


def start_proxy_checkout(*, batch, user, gateway_code: str) -> GatewayOrder:
    from payers import proxy

    with transaction.atomic():
        batch = locks.lock_proxy_batch(batch.pk)
        if batch.order_id:
            return batch.order
        order = start_checkout(
            lines=proxy.checkout_lines(batch),
            kind=OrderKind.PROXY,
            user=user,
            gateway_code=gateway_code,
            subject=f"{batch.biller.display_name} {proxy.summary(batch)}",
        )
        batch.order = order
        batch.save(update_fields=["order"])
        record_audit(actor=user, action="proxy_batch.checkout", target=batch, order=order.order_no)
    return order


def query_pending_orders(*, older_than_minutes: int) -> dict:
    """Ask the bank about orders still pending after a while (a lost or late notification); a verified
    answer is applied exactly like a notification, so nothing is posted twice. An order the bank has
    nothing final to say about once its time to pay and this delay have passed is closed (`expire_order`),
    so abandoned orders do not pile up in front of newer ones."""
    delay = datetime.timedelta(minutes=older_than_minutes)
    now = timezone.now()
    pending = GatewayOrder.objects.filter(status=OrderStatus.PENDING, created_at__lt=now - delay).order_by(
        "created_at"
    )
    results: dict[str, int] = {}
    for order in pending[:500]:
        # Also when the gateway has been switched off since the order was made: we ask the bank (an
        # outgoing call to its address, not a message anybody can post to ours), and its answer is checked
        # like a notification — signature with the gateway's key, merchant, the order's gateway, amount,
        # trade — before anything is posted. Incoming notifications for a switched-off gateway are refused.
        gateway = get_gateway(order.gateway, require_enabled=False)
        try:
            params = gateway.query(order)
        except Exception:  # the bank is unreachable: try again on the next run
            params = None
        if params:
            result = _take_notice(gateway, params, source="query")
        elif order.expires_at + delay < now:
            _close_at_bank(gateway, order)
            if not expire_order(order_no=order.order_no):
                continue
            result = "expired"
        else:
            continue
        results[result] = results.get(result, 0) + 1
    return results


def _close_at_bank(gateway: Gateway, order: GatewayOrder) -> bool:
    """Tell the bank an abandoned order is closed, where it takes such a call (WeChat's 关闭订单), so that
    it can no longer be paid; the bank's own time limit holds if it cannot be reached. Whether it took it."""
    try:
        closed = gateway.close(order)
    except Exception:  # unreachable: its time limit (told at checkout) still stops the payment
        closed = False
    logger.info("order %s closed at %s: %s", order.order_no, gateway.code, closed)
    return closed


def request_receipt_bundle(*, order: GatewayOrder, language: str) -> ReceiptBundle:
    """Have every receipt of a big order built into one PDF by a task. Asking again while it is queued,
    being built or ready changes nothing; a failed build starts again."""
    from payers import tasks

    with transaction.atomic():
        locks.lock_order_by_no(order.order_no)  # two clicks at once start one build
        bundle, created = ReceiptBundle.objects.defer("data").get_or_create(
            order=order, defaults={"language": language}
        )
        if not created and bundle.status != ReceiptBundle.Status.FAILED:
            return bundle
        bundle.status, bundle.pages_done, bundle.message = ReceiptBundle.Status.QUEUED, 0, ""
        bundle.save(update_fields=["status", "pages_done", "message"])
        record_audit(actor=None, action="receipt_bundle.requested", target=order, retry=not created)
        bundle_id = bundle.pk
        transaction.on_commit(lambda: tasks.build_receipt_bundle.delay(bundle_id))
    return bundle


def build_receipt_bundle(*, bundle_id: int) -> dict:
    """Draw one page per receipt, saving progress every few pages; the PDF is kept with the bundle."""
    from payers import receipts, selectors

    bundle = ReceiptBundle.objects.defer("data").select_related("order").get(pk=bundle_id)
    if bundle.status not in (ReceiptBundle.Status.QUEUED, ReceiptBundle.Status.RUNNING):
        return {"status": bundle.status}
    payments = selectors.order_payments(bundle.order)
    bundle.status, bundle.pages_total, bundle.pages_done = ReceiptBundle.Status.RUNNING, len(payments), 0
    bundle.save(update_fields=["status", "pages_total", "pages_done"])

    def progress(pages: int) -> None:
        if pages % 100 == 0:
            ReceiptBundle.objects.filter(pk=bundle_id).update(pages_done=pages)

    site = settings.SITE_URL.rstrip("/")
    try:
        with translation.override(bundle.language):
            items = []
            for payment in payments:
                path, code = selectors.verification_path(payment)
                items.append((payment, site + path, code))
            data = receipts.receipts_pdf(items, on_page=progress)
    except Exception as error:
        ReceiptBundle.objects.filter(pk=bundle_id).update(
            status=ReceiptBundle.Status.FAILED, message=str(error)[:500], finished_at=timezone.now()
        )
        raise
    ReceiptBundle.objects.filter(pk=bundle_id).update(
        status=ReceiptBundle.Status.DONE, data=data, pages_done=len(payments), finished_at=timezone.now()
    )
    return {"status": ReceiptBundle.Status.DONE, "pages": len(payments), "bytes": len(data)}
