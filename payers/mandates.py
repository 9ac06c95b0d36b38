"""Auto-pay mandates (代扣): writes.

A citizen sets one up for an account in "My accounts": each new bill of that account is paid up to a
cap per bill, within a validity period, by an agreement debit at the bank (signed once on the bank's
page). For each new bill a `MandateDebit` is scheduled (unique per mandate and bill) `notice_days` ahead
and the citizen is told by e-mail/SMS, with a way to skip it. On the day, beat runs the debit:

1. under the debit's row lock, check the mandate (active, within its period) and the bill (still payable — not
   paid at another channel — and within the cap); refuse with a clear code and nothing posted otherwise;
   mark it PROCESSING;
2. outside any transaction, ask the bank to debit, named by the debit's own order number (the bank takes
   money once per number, so a retry or a crashed run never debits twice);
3. in one transaction, post the payment through `billing.services.post_payment` with the key
   `AUTOPAY:<mandate>-<bill>` (one payment per mandate and bill) and its outbox event. If the bill was paid
   elsewhere between 1 and 3, posting refuses and the money is refunded through the bank.

A declined or unanswered debit is tried again (config.retries.MANDATE_DEBIT) up to its limit, then the
citizen is told to pay themselves.

A partner's mandate (for its own customer, `Mandate.partner_code` + `customer_ref`): the partner is the
funding source (PARTNER_FUNDING), so step 2 is skipped and step 3 posts a PARTNER payment keyed
`<PARTNER>:AUTOPAY:<mandate>-<bill>`, which the partner collects from its customer (its statement and
reconciliation count it like its other payments). Instead of e-mail/SMS the partner is told through outbox
events delivered as its webhooks: `mandate.notice` when a debit is scheduled, `mandate.debit` with its
outcome.
"""

import datetime
import logging
import uuid
from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation

from billing import failed_tasks, outbox
from billing.audit import record_audit
from billing.choices import PAYABLE_BILL_STATUSES, Channel, PaymentMode
from billing.exceptions import BillingError, PaymentRefused
from billing.models import Bill
from billing.money import format_money, parse_amount
from billing.services import post_payment
from billing.transitions import transition
from config import retries
from payers import locks
from payers.choices import MANDATE_TRANSITIONS, PARTNER_FUNDING, DebitStatus, MandateStatus
from payers.exceptions import PortalError
from payers.gateways import get_gateway
from payers.models import BoundAccount, Mandate, MandateDebit, Payer

logger = logging.getLogger(__name__)

REFUND_TASK = "payers.tasks.refund_mandate_debit"

# Whether a partner may still fund its mandates' debits: (partner code, biller code) → a refusal code or "".
# The partner API registers it when it loads (api.apps): payers cannot look partners up itself.
_partner_funding_check: Callable[[str, str], str] | None = None


def register_partner_funding_check(check: Callable[[str, str], str]) -> None:
    global _partner_funding_check
    _partner_funding_check = check


# --- The citizen's mandate ---


def _cap(value) -> Decimal:
    try:
        cap = parse_amount(value)
    except BillingError:
        raise PortalError("mandate_cap_invalid") from None
    if cap > settings.MANDATE_MAX_CAP:
        raise PortalError("mandate_cap_too_high", limit=format_money(settings.MANDATE_MAX_CAP))
    return cap


def _check_terms(*, valid_from: datetime.date, valid_until: datetime.date, notice_days, today) -> int:
    years = settings.MANDATE_MAX_YEARS
    if (
        not isinstance(valid_from, datetime.date)
        or not isinstance(valid_until, datetime.date)
        or valid_from < today
        or valid_until <= valid_from
        or valid_until > today + datetime.timedelta(days=366 * years)
    ):
        raise PortalError("mandate_dates_invalid", years=years)
    low, high = settings.MANDATE_NOTICE_DAYS
    try:
        days = int(notice_days)
    except (TypeError, ValueError):
        raise PortalError("mandate_notice_invalid", low=low, high=high) from None
    if not low <= days <= high:
        raise PortalError("mandate_notice_invalid", low=low, high=high)
    return days


def create_mandate(
    *,
    user,
    bound: BoundAccount,
    cap_per_bill,
    valid_from: datetime.date,
    valid_until: datetime.date,
    notice_days,
    gateway_code: str,
) -> Mandate:
    """A new mandate, waiting for the citizen to sign the bank's agreement (`agreement_url`)."""
    if bound.user_id != user.pk:
        raise PortalError("mandate_account_not_bound")
    cap = _cap(cap_per_bill)
    days = _check_terms(
        valid_from=valid_from, valid_until=valid_until, notice_days=notice_days, today=timezone.localdate()
    )
    biller = bound.account.biller
    if biller.payment_mode != PaymentMode.STATEMENT:
        raise PortalError("mandate_biller_not_statement", biller=biller.display_name)
    gateway = get_gateway(gateway_code)
    if not gateway.supports_agreements:
        raise PortalError("mandate_gateway_no_agreements", gateway=gateway_code)
    try:
        with transaction.atomic():
            # A mandate left waiting for the bank is replaced by the new one.
            stale = locks.lock_mandates_awaiting_agreement(
                user=user, account=bound.account, status=MandateStatus.AWAITING_AGREEMENT
            )
            for old in stale:
                _move(old, MandateStatus.CANCELLED, actor=user, reason="replaced before signing")
            mandate = Mandate.objects.create(
                user=user,
                account=bound.account,
                label=bound.label,
                cap_per_bill=cap,
                valid_from=valid_from,
                valid_until=valid_until,
                notice_days=days,
                gateway=gateway.code,
            )
            record_audit(
                actor=user,
                action="mandate.created",
                target=mandate,
                account=str(bound.account),
                cap=cap,
                valid_until=valid_until,
            )
    except IntegrityError:
        raise PortalError("mandate_exists") from None
    return mandate


def create_partner_mandate(
    *,
    partner_code: str,
    customer_ref: str,
    account,
    cap_per_bill,
    valid_from: datetime.date,
    valid_until: datetime.date,
    notice_days,
) -> Mandate:
    """A partner's mandate for its own customer (the caller checked that the partner may pay this biller):
    active at once, as the partner is the funding source and signs no bank agreement."""
    if not partner_code or not customer_ref:
        raise PortalError("mandate_owner_missing")
    cap = _cap(cap_per_bill)
    days = _check_terms(
        valid_from=valid_from, valid_until=valid_until, notice_days=notice_days, today=timezone.localdate()
    )
    biller = account.biller
    if biller.payment_mode != PaymentMode.STATEMENT:
        raise PortalError("mandate_biller_not_statement", biller=biller.display_name)
    try:
        with transaction.atomic():
            mandate = Mandate.objects.create(
                partner_code=partner_code,
                customer_ref=customer_ref,
                account=account,
                cap_per_bill=cap,
                valid_from=valid_from,
                valid_until=valid_until,
                notice_days=days,
                gateway=PARTNER_FUNDING,
                status=MandateStatus.ACTIVE,
            )
            record_audit(
                actor=None,
                action="mandate.created",
                target=mandate,
                partner=partner_code,
                customer_ref=customer_ref,
                account=str(account),
                cap=cap,
                valid_until=valid_until,
            )
    except IntegrityError:
        raise PortalError("mandate_exists") from None
    return mandate


def agreement_url(mandate: Mandate, *, return_url: str) -> str:
    return get_gateway(mandate.gateway).agreement_url(mandate, return_url=return_url)


def confirm_agreement(*, user, gateway_code: str, params: dict[str, str]) -> Mandate:
    """The bank's signed return from its agreement page: the mandate becomes active when it was signed."""
    gateway = get_gateway(gateway_code)
    result = gateway.parse_agreement_return(params)  # GatewayError when it cannot be trusted
    with transaction.atomic():
        mandate = locks.lock_mandate_of_agreement(
            user=user, gateway=gateway.code, public_id=_uuid_or_none(result.merchant_agreement_no)
        )
        _apply_agreement(mandate, result, actor=user)
    if not result.signed:
        raise PortalError("mandate_agreement_declined")
    return mandate


def confirm_agreement_notice(*, gateway_code: str, params: dict[str, str]) -> Mandate:
    """The bank's signed server notification of the agreement (Alipay sends the sign result only so, to the
    `notify_url` of its page): the same outcome as the browser's return, without a signed-in citizen."""
    gateway = get_gateway(gateway_code)
    result = gateway.parse_agreement_return(params)  # GatewayError when it cannot be trusted
    with transaction.atomic():
        mandate = locks.lock_mandate_at_gateway(
            gateway=gateway.code, public_id=_uuid_or_none(result.merchant_agreement_no)
        )
        _apply_agreement(mandate, result, actor=mandate.user if mandate else None)
    return mandate


def _apply_agreement(mandate: Mandate | None, result, *, actor) -> None:
    if mandate is None:
        raise PortalError("mandate_agreement_unknown")
    if mandate.status != MandateStatus.AWAITING_AGREEMENT:
        return  # the return or notification repeated: nothing more to do
    if result.signed:
        mandate.agreement_no = result.agreement_no
        _move(mandate, MandateStatus.ACTIVE, actor=actor, agreement_no=result.agreement_no)
    else:
        _move(mandate, MandateStatus.CANCELLED, actor=actor, reason="agreement declined at the bank")


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(hex=value)
    except ValueError:
        return None


def _move(mandate: Mandate, target: str, *, actor, reason: str = "", **data) -> None:
    """The one place a mandate changes status: allowed by MANDATE_TRANSITIONS, saved and audited."""
    left = transition(
        mandate,
        target,
        table=MANDATE_TRANSITIONS,
        choices=MandateStatus,
        name=str(Mandate._meta.verbose_name),
    )
    mandate.updated_at = timezone.now()
    mandate.save(update_fields=["status", "agreement_no", "updated_at"])
    record_audit(actor=actor, action=f"mandate.{target}", target=mandate, reason=reason, was=left, **data)
    if target in (MandateStatus.PAUSED, MandateStatus.CANCELLED, MandateStatus.EXPIRED):
        # Its scheduled debits will not run; a resumed mandate schedules the bills still open again.
        MandateDebit.objects.filter(mandate=mandate, status=DebitStatus.SCHEDULED).update(
            status=DebitStatus.REFUSED,
            refusal_code=f"mandate_{target}",
            updated_at=timezone.now(),
        )
    if target == MandateStatus.CANCELLED and mandate.agreement_no:
        code, agreement_no = mandate.gateway, mandate.agreement_no
        transaction.on_commit(lambda: _end_agreement(code, agreement_no))


def _end_agreement(gateway_code: str, agreement_no: str) -> None:
    try:
        get_gateway(gateway_code, require_enabled=False).end_agreement(agreement_no=agreement_no)
    except Exception:  # the bank unreachable: our side debits no more anyway
        logger.warning("mandate: ending agreement %s at the bank failed", agreement_no, exc_info=True)


def set_mandate_status(*, actor, mandate: Mandate, target: str) -> Mandate:
    """Pause, resume or cancel (the portal; staff)."""
    with transaction.atomic():
        mandate = locks.lock_mandate(mandate.pk)
        if mandate.status in (MandateStatus.CANCELLED, MandateStatus.EXPIRED):
            raise PortalError("mandate_not_changeable", status=MandateStatus(mandate.status).label)
        if target == MandateStatus.ACTIVE and mandate.valid_until < timezone.localdate():
            _move(mandate, MandateStatus.EXPIRED, actor=None, reason="validity ended")
            return mandate
        if target == MandateStatus.ACTIVE and mandate.status == MandateStatus.AWAITING_AGREEMENT:
            raise PortalError("mandate_not_changeable", status=MandateStatus(mandate.status).label)
        _move(mandate, target, actor=actor)
        if target == MandateStatus.ACTIVE:
            # Bills whose debit was refused while paused are looked at again by the next scheduling.
            MandateDebit.objects.filter(
                mandate=mandate, status=DebitStatus.REFUSED, refusal_code="mandate_paused"
            ).delete()
    return mandate


def edit_mandate(*, user, mandate: Mandate, cap_per_bill, valid_until: datetime.date, notice_days) -> Mandate:
    """Change the cap, the end or the notice. A higher cap or a later end than the bank's agreement allows
    is refused by the bank at the debit: the sandbox's agreement is re-signed by setting up anew."""
    cap = _cap(cap_per_bill)
    with transaction.atomic():
        mandate = locks.lock_mandate(mandate.pk)
        if mandate.status not in (MandateStatus.ACTIVE, MandateStatus.PAUSED):
            raise PortalError("mandate_not_changeable", status=MandateStatus(mandate.status).label)
        today = timezone.localdate()
        days = _check_terms(
            valid_from=max(mandate.valid_from, today),
            valid_until=valid_until,
            notice_days=notice_days,
            today=today,
        )
        before = (mandate.cap_per_bill, mandate.valid_until, mandate.notice_days)
        mandate.cap_per_bill, mandate.valid_until, mandate.notice_days = cap, valid_until, days
        mandate.updated_at = timezone.now()
        mandate.save(update_fields=["cap_per_bill", "valid_until", "notice_days", "updated_at"])
        record_audit(
            actor=user,
            action="mandate.changed",
            target=mandate,
            before=before,
            after=(cap, valid_until, days),
        )
    return mandate


def skip_debit(*, user, debit: MandateDebit, partner_code: str = "") -> MandateDebit:
    """The citizen skips one scheduled debit (from the notice's link): they will pay that bill themselves.
    A partner's mandate: its partner skips it (`user` None, `partner_code` the partner's)."""
    with transaction.atomic():
        debit = locks.lock_debit(debit.pk)
        owner_ok = (
            debit.mandate.partner_code == partner_code
            if partner_code
            else user is not None and debit.mandate.user_id == user.pk
        )
        if not owner_ok:
            raise PortalError("mandate_agreement_unknown")
        if debit.status != DebitStatus.SCHEDULED:
            raise PortalError("mandate_debit_not_skippable", status=DebitStatus(debit.status).label)
        debit.status = DebitStatus.SKIPPED
        debit.updated_at = timezone.now()
        debit.save(update_fields=["status", "updated_at"])
        record_audit(actor=user, action="mandate_debit.skipped", target=debit, period=debit.bill.period)
    return debit


# --- Beat: scheduling, debiting, refunding ---


def expire_mandates(*, today: datetime.date | None = None) -> int:
    today = today or timezone.localdate()
    done = 0
    ids = Mandate.objects.filter(
        status__in=(MandateStatus.ACTIVE, MandateStatus.PAUSED), valid_until__lt=today
    ).values_list("pk", flat=True)
    for mandate_id in list(ids):
        with transaction.atomic():
            mandate = locks.lock_mandate(mandate_id)
            if mandate.status in (MandateStatus.ACTIVE, MandateStatus.PAUSED) and mandate.valid_until < today:
                _move(mandate, MandateStatus.EXPIRED, actor=None, reason="validity ended")
                done += 1
    return done


def schedule_debits(*, today: datetime.date | None = None) -> dict:
    """For each active mandate, each payable bill of its account issued since the mandate was set up and not
    yet scheduled gets its debit `notice_days` ahead, and the citizen their notice. The unique (mandate, bill)
    row makes this safe to run twice or on two workers."""
    today = today or timezone.localdate()
    counts = {"scheduled": 0, "refused": 0}
    mandates = Mandate.objects.filter(
        status=MandateStatus.ACTIVE, valid_from__lte=today, valid_until__gte=today
    ).select_related("account__biller", "user")
    for mandate in mandates:
        bills = Bill.objects.filter(
            account=mandate.account, status__in=PAYABLE_BILL_STATUSES, created_at__gte=mandate.created_at
        ).exclude(pk__in=MandateDebit.objects.filter(mandate=mandate).values("bill_id"))
        for bill in bills.order_by("due_date", "period"):
            debit_on = today + datetime.timedelta(days=mandate.notice_days)
            refusal = _refusal_before_debit(mandate, bill, bill.outstanding, on=debit_on)
            try:
                with transaction.atomic():
                    debit = MandateDebit.objects.create(
                        mandate=mandate,
                        bill=bill,
                        amount=bill.outstanding,
                        debit_on=debit_on,
                        status=DebitStatus.REFUSED if refusal else DebitStatus.SCHEDULED,
                        refusal_code=refusal.code if refusal else "",
                        message=str(refusal.message)[:300] if refusal else "",
                        notice_sent_at=timezone.now(),
                    )
                    record_audit(
                        actor=None,
                        action="mandate_debit.refused" if refusal else "mandate_debit.scheduled",
                        target=debit,
                        reason=str(refusal.message) if refusal else "",
                        period=bill.period,
                        amount=debit.amount,
                        debit_on=debit_on,
                    )
                    debit_id = debit.pk
                    kind = "refused" if refusal else "notice"
                    if mandate.partner_code:
                        _partner_event(debit, NOTICE_EVENT if not refusal else outbox.EventType.MANDATE_DEBIT)
                    else:
                        transaction.on_commit(lambda debit_id=debit_id, kind=kind: notify(debit_id, kind))
            except IntegrityError:
                continue
            counts["refused" if refusal else "scheduled"] += 1
    return counts


def _refusal_before_debit(mandate: Mandate, bill: Bill, amount: Decimal, *, on: datetime.date):
    """Why this bill must not be debited now, as a PortalError; None when it may."""
    if mandate.status != MandateStatus.ACTIVE:
        return PortalError(
            "mandate_not_active", status=MandateStatus(mandate.status).label, period=bill.period
        )
    if on > mandate.valid_until:
        return PortalError("mandate_expired", date=mandate.valid_until.isoformat(), period=bill.period)
    if mandate.partner_code and _partner_funding_check is not None:
        code = _partner_funding_check(mandate.partner_code, mandate.account.biller.code)
        if code:
            return PortalError(
                code,
                partner=mandate.partner_code,
                biller=mandate.account.biller.display_name,
                period=bill.period,
            )
    if bill.status not in PAYABLE_BILL_STATUSES or amount <= 0:
        return PortalError("mandate_bill_paid_elsewhere", period=bill.period)
    if amount > mandate.cap_per_bill:
        return PortalError(
            "mandate_cap_exceeded",
            period=bill.period,
            amount=format_money(amount),
            cap=format_money(mandate.cap_per_bill),
        )
    return None


def due_debit_ids(*, now: datetime.datetime | None = None) -> list[int]:
    now = now or timezone.now()
    today = timezone.localdate(now)
    stale = now - datetime.timedelta(minutes=settings.MANDATE_PROCESSING_STALE_MINUTES)
    query = MandateDebit.objects.filter(
        Q(status=DebitStatus.SCHEDULED, debit_on__lte=today)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        | Q(status=DebitStatus.PROCESSING, updated_at__lt=stale)
    )
    return list(query.order_by("debit_on", "pk").values_list("pk", flat=True)[:1000])


def run_debit(*, debit_id: int) -> str:
    """Debit one bill through its mandate (steps 1–3 of the module's docstring); safe to run twice."""
    now = timezone.now()
    with transaction.atomic():
        debit = locks.lock_debit(debit_id)
        if debit.status == DebitStatus.SCHEDULED:
            if debit.debit_on > timezone.localdate(now) or (
                debit.next_attempt_at and debit.next_attempt_at > now
            ):
                return debit.status
            mandate = debit.mandate
            bill = debit.bill
            refusal = _refusal_before_debit(mandate, bill, bill.outstanding, on=timezone.localdate(now))
            if refusal is not None:
                status = (
                    DebitStatus.PAID_ELSEWHERE
                    if refusal.code == "mandate_bill_paid_elsewhere"
                    else DebitStatus.REFUSED
                )
                _finish(debit, status, code=refusal.code, message=str(refusal.message))
                return debit.status
            debit.amount = bill.outstanding
            debit.status = DebitStatus.PROCESSING
            debit.attempts += 1
            debit.updated_at = now
            debit.save(update_fields=["amount", "status", "attempts", "updated_at"])
        elif debit.status == DebitStatus.PROCESSING:
            # A run that died after step 1 or 2: ask the bank again with the same order number (it debits
            # once per number, answering the first debit), and post.
            debit.updated_at = now
            debit.save(update_fields=["updated_at"])
        else:
            return debit.status
    mandate = debit.mandate
    if mandate.gateway == PARTNER_FUNDING:
        return _post_debit(debit_id, "")  # the partner pays: no bank to ask, it collects from its customer
    gateway = get_gateway(mandate.gateway, require_enabled=False)
    try:
        result = gateway.agreement_debit(
            agreement_no=mandate.agreement_no,
            out_trade_no=debit.order_no,
            amount=debit.amount,
            subject=f"{mandate.account.biller.display_name} {debit.bill.period}",
        )
        ok, trade_no, message = result.ok, result.trade_no, result.message
    except Exception as exc:  # the bank unreachable or answering nonsense: a failed attempt
        logger.warning("mandate debit %s: attempt %d raised", debit.order_no, debit.attempts, exc_info=True)
        ok, trade_no, message = False, "", f"{type(exc).__name__}: {exc}"[:300]
    if ok:
        return _post_debit(debit_id, trade_no)
    return _debit_failed(debit_id, message)


def _post_debit(debit_id: int, trade_no: str) -> str:
    with transaction.atomic():
        debit = locks.lock_debit(debit_id)
        if debit.status != DebitStatus.PROCESSING:
            return debit.status
        mandate = debit.mandate
        debit.trade_no = trade_no
        by_partner = mandate.gateway == PARTNER_FUNDING
        payer = None if by_partner else Payer.objects.filter(user_id=mandate.user_id).first()
        try:
            result = post_payment(
                channel=Channel.PARTNER if by_partner else Channel.ONLINE,
                idempotency_key=debit.idempotency_key,
                biller_code=mandate.account.biller.code,
                account_no=mandate.account.account_no,
                amount=debit.amount,
                periods=[debit.bill.period],
                payer=payer,
                channel_ref=debit.order_no if by_partner else trade_no,
            )
        except PaymentRefused as refused:
            if by_partner:
                # No money moved anywhere (the partner collects only what was posted): simply not debited.
                status = (
                    DebitStatus.PAID_ELSEWHERE if refused.code == "bill_already_paid" else DebitStatus.REFUSED
                )
                _finish(debit, status, code=refused.code, message=str(refused.message))
                return debit.status
            # Paid at another channel while the bank was debiting: the money goes back.
            _finish(debit, DebitStatus.REFUND_PENDING, code=refused.code, message=str(refused.message))
            from payers import tasks

            transaction.on_commit(lambda: tasks.refund_mandate_debit.delay(debit_id))
            return debit.status
        debit.payment = result.payment
        if not result.replayed and not by_partner:  # a partner's: its outcome event is written by _finish
            outbox.mandate_debit_event(
                debit_id=debit.pk,
                mandate_id=mandate.public_id,
                receipt_no=result.payment.receipt_no,
                biller_code=mandate.account.biller.code,
                account_no=mandate.account.account_no,
                period=debit.bill.period,
                amount=debit.amount,
            )
        _finish(debit, DebitStatus.PAID, receipt_no=result.payment.receipt_no)
    return debit.status


def _debit_failed(debit_id: int, message: str) -> str:
    with transaction.atomic():
        debit = locks.lock_debit(debit_id)
        if debit.status != DebitStatus.PROCESSING:
            return debit.status
        if retries.MANDATE_DEBIT.exhausted(debit.attempts):
            _finish(debit, DebitStatus.FAILED, code="bank_declined", message=message)
            return debit.status
        debit.status = DebitStatus.SCHEDULED
        debit.message = message[:300]
        debit.next_attempt_at = timezone.now() + datetime.timedelta(
            seconds=retries.MANDATE_DEBIT.delay(debit.attempts)
        )
        debit.updated_at = timezone.now()
        debit.save(update_fields=["status", "message", "next_attempt_at", "updated_at"])
        record_audit(
            actor=None,
            action="mandate_debit.attempt_failed",
            target=debit,
            reason=message,
            attempt=debit.attempts,
        )
    return debit.status


_NOTIFY_KINDS = {
    DebitStatus.PAID: "paid",
    DebitStatus.FAILED: "failed",
    DebitStatus.REFUSED: "refused",
    DebitStatus.REFUND_PENDING: "refund",
}


def _finish(debit: MandateDebit, status: str, *, code: str = "", message: str = "", **data) -> None:
    """Save a debit's outcome, audit it and tell the citizen after commit (in the caller's transaction)."""
    debit.status = status
    debit.refusal_code = code[:40]
    debit.message = message[:300]
    debit.next_attempt_at = None
    debit.updated_at = timezone.now()
    debit.save(
        update_fields=[
            "status",
            "refusal_code",
            "message",
            "next_attempt_at",
            "trade_no",
            "payment",
            "updated_at",
        ]
    )
    record_audit(
        actor=None,
        action=f"mandate_debit.{status}",
        target=debit,
        reason=message,
        code=code,
        period=debit.bill.period,
        amount=debit.amount,
        **data,
    )
    if debit.mandate.partner_code:
        if status in _PARTNER_OUTCOMES:
            _partner_event(debit, outbox.EventType.MANDATE_DEBIT)
        return
    kind = _NOTIFY_KINDS.get(status)
    if kind:
        debit_id = debit.pk
        transaction.on_commit(lambda: notify(debit_id, kind))


NOTICE_EVENT = "mandate.notice"
# The outcomes a partner is told of (`mandate.debit`); a debit of a partner's mandate is never refunded.
_PARTNER_OUTCOMES = (DebitStatus.PAID, DebitStatus.PAID_ELSEWHERE, DebitStatus.REFUSED, DebitStatus.FAILED)


def _partner_event(debit: MandateDebit, event_type: str) -> None:
    """Tell a partner about its mandate's debit: an outbox event in the caller's transaction, delivered as the
    partner's webhook (api.webhooks.partner_deliveries_for_events; docs/partner-api.md "Auto-pay")."""
    mandate = debit.mandate
    outbox.record(
        type=event_type,
        aggregate_type="mandate_debit",
        aggregate_id=debit.pk,
        payload={
            "partner_code": mandate.partner_code,
            "customer_ref": mandate.customer_ref,
            "mandate_id": str(mandate.public_id),
            "debit_id": debit.pk,
            "biller_code": mandate.account.biller.code,
            "account_no": mandate.account.account_no,
            "period": debit.bill.period,
            "amount": outbox.money(debit.amount),
            "debit_on": debit.debit_on,
            "status": debit.status,
            "code": debit.refusal_code,
            "message": debit.message,
            "receipt_no": debit.payment.receipt_no if debit.payment_id else "",
        },
    )


def refund_debit(*, debit_id: int, attempt: int = 1) -> str:
    """Give back a debit that could not be posted (the bill was paid elsewhere meanwhile); outside any
    transaction: it talks to the bank. Tried again by its task (config.retries.REFUND), then recorded."""
    debit = MandateDebit.objects.select_related("mandate").get(pk=debit_id)
    if debit.status != DebitStatus.REFUND_PENDING:
        return debit.status
    refund_no = f"RF{debit.order_no}"
    gateway = get_gateway(debit.mandate.gateway, require_enabled=False)
    try:
        result = gateway.debit_refund(out_trade_no=debit.order_no, amount=debit.amount, refund_no=refund_no)
        ok, message = result.ok, result.message
    except Exception as exc:
        logger.warning("mandate refund %s: attempt %d raised", refund_no, attempt, exc_info=True)
        ok, message = False, f"{type(exc).__name__}: {exc}"[:300]
    gave_up = not ok and retries.REFUND.exhausted(attempt)
    with transaction.atomic():
        debit = locks.lock_debit(debit_id)
        if debit.status != DebitStatus.REFUND_PENDING:
            return debit.status
        debit.refund_no = refund_no
        if ok or gave_up:
            debit.status = DebitStatus.REFUNDED if ok else DebitStatus.REFUND_FAILED
        debit.updated_at = timezone.now()
        debit.save(update_fields=["status", "refund_no", "updated_at"])
        record_audit(
            actor=None,
            action=f"mandate_debit.{debit.status}"
            if ok or gave_up
            else "mandate_debit.refund_attempt_failed",
            target=debit,
            reason=message,
            refund_no=refund_no,
            attempt=attempt,
        )
    if gave_up:
        failed_tasks.record_failure(
            task_name=REFUND_TASK, args=[debit_id], error=message or "refund refused", attempts=attempt
        )
    return debit.status


def retry_failed_refund(failed_task, actor) -> None:
    """The FailedTask retry action of a debit's refund: a fresh round of attempts, after commit."""
    (debit_id,) = failed_task.args
    with transaction.atomic():
        debit = locks.lock_debit(debit_id)
        if debit.status != DebitStatus.REFUND_FAILED:
            return
        debit.status = DebitStatus.REFUND_PENDING
        debit.updated_at = timezone.now()
        debit.save(update_fields=["status", "updated_at"])
        record_audit(actor=actor, action="mandate_debit.refund_retried", target=debit)
        from payers import tasks

        transaction.on_commit(lambda: tasks.refund_mandate_debit.delay(debit_id))


# --- Notices ---


def notify(debit_id: int, kind: str) -> None:
    """Tell the citizen by e-mail and (a verified mobile) SMS, in their language: `notice` (a debit is coming,
    with the skip link), `paid`, `failed`, `refused`, `refund`."""
    from payers import tasks

    debit = MandateDebit.objects.select_related("mandate__user", "mandate__account__biller", "bill").get(
        pk=debit_id
    )
    user = debit.mandate.user
    if user is None:
        return  # a partner's mandate: its partner was told by webhook (_partner_event)
    payer = Payer.objects.filter(user=user).first()
    language = payer.language if payer else settings.LANGUAGE_CODE
    mobile = payer.mobile if payer and payer.mobile_verified else ""
    with translation.override(language):
        context = {
            "kind": kind,
            "debit": debit,
            "label": debit.mandate.label,
            "biller": debit.mandate.account.biller.display_name,
            "account_no": debit.mandate.account.account_no,
            "period": debit.bill.period,
            "amount": debit.amount,
            "debit_on": debit.debit_on,
            "message": debit.message,
            "manage_url": settings.SITE_URL.rstrip("/") + "/me/autopay/",
        }
        subject = render_to_string("emails/payers-mandate-subject.txt", context).strip()
        body = render_to_string("emails/payers-mandate-body.txt", context)
    if user.email:
        tasks.send_email.delay(subject, body, [user.email])
    if mobile:
        tasks.send_text_message.delay(mobile, subject)
