"""Start here, finish there: a pending order started on one device (a PC) is finished on another (a phone)
by scanning a QR code.

The QR holds a one-time, short-lived, unguessable token (192 random bits; only its SHA-256 is stored, so
a copy of the database opens nothing). Showing a new QR replaces the order's earlier ones. The device that
opens the link and confirms claims the token under its row lock: one device wins, the token is spent, and
that device is given the order (its page, with the button to the bank) — no login session is copied. The
first device's page then says "continued on another device" and keeps polling the order's status.
"""

import datetime
import hashlib
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.audit import record_audit
from payers import locks
from payers.choices import OrderStatus
from payers.exceptions import PortalError
from payers.models import GatewayOrder, OrderHandoff


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def may_hand_off(order: GatewayOrder, user) -> bool:
    """The order's own payer (or, for a guest's order, whoever holds its page) may hand it off."""
    if order.user_id is None:
        return True
    return getattr(user, "is_authenticated", False) and user.pk == order.user_id


def start_handoff(*, order: GatewayOrder, user) -> tuple[OrderHandoff, str]:
    """A new QR token for a pending order; the order's earlier tokens stop working. (handoff, token)."""
    if not may_hand_off(order, user):
        raise PortalError("handoff_not_yours")
    token = secrets.token_urlsafe(24)
    now = timezone.now()
    with transaction.atomic():
        order = locks.lock_order_by_no(order.order_no)
        if order.status != OrderStatus.PENDING:
            raise PortalError("handoff_order_final", order_no=order.order_no)
        if OrderHandoff.objects.filter(order=order, claimed_at__isnull=False).exists():
            raise PortalError("handoff_used")  # handed over once: the other device has it now
        OrderHandoff.objects.filter(order=order, claimed_at__isnull=True, expires_at__gt=now).update(
            expires_at=now
        )
        handoff = OrderHandoff.objects.create(
            order=order,
            token_hash=token_hash(token),
            expires_at=now + datetime.timedelta(seconds=settings.PORTAL_HANDOFF_SECONDS),
        )
        record_audit(actor=user, action="order.handoff_started", target=order, handoff=handoff.pk)
    return handoff, token


def handoff_for_token(token: str) -> OrderHandoff | None:
    """The handoff a scanned link names, whatever its state (the page says what it is)."""
    return OrderHandoff.objects.select_related("order").filter(token_hash=token_hash(token[:64])).first()


def check_claimable(handoff: OrderHandoff | None, now=None) -> None:
    now = now or timezone.now()
    if handoff is None:
        raise PortalError("handoff_unknown")
    if handoff.claimed_at is not None:
        raise PortalError("handoff_used")
    if handoff.expires_at <= now:
        raise PortalError("handoff_expired")
    if handoff.order.status != OrderStatus.PENDING:
        raise PortalError("handoff_order_final", order_no=handoff.order.order_no)


def claim_handoff(*, token: str, user) -> GatewayOrder:
    """The second device takes the order over: once, before the token expires, while the order is pending.
    A refused claim writes nothing."""
    with transaction.atomic():
        handoff = locks.lock_handoff(token_hash(token[:64]))
        check_claimable(handoff)
        handoff.claimed_at = timezone.now()
        handoff.save(update_fields=["claimed_at"])
        record_audit(actor=user, action="order.handed_off", target=handoff.order, handoff=handoff.pk)
    return handoff.order


def handed_off(order: GatewayOrder) -> bool:
    return OrderHandoff.objects.filter(order=order, claimed_at__isnull=False).exists()
