"""Family payment (亲情付): writes.

A citizen invites a family member (a link to share, e-mailed when an address is given); the member, signed
in, accepts it and may then see the citizen's bound accounts and pay their bills, within the limits the
citizen set: per payment and per calendar month. The limits are checked when the member starts a checkout,
under the link's row lock, counting the link's orders of the month that are paid or still waiting for the
bank, so two checkouts at once cannot both pass. Every paid order tells the citizen. Either side may end it.
"""

import datetime
import logging
from collections.abc import Sequence
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.template.loader import render_to_string
from django.utils import timezone, translation

from billing.audit import record_audit
from billing.exceptions import BillingError
from billing.money import ZERO, format_money, parse_amount
from payers import locks, services
from payers.choices import FamilyLinkStatus, OrderKind, OrderStatus
from payers.exceptions import PortalError
from payers.models import BoundAccount, FamilyLink, GatewayOrder, Payer

logger = logging.getLogger(__name__)


def _limit(value, code: str) -> Decimal:
    try:
        amount = parse_amount(value)
    except BillingError:
        raise PortalError(code) from None
    if amount > settings.FAMILY_MAX_MONTHLY_LIMIT:
        raise PortalError("family_limit_too_high", limit=format_money(settings.FAMILY_MAX_MONTHLY_LIMIT))
    return amount


def invite(*, owner, label: str, per_payment_limit, monthly_limit, email: str = "") -> FamilyLink:
    label = (label or "").strip()[:40]
    if not label:
        raise PortalError("family_label_required")
    per_payment = _limit(per_payment_limit, "family_limit_invalid")
    monthly = _limit(monthly_limit, "family_limit_invalid")
    if monthly < per_payment:
        raise PortalError("family_month_below_payment")
    if FamilyLink.objects.filter(owner=owner).exclude(status=FamilyLinkStatus.ENDED).count() >= 10:
        raise PortalError("family_too_many")
    with transaction.atomic():
        link = FamilyLink.objects.create(
            owner=owner, label=label, per_payment_limit=per_payment, monthly_limit=monthly
        )
        record_audit(
            actor=owner, action="family.invited", target=link, per_payment=per_payment, monthly=monthly
        )
        email = (email or "").strip()[:254]
        if email and "@" in email:
            link_id = link.pk
            transaction.on_commit(lambda: _send_invitation(link_id, email))
    return link


def accept(*, member, token: str) -> FamilyLink:
    with transaction.atomic():
        link = locks.lock_family_link_invited((token or "")[:64])
        if link is None or link.status == FamilyLinkStatus.ENDED:
            raise PortalError("family_invite_invalid")
        if link.owner_id == member.pk:
            raise PortalError("family_invite_own")
        if link.status == FamilyLinkStatus.ACTIVE:
            if link.member_id == member.pk:
                return link
            raise PortalError("family_invite_invalid")
        link.member = member
        link.status = FamilyLinkStatus.ACTIVE
        link.accepted_at = timezone.now()
        link.save(update_fields=["member", "status", "accepted_at"])
        record_audit(actor=member, action="family.accepted", target=link)
    return link


def end(*, user, link: FamilyLink) -> FamilyLink:
    """Either side ends it: the member sees and pays nothing more (orders at the bank still settle)."""
    with transaction.atomic():
        link = locks.lock_family_link(link.pk)
        if user.pk not in (link.owner_id, link.member_id):
            raise PortalError("family_not_yours")
        if link.status != FamilyLinkStatus.ENDED:
            link.status = FamilyLinkStatus.ENDED
            link.ended_at = timezone.now()
            link.save(update_fields=["status", "ended_at"])
            record_audit(
                actor=user,
                action="family.ended",
                target=link,
                by="citizen" if user.pk == link.owner_id else "member",
            )
    return link


def month_start(now: datetime.datetime | None = None) -> datetime.datetime:
    local = timezone.localtime(now or timezone.now())
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def spent_this_month(link: FamilyLink) -> Decimal:
    """Paid, or at the bank still: an order waiting for the bank counts until it is closed or failed."""
    total = GatewayOrder.objects.filter(
        family_link=link,
        status__in=(OrderStatus.PAID, OrderStatus.PENDING),
        created_at__gte=month_start(),
    ).aggregate(total=Sum("amount"))["total"]
    return total or ZERO


def start_checkout(*, member, link: FamilyLink, bill_ids: Sequence[int], gateway_code: str, subject: str):
    """The member pays the chosen bills of the citizen's bound accounts, within the link's limits."""
    with transaction.atomic():
        link = locks.lock_family_link(link.pk)
        if link.member_id != member.pk or link.status != FamilyLinkStatus.ACTIVE:
            raise PortalError("family_not_active")
        owners_accounts = BoundAccount.objects.filter(user_id=link.owner_id).values("account_id")
        from billing.models import Bill

        allowed = list(
            Bill.objects.filter(pk__in=list(bill_ids)[:100], account_id__in=owners_accounts).values_list(
                "pk", flat=True
            )
        )
        if len(allowed) != len(set(bill_ids)):
            raise PortalError("family_bill_not_shared")
        lines = services.lines_for_bills(allowed)
        total = sum((line.amount for line in lines), ZERO)
        if total > link.per_payment_limit:
            raise PortalError(
                "family_payment_limit",
                amount=format_money(total),
                limit=format_money(link.per_payment_limit),
            )
        spent = spent_this_month(link)
        if spent + total > link.monthly_limit:
            raise PortalError(
                "family_month_limit",
                amount=format_money(total),
                left=format_money(max(link.monthly_limit - spent, ZERO)),
                limit=format_money(link.monthly_limit),
            )
        order = services.start_checkout(
            lines=lines, kind=OrderKind.BILLS, user=member, gateway_code=gateway_code, subject=subject
        )
        order.family_link = link
        order.save(update_fields=["family_link"])
        record_audit(actor=member, action="family.checkout", target=link, order=order.order_no, amount=total)
    return order


def order_paid(order: GatewayOrder) -> None:
    """Called in the notification's transaction when a family order is paid: the citizen is told after it."""
    order_id = order.pk
    transaction.on_commit(lambda: notify_owner(order_id))


def notify_owner(order_id: int) -> None:
    from payers import tasks

    order = GatewayOrder.objects.select_related("family_link__owner", "family_link__member").get(pk=order_id)
    link = order.family_link
    owner = link.owner
    payer = Payer.objects.filter(user=owner).first()
    with translation.override(payer.language if payer else settings.LANGUAGE_CODE):
        context = {"label": link.label, "amount": order.amount, "subject": order.subject, "order": order}
        subject = render_to_string("emails/payers-family-paid-subject.txt", context).strip()
        body = render_to_string("emails/payers-family-paid-body.txt", context)
    if owner.email:
        tasks.send_email.delay(subject, body, [owner.email])
    if payer and payer.mobile_verified and payer.mobile:
        tasks.send_text_message.delay(payer.mobile, subject)


def _send_invitation(link_id: int, email: str) -> None:
    from payers import tasks

    link = FamilyLink.objects.select_related("owner").get(pk=link_id)
    url = settings.SITE_URL.rstrip("/") + f"/me/family/invite/{link.invite_token}/"
    with translation.override(settings.LANGUAGE_CODE):
        context = {"owner": link.owner.get_full_name() or link.owner.email, "url": url, "link": link}
        subject = render_to_string("emails/payers-family-invite-subject.txt", context).strip()
        body = render_to_string("emails/payers-family-invite-body.txt", context)
    tasks.send_email.delay(subject, body, [email])
