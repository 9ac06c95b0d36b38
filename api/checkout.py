"""Hosted checkout for partner platforms (docs/partner-api.md, Hosted checkout).

A partner (a government service portal, an app) sends its user to the platform's pay page with a link it
signed with one of its API keys; the page shows what is paid and the payer pays through the portal's own
checkout (`payers.services.start_checkout`, a `GatewayOrder`). The payer comes back to a return URL the
partner registered, with signed parameters, and the partner's server is sent a signed `checkout.paid`
notification from the payment's outbox event (at least once, de-duplicated by its event id).

The signature of a link and of a return is one scheme::

    sig = lowercase hex HMAC-SHA256(secret, "BILLPAY-CHECKOUT\\n" + canonical)

where `canonical` is every parameter but `sig`, sorted by name, each `name=value` percent-encoded (RFC
3986, UTF-8, nothing left unencoded but A-Z a-z 0-9 - _ . ~) and joined by "&".

Why the payment is on the ONLINE channel with the partner recorded here, not on PARTNER: the payer's money
goes through the platform's gateway (the bank's statement for CLEARING:ONLINE reconciles it), and the
partner never holds it. PARTNER payments are money a partner took and owes the platform, matched against
the partner's own statement; a hosted checkout on that channel would be a line the partner's statement
never has. The partner is attributed through `HostedCheckout.order` (its report and commission:
`checkout_report`).
"""

import datetime
import hashlib
import hmac
import logging
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote, urlencode, urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from api import credentials, selectors, signing, webhooks
from api.choices import PartnerStatus, WebhookEvent
from api.exceptions import CheckoutRefused
from api.models import ApiCredential, HostedCheckout, PartnerReturnUrl, WebhookDelivery
from billing import amounts
from billing.audit import record_audit
from billing.choices import PAYABLE_BILL_STATUSES, Channel, PaymentMode
from billing.exceptions import PaymentRefused
from billing.fees import compute_fee
from billing.models import Bill, OutboxEvent
from billing.money import ZERO, format_money, parse_amount
from payers import selectors as portal
from payers import services as portal_services
from payers.choices import LineOutcome, OrderKind, OrderStatus
from payers.models import GatewayOrder, OrderLine

logger = logging.getLogger(__name__)

PREFIX = "BILLPAY-CHECKOUT"
REQUIRED = ("key", "order_id", "biller", "account", "amount", "return_url", "ts", "nonce", "sig")
OPTIONAL = ("period", "lang")
MAX_LENGTH = {"key": 32, "order_id": 64, "biller": 32, "account": 40, "period": 16, "amount": 16}
MAX_LENGTH.update({"return_url": 300, "ts": 12, "nonce": 64, "sig": 64, "lang": 10})
# The notification's event id: derived from the payment's outbox event, the same on every attempt.
EVENT_NAMESPACE = uuid.UUID("6f1b2f4e-3c1a-4a8e-9c55-0d8b8a6c1e21")


class Status:
    """What the payer's return and the page say about a checkout."""

    PAID = "paid"
    PENDING = "pending"
    CLOSED = "closed"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


def canonical(params: Mapping[str, str]) -> str:
    return "&".join(
        f"{quote(name, safe='')}={quote(value, safe='')}"
        for name, value in sorted(params.items())
        if name != "sig"
    )


def signature(secret: str, params: Mapping[str, str]) -> str:
    message = f"{PREFIX}\n{canonical(params)}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_matches(secret: str, params: Mapping[str, str]) -> bool:
    return hmac.compare_digest(signature(secret, params), str(params.get("sig", "")).strip().lower())


def window_seconds() -> int:
    return settings.HOSTED_CHECKOUT_LINK_SECONDS


@dataclass(frozen=True)
class LinkRequest:
    """A link whose every check passed: what the page will offer to pay."""

    credential: ApiCredential
    biller: object
    account: object
    bills: Sequence[Bill]
    amount: Decimal
    params: Mapping[str, str]

    @property
    def partner(self):
        return self.credential.partner


def _bounded(params: Mapping[str, str]) -> dict[str, str]:
    missing = [name for name in REQUIRED if not str(params.get(name, "")).strip()]
    if missing:
        raise CheckoutRefused("link_incomplete", fields=", ".join(missing))
    kept = {}
    for name in (*REQUIRED, *OPTIONAL):
        value = str(params.get(name, ""))
        if len(value) > MAX_LENGTH[name]:
            raise CheckoutRefused("link_invalid", field=name)
        if value or name in REQUIRED:
            kept[name] = value
    unknown = set(params) - set(kept) - set(OPTIONAL)
    if unknown:  # signed or not, a parameter nobody defined is refused rather than ignored
        raise CheckoutRefused("link_invalid", field=sorted(unknown)[0][:32])
    return kept


def _signed_credential(params: Mapping[str, str]) -> ApiCredential:
    """The partner key that signed the link, once the signature and the time window hold."""
    credential = (
        ApiCredential.objects.select_related("partner").filter(key_id=params["key"], partner__isnull=False)
    ).first()
    if credential is None or not credential.usable_at(timezone.now()):
        raise CheckoutRefused("link_signature_invalid")
    if not signature_matches(credentials.secret_for(credential), params):
        raise CheckoutRefused("link_signature_invalid")
    if not signing.TIMESTAMP_RE.fullmatch(params["ts"]) or not signing.NONCE_RE.fullmatch(params["nonce"]):
        raise CheckoutRefused("link_invalid", field="ts" if not params["ts"].isdigit() else "nonce")
    age = int(time.time()) - int(params["ts"])
    if age > window_seconds() or age < -settings.API_SIGNATURE_MAX_SKEW_SECONDS:
        raise CheckoutRefused("link_expired", minutes=window_seconds() // 60)
    if credential.partner.status != PartnerStatus.ACTIVE:
        raise CheckoutRefused("partner_unavailable")
    return credential


def return_url_registered(partner, url: str) -> bool:
    """Scheme, host, port and path exactly as registered; the query may differ, a fragment may not be."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment or "@" in parts.netloc:
        return False
    bare = f"{parts.scheme}://{parts.netloc}{parts.path}"
    return PartnerReturnUrl.objects.filter(partner=partner, url=bare).exists()


def _bills_to_pay(biller, account_no: str, period: str):
    lookup = portal.lookup_account(biller=biller, account_no=account_no)
    bills = [bill for bill in lookup.bills if not period or bill.period == period]
    if biller.payment_mode == PaymentMode.STATEMENT and not bills:
        if period and not Bill.objects.filter(account=lookup.account, period=period).exists():
            raise CheckoutRefused("link_invalid", field="period")
        raise CheckoutRefused("bill_paid")
    return lookup.account, bills


def check_link(params: Mapping[str, str]) -> LinkRequest:
    """Every check of a partner's link, in an order that tells a stranger nothing: the signature and its
    time first, then whether it was used, where it returns, and what it asks to pay. Reads only."""
    params = _bounded(params)
    credential = _signed_credential(params)
    partner = credential.partner
    used = HostedCheckout.objects.filter(partner=partner)
    if (
        used.filter(nonce=params["nonce"]).exists()
        or used.filter(partner_order_id=params["order_id"]).exists()
    ):
        raise CheckoutRefused("link_used")
    if not return_url_registered(partner, params["return_url"]):
        raise CheckoutRefused("return_url_not_registered")
    biller = selectors.partner_biller(partner, params["biller"])
    if biller.payment_mode == PaymentMode.DONATION:
        raise CheckoutRefused("link_invalid", field="biller")
    try:
        amount = parse_amount(params["amount"])
    except PaymentRefused:
        raise CheckoutRefused("link_invalid", field="amount") from None
    account, bills = _bills_to_pay(biller, params["account"], params.get("period", ""))
    if biller.payment_mode == PaymentMode.STATEMENT:
        due = portal.bills_total(bills)
        if amount != due:
            raise CheckoutRefused("amount_mismatch", asked=format_money(amount), due=format_money(due))
    return LinkRequest(
        credential=credential, biller=biller, account=account, bills=bills, amount=amount, params=params
    )


def open_checkout(*, params: Mapping[str, str]) -> HostedCheckout:
    """Accept a partner's link once: the checkout the payer's page is for. A link refused writes nothing."""
    link = check_link(params)
    try:
        with transaction.atomic():
            hosted = HostedCheckout.objects.create(
                partner=link.partner,
                credential=link.credential,
                partner_order_id=link.params["order_id"],
                nonce=link.params["nonce"],
                biller=link.biller,
                account=link.account,
                periods=[bill.period for bill in link.bills],
                amount=link.amount,
                return_url=link.params["return_url"],
            )
            record_audit(
                actor=None,
                action="hosted_checkout.opened",
                target=hosted,
                partner=link.partner.code,
                order_id=hosted.partner_order_id,
                amount=hosted.amount,
            )
    except IntegrityError:  # the same link (or order id) opened twice at once: one wins
        raise CheckoutRefused("link_used") from None
    return hosted


def checkout_for_token(token: str) -> HostedCheckout | None:
    return (
        HostedCheckout.objects.select_related("partner", "credential", "biller", "account", "order")
        .filter(token=token[:64])
        .first()
    )


def open_bills(hosted: HostedCheckout) -> list[Bill]:
    """The checkout's bills as they stand now, each with today's quote (`Bill.quote`)."""
    bills = Bill.objects.filter(account=hosted.account, period__in=hosted.periods).order_by("due_date")
    return list(bills.select_related("account", "biller"))


def holds_until(bills: Sequence[Bill]) -> datetime.date | None:
    return amounts.holds_until_of([bill.quote for bill in bills])


def _paid_line(order: GatewayOrder) -> OrderLine | None:
    return order.lines.select_related("payment").first()


def status_of(hosted: HostedCheckout) -> tuple[str, str]:
    """(status, our payment reference) as the partner is told them."""
    order = hosted.order
    if order is None:
        return Status.CANCELLED, ""
    if order.status == OrderStatus.PENDING:
        return Status.PENDING, ""
    if order.status != OrderStatus.PAID:
        return Status.CLOSED, ""
    line = _paid_line(order)
    if line is None or line.outcome == LineOutcome.WAITING:
        return Status.PENDING, ""
    if line.payment_id:
        return Status.PAID, line.payment.receipt_no
    return Status.REFUNDED, ""


def is_final(hosted: HostedCheckout) -> bool:
    return hosted.order is not None and status_of(hosted)[0] != Status.PENDING


def return_params(hosted: HostedCheckout) -> dict[str, str]:
    """The signed parameters the payer's browser brings back to the partner."""
    status, payment_ref = status_of(hosted)
    params = {
        "order_id": hosted.partner_order_id,
        "status": status,
        "payment_ref": payment_ref,
        "amount": format_money(hosted.amount),
        "key": hosted.credential.key_id,
        "ts": str(int(time.time())),
        "nonce": secrets.token_urlsafe(16),
    }
    params["sig"] = signature(credentials.secret_for(hosted.credential), params)
    return params


def signed_return_url(hosted: HostedCheckout) -> str:
    separator = "&" if urlsplit(hosted.return_url).query else "?"
    return f"{hosted.return_url}{separator}{urlencode(return_params(hosted))}"


def _lines(hosted: HostedCheckout) -> tuple[str, list[portal_services.CheckoutLine]]:
    """What the order pays, checked again now: a bill paid or repriced since the link is refused."""
    if hosted.biller.payment_mode == PaymentMode.PREPAID:
        line = portal_services.CheckoutLine(
            biller=hosted.biller, account=hosted.account, amount=hosted.amount
        )
        return OrderKind.TOPUP, [line]
    bills = [bill for bill in open_bills(hosted) if bill.status in PAYABLE_BILL_STATUSES]
    if len(bills) != len(hosted.periods):
        raise CheckoutRefused("bill_paid")
    due = portal.bills_total(bills)
    if due != hosted.amount:
        raise CheckoutRefused("amount_mismatch", asked=format_money(hosted.amount), due=format_money(due))
    return OrderKind.BILLS, portal_services.lines_for_bills([bill.pk for bill in bills])


def start_payment(*, hosted: HostedCheckout, gateway_code: str, user) -> GatewayOrder:
    """The portal's order for the checkout: made once (two clicks at once make one that counts; the other
    was never sent to a bank and expires), resumed while pending, refused once final."""
    if hosted.order_id:
        if hosted.order.status == OrderStatus.PENDING:
            return hosted.order
        raise CheckoutRefused("checkout_finished")
    kind, lines = _lines(hosted)
    order = portal_services.start_checkout(
        lines=lines, kind=kind, user=user, gateway_code=gateway_code, subject=hosted.biller.display_name
    )
    with transaction.atomic():
        if not HostedCheckout.objects.filter(pk=hosted.pk, order__isnull=True).update(order=order):
            hosted.refresh_from_db()
            return hosted.order
        record_audit(
            actor=user,
            action="hosted_checkout.order_started",
            target=hosted,
            order=order.order_no,
            gateway=gateway_code,
        )
    hosted.order = order
    return order


def notification_body(event: OutboxEvent, hosted: HostedCheckout, event_id: str) -> dict:
    payment = event.payload
    return {
        "id": event_id,
        "event": WebhookEvent.CHECKOUT_PAID,
        "created_at": event.created_at.isoformat(),
        "checkout": {
            "order_id": hosted.partner_order_id,
            "status": Status.PAID,
            "payment_ref": payment.get("receipt_no", ""),
            "amount": payment.get("amount", ""),
            "biller_code": payment.get("biller_code", ""),
            "account_no": payment.get("account_no", ""),
            "posted_at": payment.get("posted_at"),
        },
    }


def notifications_for_events(events: Sequence[OutboxEvent]) -> list[int]:
    """The outbox consumer (inside the relay's transaction): a `checkout.paid` delivery to the partner for
    each ONLINE payment of a hosted checkout's order, once per event (its id is derived from the event's)."""
    posted = {
        int(event.aggregate_id): event
        for event in events
        if event.type == WebhookEvent.PAYMENT_POSTED and event.payload.get("channel") == Channel.ONLINE
    }
    if not posted:
        return []
    lines = OrderLine.objects.filter(
        payment_id__in=list(posted), order__hosted_checkout__isnull=False
    ).select_related("order__hosted_checkout__partner", "order__hosted_checkout__credential")
    rows = []
    for line in lines:
        hosted = line.order.hosted_checkout
        if not hosted.partner.checkout_notify_url:
            continue
        event = posted[line.payment_id]
        event_id = str(uuid.uuid5(EVENT_NAMESPACE, str(event.id)))
        rows.append(
            WebhookDelivery(
                credential=hosted.credential,
                payment_id=line.payment_id,
                event=WebhookEvent.CHECKOUT_PAID,
                event_id=event_id,
                payload=notification_body(event, hosted, event_id),
                next_attempt_at=timezone.now(),
            )
        )
    return webhooks.write_deliveries(rows)


@dataclass(frozen=True)
class ReportLine:
    checkout: HostedCheckout
    receipt_no: str
    amount: Decimal
    commission: Decimal


def checkout_report(partner, day: datetime.date) -> list[ReportLine]:
    """The partner's paid hosted checkouts of a business day, with the commission its schedule gives it
    (the same schedule as its own payments, `PartnerCommission`)."""
    lines = (
        OrderLine.objects.filter(
            order__hosted_checkout__partner=partner,
            payment__business_date=day,
            payment__channel=Channel.ONLINE,
        )
        .select_related("payment", "order__hosted_checkout", "biller")
        .order_by("payment__posted_at")
    )
    report = []
    for line in lines:
        schedule = selectors.commission_on(partner, line.biller, day)
        commission = ZERO
        if schedule is not None:
            commission = compute_fee(
                amount=line.payment.amount,
                fixed=schedule.fixed_fee,
                percentage=schedule.percentage,
                min_fee=schedule.min_fee,
                max_fee=schedule.max_fee,
            )
        report.append(
            ReportLine(
                checkout=line.order.hosted_checkout,
                receipt_no=line.payment.receipt_no,
                amount=line.payment.amount,
                commission=commission,
            )
        )
    return report
