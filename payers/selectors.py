"""Reads of the citizen portal. Every fetch by something a visitor typed or holds goes through here and
checks what the visitor may see: a guest holds unguessable tokens, a citizen sees only their own rows."""

import base64
import datetime
from dataclasses import dataclass

from django.core import signing
from django.db.models import Prefetch, Q, QuerySet
from django.utils.crypto import salted_hmac

from billing.choices import PAYABLE_BILL_STATUSES, BillerStatus
from billing.models import Bill, Biller, BillerCategory, CustomerAccount, Payment
from billing.paylinks import bill_id_from_token
from billing.rules import account_no_is_valid, normalize_account_no
from payers.exceptions import PortalError
from payers.models import BoundAccount, GatewayOrder, OrderLine, ProxyBatch

_RECEIPT_SALT = "payers.receipt.v1"
_VERIFY_SALT = "payers.receipt-verify.v1"


def active_billers() -> QuerySet:
    return Biller.objects.filter(status=BillerStatus.ACTIVE)


def top_categories() -> list[BillerCategory]:
    """Top-level categories that have an active biller (directly or in a sub-category), each with its
    sub-categories that have one, in two queries."""
    active = active_billers()
    children = BillerCategory.objects.filter(billers__in=active).distinct().order_by("sort_order", "code")
    return list(
        BillerCategory.objects.filter(parent__isnull=True)
        .filter(Q(billers__in=active) | Q(children__billers__in=active))
        .distinct()
        .prefetch_related(Prefetch("children", queryset=children, to_attr="active_children"))
        .order_by("sort_order", "code")
    )


def search_billers(*, category_code: str = "", query: str = "") -> list[Biller]:
    billers = active_billers().select_related("category")
    if category_code:
        billers = billers.filter(Q(category__code=category_code) | Q(category__parent__code=category_code))
    query = query.strip()
    if query:
        billers = billers.filter(
            Q(name__icontains=query) | Q(name_en__icontains=query) | Q(code__iexact=query)
        )
    return list(billers.order_by("category__sort_order", "code")[:100])


def category_by_code(code: str) -> BillerCategory | None:
    return BillerCategory.objects.filter(code=code).first() if code else None


def active_biller(code: str) -> Biller | None:
    return active_billers().select_related("category").filter(code=code).first()


@dataclass(frozen=True)
class Lookup:
    """What a lookup shows: the account (its holder's name is shown masked) and its open bills."""

    biller: Biller
    account: CustomerAccount
    bills: list[Bill]


def lookup_account(*, biller: Biller, account_no: str) -> Lookup:
    """The account and its payable bills, oldest first, in two queries; a number the biller's rule
    rejects is refused before the database is asked."""
    account_no = normalize_account_no(account_no)
    if not account_no_is_valid(
        account_no, pattern=biller.account_pattern, check_digit=biller.account_check_digit
    ):
        raise PortalError(
            "account_invalid", account_no=account_no, biller=biller.display_name, hint=biller.account_hint
        )
    account = CustomerAccount.objects.filter(biller=biller, account_no=account_no).first()
    if account is None:
        raise PortalError("account_unknown", biller=biller.display_name, account_no=account_no)
    account.biller = biller
    bills = list(
        Bill.objects.filter(account=account, status__in=PAYABLE_BILL_STATUSES).order_by("due_date", "period")
    )
    for bill in bills:
        bill.account = account
        bill.biller = biller
    return Lookup(biller=biller, account=account, bills=bills)


def bill_for_pay_token(token: str) -> Bill | None:
    bill_id = bill_id_from_token(token)
    if bill_id is None:
        return None
    return Bill.objects.select_related("account", "biller").filter(pk=bill_id).first()


def order_for_token(token: str) -> GatewayOrder | None:
    return (
        GatewayOrder.objects.prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.select_related("biller", "account", "payment"))
        )
        .filter(access_token=token)
        .first()
    )


def receipt_token(payment: Payment) -> str:
    """The unguessable part of an e-receipt's URL (signed, so it cannot be derived from the number)."""
    return signing.dumps(payment.receipt_no, salt=_RECEIPT_SALT)


def payment_for_receipt_token(token: str) -> Payment | None:
    try:
        receipt_no = signing.loads(token, salt=_RECEIPT_SALT)
    except signing.BadSignature:
        return None
    return (
        Payment.objects.select_related("biller", "account", "order_line")
        .prefetch_related("allocations__bill")
        .filter(receipt_no=receipt_no)
        .first()
    )


def verification_code(receipt_no: str) -> str:
    """A short code printed with the receipt number (both are needed to check a receipt): 10 base-32
    characters of an HMAC, easy to read out and type."""
    digest = salted_hmac(_VERIFY_SALT, receipt_no, algorithm="sha256").digest()
    return base64.b32encode(digest).decode()[:10]


def payment_for_verification(receipt_no: str, code: str) -> Payment | None:
    receipt_no = (receipt_no or "").strip().upper()
    if not receipt_no or not signing.constant_time_compare(
        verification_code(receipt_no), (code or "").strip()
    ):
        return None
    return Payment.objects.select_related("biller", "account").filter(receipt_no=receipt_no).first()


def payments_of(user) -> QuerySet:
    """A citizen's own payments: posted with their Payer, never anyone else's."""
    return Payment.objects.filter(payer__user=user).select_related("biller", "account").order_by("-posted_at")


def filtered_history(
    user,
    *,
    biller_code: str = "",
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
    status: str = "",
) -> QuerySet:
    payments = payments_of(user)
    if biller_code:
        payments = payments.filter(biller__code=biller_code)
    if date_from:
        payments = payments.filter(business_date__gte=date_from)
    if date_to:
        payments = payments.filter(business_date__lte=date_to)
    if status:
        payments = payments.filter(status=status)
    return payments


def orders_of(user) -> QuerySet:
    return GatewayOrder.objects.filter(user=user).order_by("-created_at")


def bound_accounts_with_bills(user) -> list[BoundAccount]:
    """The citizen's accounts with their open bills, in three queries whatever their number."""
    bills = Bill.objects.filter(status__in=PAYABLE_BILL_STATUSES).order_by("due_date", "period")
    bound = list(
        BoundAccount.objects.filter(user=user)
        .select_related("account__biller")
        .prefetch_related(Prefetch("account__bills", queryset=bills, to_attr="open_bills"))
    )
    return bound


def bound_account_of(user, bound_id: int) -> BoundAccount | None:
    return BoundAccount.objects.select_related("account__biller").filter(user=user, pk=bound_id).first()


def bills_of_bound_accounts(user, bill_ids) -> list[int]:
    """Of the given bill ids, those on the citizen's own bound accounts."""
    accounts = BoundAccount.objects.filter(user=user).values("account_id")
    return list(
        Bill.objects.filter(pk__in=list(bill_ids), account_id__in=accounts).values_list("pk", flat=True)
    )


def order_by_no(order_no: str) -> GatewayOrder | None:
    return GatewayOrder.objects.filter(order_no=order_no).first()


def proxy_batches_of(user) -> QuerySet:
    return ProxyBatch.objects.filter(user=user).select_related("biller", "order")


def proxy_batch_of(user, public_id) -> ProxyBatch | None:
    return proxy_batches_of(user).filter(public_id=public_id).first()


def order_payments(order: GatewayOrder) -> list[Payment]:
    return list(
        Payment.objects.filter(order_line__order=order)
        .select_related("biller", "account", "order_line", "payer")
        .prefetch_related("allocations__bill")
        .order_by("order_line__line_no")
    )
