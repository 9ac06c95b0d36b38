"""Writes of the open APIs: partner payments and reversals, credentials, partner status."""

import datetime
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from api import credentials as credential_secrets
from api import locks, selectors
from api.choices import PARTNER_TRANSITIONS, CredentialStatus, PartnerStatus
from api.exceptions import ApiError
from api.models import ApiCredential, BillerApiAccess, Partner, PartnerReversal
from billing import presentment
from billing.audit import PaymentAudit, record_audit
from billing.choices import Channel, PaymentStatus
from billing.exceptions import BillingError, PaymentRefused
from billing.models import Biller, Payment
from billing.money import parse_amount
from billing.posting import KeptRow
from billing.posting_desk import post_payment_at_desk
from billing.services import PaymentOrder, PostingResult, post_order, post_payments, reverse_payment
from billing.transitions import transition
from branches import agents
from branches import selectors as branch_selectors
from branches.agents import AgentPaymentTaken
from branches.choices import AgentPaymentSource
from payers import mandates
from payers.choices import MandateStatus
from payers.models import Mandate


def partner_idempotency_key(partner: Partner, key: str) -> str:
    """The posting service's key for a partner's request: `<PARTNER CODE>:<Idempotency-Key>`
    (docs/statement-format.md, "Channel codes")."""
    return f"{partner.code}:{key}"


def take_partner_payment(
    *,
    partner: Partner,
    idempotency_key: str,
    biller_code: str,
    account_no: str,
    amount: str,
    periods: Sequence[str] = (),
    partner_ref: str,
    clearance=None,
    kept: KeptRow | None = None,
) -> PostingResult:
    """A payment a partner took from a payer, posted through the one posting service (with the live
    biller's `clearance` from `check_partner_payment_with_biller`, asked before the request's transaction);
    its audit row is written by the posting statement, and so is `kept`, the request's kept answer
    (api.idempotency.run_idempotent_posting), when there is one."""
    biller = selectors.partner_biller(partner, biller_code)
    order = _partner_order(
        partner,
        biller,
        idempotency_key=idempotency_key,
        account_no=account_no,
        amount=amount,
        periods=periods,
        partner_ref=partner_ref,
    )
    # The request's transaction ends with any refusal (api.idempotency): no savepoint of its own. With its
    # kept answer the posting is its own transaction, or a savepoint of a caller's (a test's).
    savepoint = kept is not None
    if clearance is None and not biller.has_live_link:
        # Posted with the requests that arrive together when a posting desk runs (billing/posting_desk.py),
        # in the desk's transaction: a retry of a request whose answer was lost is a replay of its payment.
        return post_payment_at_desk(channel=Channel.PARTNER, order=order, savepoint=savepoint, kept=kept)
    return post_order(
        channel=Channel.PARTNER, order=order, clearance=clearance, savepoint=savepoint, kept=kept
    )


def _partner_order(
    partner: Partner, biller: Biller, *, idempotency_key, account_no, amount, periods, partner_ref
) -> PaymentOrder:
    """A partner's payment as the posting service takes it: the partner's key, and its audit row."""
    return PaymentOrder(
        idempotency_key=partner_idempotency_key(partner, idempotency_key),
        biller_code=biller.code,
        account_no=account_no,
        amount=amount,
        periods=tuple(periods),
        channel_ref=partner_ref,
        audit=_payment_taken_audit(partner, partner_ref=partner_ref, amount=amount),
    )


def _payment_taken_audit(partner: Partner, *, partner_ref: str, amount: str) -> PaymentAudit:
    return PaymentAudit(
        "partner.payment_taken",
        {"partner": partner.code, "partner_ref": partner_ref, "amount": parse_amount(amount)},
    )


def take_partner_payments(
    *, partner: Partner, payments: Sequence[Mapping]
) -> list[PostingResult | BillingError]:
    """A batch of payments a partner took (批量代收), each a validated single payment's values with its own
    `idempotency_key`: posted together by `billing.services.post_payments`, each answered as
    `take_partner_payment` would answer it sent alone with that key (the same posting key: sent again alone
    or in another batch, it is a replay). The answer for each, in their order, is its `PostingResult` or its
    refusal (returned, not raised). A live biller's payments are refused (`batch_live_biller`): it must be
    asked before each payment's transaction, which a batch's one transaction cannot wait for."""
    results: list[PostingResult | BillingError | None] = [None] * len(payments)
    places, orders = [], []
    for place, values in enumerate(payments):
        try:
            biller = selectors.partner_biller(partner, values["biller_code"])
            if biller.has_live_link:
                raise ApiError("batch_live_biller", biller=biller.display_name)
        except BillingError as refused:
            results[place] = refused
            continue
        places.append(place)
        orders.append(
            _partner_order(
                partner,
                biller,
                idempotency_key=values["idempotency_key"],
                account_no=values["account_no"],
                amount=values["amount"],
                periods=values["periods"],
                partner_ref=values["partner_ref"],
            )
        )
    posted = post_payments(channel=Channel.PARTNER, orders=orders) if orders else []
    for place, result in zip(places, posted, strict=True):
        results[place] = result
    return results


def take_agent_app_payment(
    *,
    partner: Partner,
    idempotency_key: str,
    agent_code: str,
    terminal_id: str,
    biller_code: str,
    account_no: str,
    amount: str,
    periods: Sequence[str] = (),
) -> AgentPaymentTaken:
    """A payment an agent took on its app, sent by the partner that runs the app for the agent's operator:
    taken out of the agent's float (`branches.agents.take_agent_payment`), with its agent and terminal."""
    if partner.agent_operator_id is None:
        raise ApiError("not_an_agent_app", partner=partner.code)
    biller = selectors.partner_biller(partner, biller_code)
    staff = branch_selectors.agent_terminal(
        operator_id=partner.agent_operator_id, agent_code=agent_code, terminal_id=terminal_id
    )
    return agents.take_agent_payment(
        staff=staff,
        biller_code=biller.code,
        account_no=account_no,
        periods=list(periods),
        amount=amount,
        key=partner_idempotency_key(partner, idempotency_key),
        source=AgentPaymentSource.API,
    )


def check_partner_payment_with_biller(
    *, partner: Partner, idempotency_key: str, biller_code: str, account_no: str, amount, periods=()
):
    """A live biller's word on a partner's payment (billing.presentment), asked before the request's
    transaction opens: a bad answer or a changed amount is refused with nothing posted."""
    biller = selectors.partner_biller(partner, biller_code)
    if not biller.has_live_link:
        return None  # its bills are pushed: nothing to ask (post_payment reads the link again, locked)
    return presentment.check_with_biller(
        channel=Channel.PARTNER,
        idempotency_key=partner_idempotency_key(partner, idempotency_key),
        biller_code=biller.code,
        account_no=account_no,
        amount=amount,
        periods=periods,
    )


def reverse_partner_payment(*, partner: Partner, payment: Payment, reason: str, reversal_ref: str) -> Payment:
    """Give a payment back on the day it was taken. The same reversal asked again answers as before."""
    with transaction.atomic():
        existing = PartnerReversal.objects.filter(payment=payment).first()
        if existing is not None and existing.reversal_ref == reversal_ref:
            return Payment.objects.get(pk=payment.pk)
        if payment.status == PaymentStatus.REVERSED:
            raise PaymentRefused("payment_already_reversed", receipt_no=payment.receipt_no)
        today = timezone.localdate()
        if payment.business_date != today:
            raise ApiError(
                "reversal_window_closed",
                receipt_no=payment.receipt_no,
                business_date=payment.business_date.isoformat(),
                today=today.isoformat(),
            )
        if PartnerReversal.objects.filter(partner=partner, reversal_ref=reversal_ref).exists():
            raise ApiError("idempotency_key_reused", key=reversal_ref)
        payment = reverse_payment(payment=payment, actor=None, reason=f"{partner.code}: {reason}")
        PartnerReversal.objects.create(
            payment=payment, partner=partner, reversal_ref=reversal_ref, reason=reason[:200]
        )
        record_audit(
            actor=None,
            action="partner.payment_reversed",
            target=payment,
            reason=reason,
            partner=partner.code,
            reversal_ref=reversal_ref,
        )
    return payment


@dataclass(frozen=True)
class IssuedCredential:
    credential: ApiCredential
    secret: str  # shown once, to the admin who issued it


def issue_credential(*, owner: Partner | BillerApiAccess, actor, label: str = "") -> IssuedCredential:
    field = "partner" if isinstance(owner, Partner) else "biller_access"
    with transaction.atomic():
        credential = ApiCredential.objects.create(**{field: owner}, label=label[:80], created_by=actor)
        record_audit(actor=actor, action="api.credential_issued", target=credential, owner=str(owner))
    return IssuedCredential(credential=credential, secret=credential_secrets.secret_for(credential))


def rotate_credential(
    *, credential: ApiCredential, actor, overlap_hours: int | None = None
) -> IssuedCredential:
    """A new key for the same owner; the old one keeps working until the overlap ends."""
    hours = settings.API_KEY_ROTATION_OVERLAP_HOURS if overlap_hours is None else overlap_hours
    with transaction.atomic():
        old = locks.lock_credential(credential.pk)
        if not old.usable_at(timezone.now()):
            raise ApiError("credential_expired", key_id=old.key_id)
        issued = issue_credential(owner=old.owner, actor=actor, label=old.label)
        expires = timezone.now() + datetime.timedelta(hours=max(hours, 0))
        old.expires_at = min(old.expires_at, expires) if old.expires_at else expires
        old.replaced_by = issued.credential
        old.save(update_fields=["expires_at", "replaced_by"])
        record_audit(
            actor=actor,
            action="api.credential_rotated",
            target=old,
            replaced_by=issued.credential.key_id,
            expires_at=old.expires_at.isoformat(),
        )
    return issued


def revoke_credential(*, credential: ApiCredential, actor, reason: str = "") -> ApiCredential:
    with transaction.atomic():
        credential = locks.lock_credential(credential.pk)
        credential.status = CredentialStatus.REVOKED
        credential.save(update_fields=["status"])
        record_audit(actor=actor, action="api.credential_revoked", target=credential, reason=reason)
    return credential


def change_partner_status(*, partner: Partner, to_status: str, actor, reason: str = "") -> Partner:
    with transaction.atomic():
        partner = locks.lock_partner(partner.pk)
        current = transition(
            partner, to_status, table=PARTNER_TRANSITIONS, choices=PartnerStatus, name=partner.name
        )
        partner.status_reason = reason[:200] if to_status != PartnerStatus.ACTIVE else ""
        partner.save(update_fields=["status", "status_reason"])
        record_audit(
            actor=actor,
            action="partner.status_changed",
            target=partner,
            reason=reason,
            **{"from": current, "to": to_status},
        )
    return partner


def ensure_biller_api_access(*, biller: Biller, actor, webhook_url: str = "") -> BillerApiAccess:
    with transaction.atomic():
        access, created = BillerApiAccess.objects.get_or_create(
            biller=biller, defaults={"webhook_url": webhook_url, "webhook_seed": secrets.token_hex(32)}
        )
        if created:
            record_audit(actor=actor, action="api.biller_access_created", target=access)
    return access


def push_bills(*, access: BillerApiAccess, rows: list[dict], partial: bool):
    """A batch of bills from the biller API, through the bill import's own checks and upsert. A batch
    with errors stores nothing (unless `partial`) and is refused with every row's errors."""
    from api.biller.serializers import MAX_BATCH
    from billing.bill_import import import_rows

    if len(rows) > MAX_BATCH:
        raise ApiError("batch_too_large", limit=MAX_BATCH, count=len(rows))
    report = import_rows(access.biller, rows, actor=None, partial=partial, source="api")
    if not report.imported and report.error_count:
        error = ApiError("bill_import_failed", count=report.error_count)
        error.details = {"errors": [row_error.as_dict() for row_error in report.errors]}
        raise error
    return report


def offer_biller_instalments(*, bill, parts: list[dict], reason: str):
    """The biller offers its bill in instalments: amounts read as the bill import reads them (a bad one
    refused with its position), then `billing.services.offer_instalments` checks and audits the plan."""
    from billing.money import parse_money_text
    from billing.services import offer_instalments

    plan = []
    for number, part in enumerate(parts, start=1):
        amount, code = parse_money_text(part["amount"])
        if code:
            raise ApiError("instalment_amount_invalid", number=number, value=part["amount"])
        plan.append((amount, part["due_date"]))
    offer_instalments(bill=bill, parts=plan, actor=None, reason=f"biller API: {reason}".strip())
    bill.refresh_from_db()
    return bill


def cancel_biller_bill(*, bill, reason: str):
    from billing.services import cancel_bill

    return cancel_bill(bill=bill, actor=None, reason=f"biller API: {reason}")


def record_biller_card_write(
    *, payment: Payment, written: bool, write_ref: str = "", reason: str = ""
) -> Payment:
    """The biller's system says a held top-up reached the card (or failed to): phase 2 of the top-up
    (billing.topups), the request already verified as signed by this biller's key."""
    from billing import topups
    from billing.topup_models import TopUpSource

    if written:
        topups.confirm_topup(payment=payment, source=TopUpSource.BILLER, write_ref=write_ref)
    else:
        topups.void_topup(payment=payment, source=TopUpSource.BILLER, reason=reason or "write failed")
    return Payment.objects.select_related("account", "biller", "topup_hold").get(pk=payment.pk)


# --- Auto-pay mandates of a partner's customers (payers.mandates; docs/partner-api.md "Auto-pay") ---


def create_partner_mandate(
    *,
    partner: Partner,
    biller_code: str,
    account_no: str,
    customer_ref: str,
    cap_per_bill: str,
    valid_from: datetime.date,
    valid_until: datetime.date,
    notice_days: int,
) -> Mandate:
    """The partner sets up auto-pay for its own customer, on a biller it may take payments for; the partner
    is the funding source (it collects each posted debit from its customer)."""
    biller = selectors.partner_biller(partner, biller_code)
    account, _bills = selectors.account_with_open_bills(biller, account_no)
    return mandates.create_partner_mandate(
        partner_code=partner.code,
        customer_ref=customer_ref,
        account=account,
        cap_per_bill=cap_per_bill,
        valid_from=valid_from,
        valid_until=valid_until,
        notice_days=notice_days,
    )


def change_partner_mandate(*, partner: Partner, mandate_id: str, changes: dict) -> Mandate:
    """Change the cap, the end or the notice of the partner's own mandate; what is not sent stays."""
    mandate = selectors.partner_mandate(partner, mandate_id)
    if not changes:
        raise ApiError("mandate_nothing_to_change")
    return mandates.edit_mandate(
        user=None,
        mandate=mandate,
        cap_per_bill=changes.get("cap_per_bill", mandate.cap_per_bill),
        valid_until=changes.get("valid_until", mandate.valid_until),
        notice_days=changes.get("notice_days", mandate.notice_days),
    )


PARTNER_MANDATE_ACTIONS = {
    "pause": MandateStatus.PAUSED,
    "resume": MandateStatus.ACTIVE,
    "cancel": MandateStatus.CANCELLED,
}


def set_partner_mandate_status(*, partner: Partner, mandate_id: str, action: str) -> Mandate:
    mandate = selectors.partner_mandate(partner, mandate_id)
    return mandates.set_mandate_status(actor=None, mandate=mandate, target=PARTNER_MANDATE_ACTIONS[action])


def skip_partner_mandate_debit(*, partner: Partner, mandate_id: str, debit_id: int):
    """Its customer will pay this bill another way: the scheduled debit is skipped."""
    debit = selectors.partner_mandate_debit(partner, mandate_id, debit_id)
    return mandates.skip_debit(user=None, debit=debit, partner_code=partner.code)
