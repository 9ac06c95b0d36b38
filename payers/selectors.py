"""Reads of the citizen portal. Every fetch by something a visitor typed or holds goes through here and
checks what the visitor may see: a guest holds unguessable tokens, a citizen sees only their own rows."""

import base64
import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.core import signing
from django.db.models import Prefetch, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from billing import presentment
from billing.choices import PAYABLE_BILL_STATUSES, BillerStatus
from billing.exceptions import BillingError
from billing.models import Bill, Biller, BillerCategory, CustomerAccount, Payment, PaymentAllocation
from billing.paylinks import bill_id_from_token
from billing.plain_sql import columns, constant, constants, model_from_row, prepared_cursor
from billing.presentment_models import PresentmentMode
from billing.rules import account_no_is_valid, normalize_account_no, normalize_code
from config.db_router import may_lag
from payers.choices import DebitStatus, FamilyLinkStatus, LineOutcome
from payers.exceptions import PortalError
from payers.models import (
    BoundAccount,
    FamilyLink,
    GatewayOrder,
    Mandate,
    MandateDebit,
    OrderLine,
    ProxyBatch,
    ReceiptBundle,
)

_RECEIPT_SALT = "payers.receipt.v1"
_VERIFY_SALT = "payers.receipt-verify.v1"


def active_billers() -> QuerySet:
    return Biller.objects.filter(status=BillerStatus.ACTIVE)


@may_lag
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


# Plain SQL for the lookup page, which asks it on every request: compiling the ORM queries cost more than
# running them (docs/benchmarks.md). Built once, on first use, from the models' fields.
_BILLER_SQL = None
_PAGE_SQL = None
_LOOKUP_SQL = None
# The day a scheduled auto-pay debit will pay the bill (payers.mandates), read in the lookup's one query.
# The statuses are written in (plain_sql.constant): planned once per connection, not on every lookup.
_AUTOPAY_ON = (
    "(SELECT min(md.debit_on) FROM payers_mandatedebit md WHERE md.bill_id = bl.id"
    f" AND md.status = {constant(DebitStatus.SCHEDULED)})"
)
_BILLS_JOIN = (
    "LEFT JOIN billing_bill bl ON bl.account_id = a.id"
    f" AND bl.status IN ({constants(PAYABLE_BILL_STATUSES)}) "
)


def active_biller(code: str) -> Biller | None:
    """An active biller with its category, in one query."""
    global _BILLER_SQL
    if _BILLER_SQL is None:
        _BILLER_SQL = (
            f"SELECT {columns(Biller, 'b')}, {columns(BillerCategory, 'c')} FROM billing_biller b "
            "JOIN billing_billercategory c ON c.id = b.category_id WHERE b.code = %s AND b.status = %s"
        )
    with prepared_cursor(binary=True) as cursor:
        cursor.execute(_BILLER_SQL, [code, BillerStatus.ACTIVE])
        row = cursor.fetchone()
    if row is None:
        return None
    biller, end = model_from_row(Biller, row, 0)
    biller.category, _end = model_from_row(BillerCategory, row, end)
    return biller


@dataclass(frozen=True)
class Lookup:
    """What a lookup shows: the account (its holder's name is shown masked) and its open bills."""

    biller: Biller
    account: CustomerAccount
    bills: list[Bill]


def bills_total(bills) -> Decimal:
    """What paying every one of the bills costs (late fees included): shown before any payment."""
    return sum((bill.outstanding for bill in bills), Decimal("0.00"))


def mark_overdue(bills) -> None:
    """Set `overdue` on each bill: past its due date by the platform's calendar (TIME_ZONE), not UTC's."""
    today = timezone.localdate()
    for bill in bills:
        bill.overdue = bill.due_date < today


def _checked_account_no(biller: Biller, account_no: str) -> str:
    """The number as the biller writes it; a number the biller's rule rejects is refused with its hint."""
    account_no = normalize_account_no(account_no)
    if not account_no_is_valid(
        account_no, pattern=biller.account_pattern, check_digit=biller.account_check_digit
    ):
        raise PortalError(
            "account_invalid",
            account_no=account_no,
            biller=biller.display_name,
            hint=biller.display_account_hint,
        )
    return account_no


def _lookup_from_rows(biller: Biller, account_no: str, rows, start: int) -> Lookup:
    """The account and its bills from rows whose account columns begin at `start` (all NULL: no account)."""
    if not rows or rows[0][start] is None:
        raise PortalError("account_unknown", biller=biller.display_name, account_no=account_no)
    account, bills_start = model_from_row(CustomerAccount, rows[0], start)
    account.biller = biller
    bills = []
    for row in rows:
        if row[bills_start] is None:
            continue
        bill, end = model_from_row(Bill, row, bills_start)
        bill.autopay_on = row[end]  # the query's _AUTOPAY_ON column
        bill.account = account
        bill.biller = biller
        bills.append(bill)
    return Lookup(biller=biller, account=account, bills=bills)


def lookup_account(*, biller: Biller, account_no: str) -> Lookup:
    """The account and its payable bills, oldest first, in one query (a LEFT JOIN: no bills still gives the
    account); a number the biller's rule rejects is refused before the database is asked. A biller whose
    bills are fetched live is asked for them first (billing.presentment)."""
    global _LOOKUP_SQL
    account_no = _checked_account_no(biller, account_no)
    presentment.present(biller, account_no)
    if _LOOKUP_SQL is None:
        _LOOKUP_SQL = (
            f"SELECT {columns(CustomerAccount, 'a')}, {columns(Bill, 'bl')}, {_AUTOPAY_ON}"
            " FROM billing_customeraccount a "
            + _BILLS_JOIN
            + "WHERE a.biller_id = %s AND a.account_no = %s ORDER BY bl.due_date, bl.period"
        )
    with prepared_cursor(binary=True) as cursor:
        cursor.execute(_LOOKUP_SQL, [biller.pk, account_no])
        rows = cursor.fetchall()
    return _lookup_from_rows(biller, account_no, rows, 0)


def biller_with_lookup(*, code: str, account_no: str) -> tuple[Biller | None, Lookup | BillingError | None]:
    """The lookup page's one query: the active biller with its category, the account and its payable bills.
    (None, None) when no active biller has the code; the refusal in place of the lookup when the number is
    not valid for the biller or not known to it. For a biller whose bills are fetched live (the query says
    so), its system is asked first and the query run again (billing.presentment)."""
    global _PAGE_SQL
    if _PAGE_SQL is None:
        _PAGE_SQL = (
            f"SELECT {columns(Biller, 'b')}, {columns(BillerCategory, 'c')},"
            f" {columns(CustomerAccount, 'a')}, {columns(Bill, 'bl')}, {_AUTOPAY_ON}, pl.mode"
            " FROM billing_biller b"
            " JOIN billing_billercategory c ON c.id = b.category_id "
            "LEFT JOIN billing_billerlink pl ON pl.biller_id = b.id "
            "LEFT JOIN billing_customeraccount a ON a.biller_id = b.id AND a.account_no = %s "
            + _BILLS_JOIN
            + f"WHERE b.code = %s AND b.status = {constant(BillerStatus.ACTIVE)}"
            " ORDER BY bl.due_date, bl.period"
        )
    params = [normalize_account_no(account_no), code]
    with prepared_cursor(binary=True) as cursor:
        cursor.execute(_PAGE_SQL, params)
        rows = cursor.fetchall()
    if not rows:
        return None, None
    biller, end = model_from_row(Biller, rows[0], 0)
    biller.category, account_start = model_from_row(BillerCategory, rows[0], end)
    try:
        checked = _checked_account_no(biller, account_no)
        if rows[0][-1] == PresentmentMode.FETCH:
            presentment.present(biller, checked)
            with prepared_cursor(binary=True) as cursor:
                cursor.execute(_PAGE_SQL, params)
                rows = cursor.fetchall()
        return biller, _lookup_from_rows(biller, checked, rows, account_start)
    except BillingError as refusal:
        return biller, refusal


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


def verification_path(payment: Payment) -> tuple[str, str]:
    """Where a receipt's QR code leads (the verification page, which shows only what the receipt does) and
    the code printed beside it."""
    code = verification_code(payment.receipt_no)
    return reverse("payers:verify", args=[payment.receipt_no, code]), code


def verification_code(receipt_no: str) -> str:
    """A short code printed with the receipt number (both are needed to check a receipt): 10 base-32
    characters of an HMAC, easy to read out and type."""
    digest = salted_hmac(_VERIFY_SALT, receipt_no, algorithm="sha256").digest()
    return base64.b32encode(digest).decode()[:10]


def payment_for_verification(receipt_no: str, code: str) -> Payment | None:
    receipt_no = normalize_code(receipt_no)
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


def beneficiaries_of(payments) -> dict[int, str]:
    """Who each payment's bills were for ("学生 张小明"), in one query: shown whole on the citizen's own
    history (issue 17, item 6)."""
    rows = (
        PaymentAllocation.objects.filter(payment_id__in=[p.pk for p in payments], is_reversal=False)
        .exclude(bill__beneficiary_name="")
        .select_related("bill")
        .only("payment_id", "bill__beneficiary_kind", "bill__beneficiary_name")
    )
    found: dict[int, dict[str, None]] = {}
    for row in rows:
        found.setdefault(row.payment_id, {})[row.bill.beneficiary] = None
    return {payment_id: "、".join(names) for payment_id, names in found.items()}


def orders_of(user) -> QuerySet:
    return GatewayOrder.objects.filter(user=user).order_by("-created_at")


def bound_accounts_with_bills(user) -> list[BoundAccount]:
    """The citizen's accounts with their open bills, in three queries whatever their number."""
    bills = (
        Bill.objects.filter(status__in=PAYABLE_BILL_STATUSES)
        .select_related("biller")  # each bill's amount today reads its biller's late-fee rule
        .order_by("due_date", "period")
    )
    bound = list(
        BoundAccount.objects.filter(user=user)
        .select_related("account__biller")
        .prefetch_related(Prefetch("account__bills", queryset=bills, to_attr="open_bills"))
    )
    mark_overdue(bill for item in bound for bill in item.account.open_bills)
    mark_autopay(bill for item in bound for bill in item.account.open_bills)
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


def receipt_bundle_of(order: GatewayOrder) -> ReceiptBundle | None:
    """The order's bundle without its PDF (megabytes): what the progress page shows."""
    return ReceiptBundle.objects.defer("data").filter(order=order).first()


def receipt_bundle_pdf(order: GatewayOrder) -> bytes | None:
    """The order's finished bundle PDF, or None while there is none."""
    data = (
        ReceiptBundle.objects.filter(order=order, status=ReceiptBundle.Status.DONE)
        .values_list("data", flat=True)
        .first()
    )
    return bytes(data) if data is not None else None


def order_receipt_count(order: GatewayOrder) -> int:
    return order.lines.filter(payment__isnull=False).count()


# --- Auto-pay mandates (代扣) ---


def mandates_of(user) -> list:
    """The citizen's mandates, newest first, with their account and their latest debits (three queries)."""
    debits = MandateDebit.objects.select_related("bill").order_by("-debit_on", "-id")
    return list(
        Mandate.objects.filter(user=user)
        .select_related("account__biller")
        .prefetch_related(Prefetch("debits", queryset=debits, to_attr="recent_debits"))
    )


def mandate_of(user, public_id):
    return Mandate.objects.select_related("account__biller").filter(user=user, public_id=public_id).first()


def debit_of(user, debit_id: int):
    return (
        MandateDebit.objects.select_related("mandate", "bill").filter(mandate__user=user, pk=debit_id).first()
    )


def autopay_dates(bill_ids) -> dict[int, datetime.date]:
    """bill id → the day auto-pay will pay it, for the bills among these with a scheduled debit (one query):
    the portal and the cash counter show "will be paid by auto-pay on …"."""
    rows = MandateDebit.objects.filter(bill_id__in=list(bill_ids), status=DebitStatus.SCHEDULED).values_list(
        "bill_id", "debit_on"
    )
    return dict(rows)


def mark_autopay(bills) -> None:
    """Set `autopay_on` on each bill: its scheduled auto-pay day, or None."""
    bills = list(bills)
    dates = autopay_dates(bill.pk for bill in bills)
    for bill in bills:
        bill.autopay_on = dates.get(bill.pk)


# --- Family payment (亲情付) ---


def family_links_given(user) -> list[FamilyLink]:
    return list(FamilyLink.objects.filter(owner=user).select_related("member").order_by("-created_at"))


def family_links_received(user) -> list[FamilyLink]:
    return list(
        FamilyLink.objects.filter(member=user, status=FamilyLinkStatus.ACTIVE)
        .select_related("owner")
        .order_by("-created_at")
    )


def family_link_of(user, public_id) -> FamilyLink | None:
    """A link the user is a side of (the citizen or the member)."""
    return (
        FamilyLink.objects.select_related("owner", "member")
        .filter(Q(owner=user) | Q(member=user), public_id=public_id)
        .first()
    )


def family_invite(token: str) -> FamilyLink | None:
    return FamilyLink.objects.select_related("owner").filter(invite_token=(token or "")[:64]).first()


def shared_accounts_with_bills(link: FamilyLink) -> list[BoundAccount]:
    """The citizen's bound accounts with their open bills, as the family member sees them."""
    return bound_accounts_with_bills(link.owner)


def order_refunded(order_no: str) -> bool:
    """Every line of the merchant order is refunded (the bank confirmed each refund)."""
    outcomes = set(OrderLine.objects.filter(order__order_no=order_no).values_list("outcome", flat=True))
    return outcomes == {LineOutcome.REFUNDED}
