"""Writes of the agents with a float (issue 18, item 4): registering an agent, the payments it takes out
of its float (through `billing.services.post_payment`, channel AGENT, collected from the agent's float
account), float top-ups found on the float bank account's statement, and the low-float alert.

Each payment locks the agent row first, then checks the float and posts: two payments racing for the
float's last yuan are decided one after the other, and the second one sees the first one's debit."""

import datetime
import hashlib
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import ledger, presentment
from billing.audit import record_audit
from billing.choices import Channel, EntryKind
from billing.exceptions import PaymentRefused
from billing.fees import compute_fee
from billing.models import Biller
from billing.money import ZERO, format_money, parse_amount
from billing.rules import normalize_account_no, normalize_code
from billing.services import post_payment
from branches import locks, selectors
from branches.choices import AgentPaymentSource
from branches.exceptions import CounterError
from branches.models import Agent, AgentPayment, AgentStaff, FloatTopUp, LowFloatAlert


def agent_idempotency_key(agent: Agent, key: str) -> str:
    """The payment's key in `post_payment`: the agent's code and the key its page or app sent (hashed when
    the two would not fit the posting service's 128 characters)."""
    combined = f"{agent.code}:{key}"
    if len(combined) <= 128:
        return combined
    return f"{agent.code}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def save_agent(*, agent: Agent, actor, created: bool) -> Agent:
    """Register an agent or save its changes (the admin's `save_model`), with its float account."""
    with transaction.atomic():
        agent.full_clean(exclude=["billers"])
        agent.save()
        ledger.agent_float_account(code=agent.code, name=agent.name)
        record_audit(
            actor=actor,
            action="agent.registered" if created else "agent.changed",
            target=agent,
            operator=agent.operator.code,
            status=agent.status,
        )
    return agent


@dataclass(frozen=True)
class AgentPaymentTaken:
    agent_payment: AgentPayment
    replayed: bool


def take_agent_payment(
    *,
    staff: AgentStaff,
    biller_code: str,
    account_no: str,
    periods: list[str],
    amount: Decimal | str,
    key: str,
    source: str = AgentPaymentSource.PAGES,
) -> AgentPaymentTaken:
    """Take a payment at an agent, out of its float. Refused, with nothing written, when the agent is not
    active, the biller is not its own, the account is outside its area, or the float does not cover the
    amount. Idempotent on the agent and `key` (a form's key, or the app's Idempotency-Key)."""
    if not periods:
        raise CounterError("nothing_selected")
    amount = parse_amount(amount)
    agent = staff.agent
    idempotency_key = agent_idempotency_key(agent, key)
    biller = Biller.objects.filter(code=normalize_code(biller_code)).first()
    if biller is None:
        raise PaymentRefused("biller_unknown", biller=normalize_code(biller_code))
    selectors.check_agent_takes(agent, biller, normalize_account_no(account_no))
    _check_float(agent, amount)  # before a live biller is asked; again under the agent's lock below
    clearance = presentment.check_with_biller(
        channel=Channel.AGENT,
        idempotency_key=idempotency_key,
        biller_code=biller_code,
        account_no=account_no,
        amount=amount,
        periods=periods,
    )
    with transaction.atomic():
        agent = locks.lock_agent(agent.pk)
        replay = (
            AgentPayment.objects.select_related("payment")
            .filter(payment__channel=Channel.AGENT, payment__idempotency_key=idempotency_key)
            .first()
        )
        if replay is not None:
            return AgentPaymentTaken(agent_payment=replay, replayed=True)
        selectors.check_agent_takes(agent, biller, normalize_account_no(account_no))
        balance = _check_float(agent, amount)
        result = post_payment(
            channel=Channel.AGENT,
            idempotency_key=idempotency_key,
            biller_code=biller_code,
            account_no=account_no,
            periods=periods,
            amount=amount,
            actor=staff.user,
            channel_ref=f"{agent.code}/{staff.terminal_id}",
            clearance=clearance,
            collection=ledger.agent_float_account(code=agent.code, name=agent.name),
        )
        float_after = balance - amount
        agent_payment = AgentPayment.objects.create(
            payment=result.payment,
            agent=agent,
            terminal_id=staff.terminal_id,
            region_code=agent.region_code,
            latitude=agent.latitude,
            longitude=agent.longitude,
            source=source,
            float_after=float_after,
            commission=agent_commission_on(agent, amount),
        )
        record_audit(
            actor=staff.user,
            action="agent.payment_taken",
            target=result.payment,
            agent=agent.code,
            terminal=staff.terminal_id,
            amount=amount,
            float_after=float_after,
        )
        if float_after < agent.low_float_threshold:
            _raise_low_float_alert(agent, float_after)
    return AgentPaymentTaken(agent_payment=agent_payment, replayed=False)


def _check_float(agent: Agent, amount: Decimal) -> Decimal:
    """The float left, refused with `float_exhausted` when it does not cover the amount."""
    balance = selectors.float_balance(agent)
    if amount > balance:
        raise CounterError(
            "float_exhausted", agent=agent.code, balance=format_money(balance), amount=format_money(amount)
        )
    return balance


def agent_commission_on(agent: Agent, amount: Decimal) -> Decimal:
    """The agent's commission on one payment under its rule: fixed + amount × percentage, capped."""
    return compute_fee(
        amount=amount,
        fixed=agent.commission_fixed,
        percentage=agent.commission_percentage,
        min_fee=ZERO,
        max_fee=agent.commission_max,
    )


def _raise_low_float_alert(agent: Agent, balance: Decimal) -> None:
    """One open alert per agent (the agent row is locked): the agent's staff and the platform are told
    after commit."""
    if LowFloatAlert.objects.filter(agent=agent, resolved_at__isnull=True).exists():
        return
    alert = LowFloatAlert.objects.create(agent=agent, balance=balance, threshold=agent.low_float_threshold)
    record_audit(
        actor=None,
        action="agent.low_float",
        target=agent,
        balance=balance,
        threshold=agent.low_float_threshold,
    )
    from branches import tasks

    transaction.on_commit(lambda: tasks.notify_low_float.delay(alert_id=alert.pk))


def credit_float(
    *,
    agent: Agent,
    amount: Decimal,
    bank_ref: str,
    business_date: datetime.date,
    actor=None,
    statement_line_id: int | None = None,
) -> tuple[FloatTopUp, bool]:
    """Credit a bank transfer to the agent's float, once per bank reference: debit the float bank
    account (CLEARING:AGENT), credit the agent's float. Answers (top-up, created). Resolves the agent's
    low-float alert when the float is back at or above its threshold."""
    if amount <= ZERO:
        raise CounterError("topup_amount_invalid")
    with transaction.atomic():
        agent = locks.lock_agent(agent.pk)
        existing = FloatTopUp.objects.filter(bank_ref=bank_ref).first()
        if existing is not None:
            return existing, False
        entry = ledger.post_entry(
            kind=EntryKind.ADJUSTMENT,
            lines=[
                (ledger.collection_account(channel=Channel.AGENT), amount),
                (ledger.agent_float_account(code=agent.code, name=agent.name), -amount),
            ],
            business_date=business_date,
            memo=f"FLOAT-TOPUP {agent.code} {bank_ref}",
            actor=actor,
        )
        try:
            with transaction.atomic():
                topup = FloatTopUp.objects.create(
                    agent=agent,
                    amount=amount,
                    bank_ref=bank_ref[:64],
                    statement_line_id=statement_line_id,
                    entry=entry,
                )
        except IntegrityError:  # the same transfer credited to another agent at the same moment
            raise CounterError("topup_already_credited", bank_ref=bank_ref) from None
        balance = selectors.float_balance(agent)
        if balance >= agent.low_float_threshold:
            LowFloatAlert.objects.filter(agent=agent, resolved_at__isnull=True).update(
                resolved_at=timezone.now()
            )
        record_audit(
            actor=actor,
            action="agent.float_topped_up",
            target=agent,
            amount=amount,
            bank_ref=bank_ref,
            balance=balance,
        )
    return topup, True
