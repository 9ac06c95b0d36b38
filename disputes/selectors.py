"""Reads of disputes: each channel sees only its own payments and its own disputes."""

import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from billing.choices import Channel
from billing.models import Biller, Payment
from billing.rules import normalize_code
from disputes import taxonomy
from disputes.choices import OPEN_STATUSES, DisputeChannel
from disputes.exceptions import DisputeError
from disputes.models import Dispute


def payments_disputable_by(channel: str, *, source: str = "", user=None) -> QuerySet:
    """The payments a channel may raise a dispute on: a partner its own (its code prefixes their
    idempotency keys), the counter cash payments, a citizen the payments made with their account."""
    payments = Payment.objects.select_related("biller", "account")
    if channel == DisputeChannel.PARTNER:
        return payments.filter(channel=Channel.PARTNER, idempotency_key__startswith=f"{source}:")
    if channel == DisputeChannel.COUNTER:
        return payments.filter(channel=Channel.COUNTER)
    if channel == DisputeChannel.PORTAL and user is not None and user.is_authenticated:
        return payments.filter(payer__user=user)
    return payments.none()


def disputable_payment(channel: str, receipt_no: str, *, source: str = "", user=None) -> Payment:
    """The payment with this receipt number if the channel may dispute it; another channel's (another
    partner's) is refused exactly like one that does not exist, so nothing about it is revealed."""
    receipt_no = normalize_code(receipt_no or "")
    payment = payments_disputable_by(channel, source=source, user=user).filter(receipt_no=receipt_no).first()
    if payment is None:
        raise DisputeError("dispute_payment_unknown", receipt_no=receipt_no or "—")
    return payment


def disputes_raised_by(channel: str, *, source: str = "", user=None) -> QuerySet:
    disputes = Dispute.objects.select_related("biller", "payment", "resolution_payment")
    if channel == DisputeChannel.PORTAL:
        if user is None or not user.is_authenticated:
            return disputes.none()
        return disputes.filter(payer_user=user)
    return disputes.filter(channel=channel, source=source)


def dispute_raised_by(channel: str, ref: str, *, source: str = "", user=None) -> Dispute:
    dispute = (
        disputes_raised_by(channel, source=source, user=user).filter(ref=(ref or "").strip().upper()).first()
    )
    if dispute is None:
        raise DisputeError("dispute_unknown", ref=ref)
    return dispute


def disputes_for_biller(biller: Biller, *, open_only: bool = False) -> QuerySet:
    """The disputes about a biller that the biller answers (taxonomy: answerer = biller)."""
    disputes = Dispute.objects.filter(biller=biller, answerer=taxonomy.Answerer.BILLER).select_related(
        "payment", "biller"
    )
    return disputes.filter(status__in=OPEN_STATUSES) if open_only else disputes


def dispute_for_biller(biller: Biller, ref: str) -> Dispute:
    dispute = (
        Dispute.objects.filter(biller=biller, ref=(ref or "").strip().upper())
        .select_related("payment")
        .first()
    )
    if dispute is None:
        raise DisputeError("dispute_unknown", ref=ref)
    return dispute


def overdue_dispute_ids(now: datetime.datetime | None = None) -> list[int]:
    """Open disputes whose answer is past due and that nobody escalated yet."""
    now = now or timezone.now()
    return list(
        Dispute.objects.filter(status=OPEN_STATUSES[0], due_at__lt=now)
        .order_by("due_at")
        .values_list("pk", flat=True)
    )


def open_debit_dispute_ids() -> list[int]:
    """Open disputes of money taken at a channel without a payment: reconciliation settles them."""
    return list(
        Dispute.objects.filter(reason__in=taxonomy.auto_debit_codes(), status__in=OPEN_STATUSES)
        .exclude(channel_ref="")
        .order_by("raised_at")
        .values_list("pk", flat=True)
    )


def open_disputes_by_answerer(user, today: datetime.date) -> list[tuple[str, int, int]]:
    """The staff home's panel, one query: (who answers, open, of which overdue or escalated)."""
    rows = (
        Dispute.objects.filter(status__in=OPEN_STATUSES)
        .values("answerer")
        .annotate(
            open=Count("pk"),
            late=Count("pk", filter=Q(status=OPEN_STATUSES[1]) | Q(due_at__lt=timezone.now())),
        )
        .order_by("answerer")
    )
    return [(row["answerer"], row["open"], row["late"]) for row in rows]
