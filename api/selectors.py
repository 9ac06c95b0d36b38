"""Reads of the open APIs, always through the caller: a partner sees only its billers and payments."""

import datetime
import functools
import uuid

from django.db.models import Prefetch, Q, QuerySet
from django.urls import reverse

from api.choices import DeliveryStatus, PartnerStatus
from api.exceptions import ApiError
from api.models import Partner, PartnerCommission, WebhookDelivery
from billing import access, presentment
from billing.choices import BillerStatus, Channel
from billing.exceptions import PaymentRefused
from billing.models import Bill, Biller, BillerCategory, CustomerAccount, Payment
from billing.plain_sql import columns, model_from_row, prepared_cursor
from billing.presentment_models import LIVE_MODES, BillerLink
from billing.rules import account_no_is_valid, normalize_account_no, normalize_code
from billing.selectors import account_no_for_notice, payable_bills
from config import local_cache
from payers.models import Mandate, MandateDebit

LISTED_BILLER_STATUSES = (BillerStatus.ACTIVE, BillerStatus.SUSPENDED)


def _allowed_condition(partner: Partner) -> Q:
    categories = partner.allowed_categories.values("pk")
    return (
        Q(pk__in=partner.allowed_billers.values("pk"))
        | Q(category__in=categories)
        | Q(category__parent__in=categories)
    )


def partner_billers(partner: Partner, *, category: str | None = None) -> QuerySet:
    """The billers the partner may take payments for (suspended ones too, so it can tell payers why)."""
    billers = Biller.objects.filter(_allowed_condition(partner), status__in=LISTED_BILLER_STATUSES)
    if category:
        billers = billers.filter(Q(category__code=category) | Q(category__parent__code=category))
    return billers.select_related("category").order_by("code")


def partner_categories(partner: Partner) -> list[BillerCategory]:
    ids = set(partner_billers(partner).values_list("category_id", flat=True))
    categories = BillerCategory.objects.filter(pk__in=ids).select_related("parent")
    return sorted(categories, key=lambda c: (c.sort_order, c.code))


def partner_biller(partner: Partner, code: str) -> Biller:
    """The biller by code, if the partner may serve it. On every payment's path: one query, or none while
    the biller, its category and the partner's grants are unchanged (config.local_cache)."""
    code = normalize_code(code)
    biller = local_cache.get(("partner-biller", partner.pk, code), lambda: _partner_biller_row(partner, code))
    if biller is None or biller.status not in LISTED_BILLER_STATUSES:
        raise PaymentRefused("biller_unknown", biller=code)
    if not biller.partner_allowed:
        raise ApiError("biller_not_allowed", biller=biller.display_name)
    return biller


@functools.cache
def _partner_biller_sql() -> str:
    """One plain query (its ORM form cost about 5 ms of Python to compile on the 2-core machine), prepared
    once per connection. The biller's own grant is probed on the (partner, biller) unique index: `b.id IN
    (the partner's grants)` read every grant of the partner, 4.7 ms for a partner granted 6,922 billers, plus
    3.1 ms of planning (docs/benchmarks.md, twentieth session)."""
    billers, categories = Partner.allowed_billers.through, Partner.allowed_categories.through
    live = ", ".join(f"'{mode}'" for mode in LIVE_MODES)
    return f"""
SELECT {columns(Biller, "b")}, {columns(BillerCategory, "c")},
    EXISTS (SELECT 1 FROM {billers._meta.db_table}
            WHERE {billers._meta.get_field("partner").column} = %(partner)s
              AND {billers._meta.get_field("biller").column} = b.id)
    OR EXISTS (SELECT 1 FROM {categories._meta.db_table}
               WHERE {categories._meta.get_field("partner").column} = %(partner)s
                 AND {categories._meta.get_field("billercategory").column} IN (c.id, c.parent_id)),
    EXISTS (SELECT 1 FROM {BillerLink._meta.db_table} l WHERE l.biller_id = b.id AND l.mode IN ({live}))
FROM billing_biller b JOIN billing_billercategory c ON c.id = b.category_id
WHERE b.code = %(code)s
"""


def _partner_biller_row(partner: Partner, code: str) -> Biller | None:
    """The biller, whether the partner may serve it (`partner_allowed`: the biller, its category or its
    category's parent granted) and whether its bills are live (`has_live_link`, billing.presentment)."""
    with prepared_cursor() as cursor:
        cursor.execute(_partner_biller_sql(), {"partner": partner.pk, "code": code})
        row = cursor.fetchone()
    if row is None:
        return None
    biller, end = model_from_row(Biller, row)
    biller.category, end = model_from_row(BillerCategory, row, end)
    biller.partner_allowed, biller.has_live_link = row[end], row[end + 1]
    return biller


def account_with_open_bills(biller: Biller, account_no: str) -> tuple[CustomerAccount, list[Bill]]:
    """Bill enquiry: the account and its bills still to pay; a clear refusal when there is none."""
    number = normalize_account_no(account_no)
    if account_no_is_valid(number, pattern=biller.account_pattern, check_digit=biller.account_check_digit):
        presentment.present(biller, number)  # a fetch-mode biller's live bills first (billing.presentment)
    account = CustomerAccount.objects.filter(biller=biller, account_no=number).first()
    if account is None and (
        notice_account := account_no_for_notice(biller_code=biller.code, notice_no=account_no)
    ):
        # a payment notice's number (缴款书号) in place of the account number: its account answers
        account = CustomerAccount.objects.get(biller=biller, account_no=notice_account)
    if account is None:
        if not account_no_is_valid(
            number, pattern=biller.account_pattern, check_digit=biller.account_check_digit
        ):
            raise PaymentRefused(
                "account_number_invalid",
                account_no=account_no,
                biller=biller.display_name,
                hint=biller.account_hint,
            )
        raise PaymentRefused("account_unknown", biller=biller.display_name, account_no=number)
    return account, payable_bills(account)


def partner_payments(partner: Partner) -> QuerySet:
    return Payment.objects.filter(channel=Channel.PARTNER, idempotency_key__startswith=f"{partner.code}:")


def partner_payment(partner: Partner, receipt_no: str) -> Payment:
    payment = (
        partner_payments(partner)
        .select_related("biller", "account")
        .prefetch_related("allocations__bill")
        .filter(receipt_no=receipt_no)
        .first()
    )
    if payment is None:
        raise ApiError("payment_unknown", receipt_no=receipt_no)
    return payment


def with_allocations(payment: Payment) -> Payment:
    """The payment the posting service returned, ready for `presenters.allocations`: one it has just posted
    keeps the allocations it wrote (`billing.posting.written_allocations`: no query, and no queryset built to
    hold them, which cost more Python than the answer's rendering); a replayed one has them read (one
    query)."""
    from django.db.models.query import prefetch_related_objects

    from billing.models import PaymentAllocation
    from billing.posting import written_allocations

    if written_allocations(payment) is not None:
        return payment
    prefetch_related_objects(
        [payment], Prefetch("allocations", queryset=PaymentAllocation.objects.select_related("bill"))
    )
    return payment


def with_allocations_of(payments: list[Payment]) -> list[Payment]:
    """`with_allocations` for a batch's payments: those read back (replays) get their biller, account and
    allocations in three queries together, not three each."""
    from django.db.models.query import prefetch_related_objects

    from billing.models import PaymentAllocation
    from billing.posting import written_allocations

    read = [payment for payment in payments if written_allocations(payment) is None]
    prefetch_related_objects(
        read,
        "biller",
        "account",
        Prefetch("allocations", queryset=PaymentAllocation.objects.select_related("bill")),
    )
    return payments


def commission_on(partner: Partner, biller: Biller, on_date: datetime.date) -> PartnerCommission | None:
    """The most specific schedule in force: the biller's, else its category's, else the partner-wide one."""
    schedules = list(
        PartnerCommission.objects.filter(partner=partner, valid_from__lte=on_date)
        .filter(
            Q(biller=biller)
            | Q(category_id__in=[biller.category_id, biller.category.parent_id])
            | Q(biller__isnull=True, category__isnull=True)
        )
        .order_by("-valid_from")
    )

    def rank(schedule):
        if schedule.biller_id:
            return 0
        if schedule.category_id == biller.category_id:
            return 1
        if schedule.category_id:
            return 2
        return 3

    return min(schedules, key=lambda s: (rank(s), -s.valid_from.toordinal()), default=None)


def biller_bill(biller: Biller, account_no: str, period: str) -> Bill:
    from billing.rules import normalize_account_no as normalize

    bill = (
        Bill.objects.select_related("account")
        .filter(biller=biller, account__account_no=normalize(account_no), period=period)
        .first()
    )
    if bill is None:
        raise ApiError("bill_not_yours", biller=biller.display_name, account_no=account_no, period=period)
    return bill


def _decode_cursor(cursor: str) -> int:
    import base64
    import binascii

    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "p" or not number.isdigit():
            raise ValueError
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError("cursor_invalid", cursor=cursor[:64]) from None


def encode_cursor(payment_id: int) -> str:
    import base64

    return base64.urlsafe_b64encode(f"p:{payment_id}".encode()).decode().rstrip("=")


def biller_payments_after(biller: Biller, *, cursor: str | None, limit: int) -> tuple[list, str | None, bool]:
    """A page of the biller's payments in posting order (by id), after the cursor; stable while new ones
    arrive. Reversals show as the payment's status; webhooks announce them as they happen."""
    payments = (
        Payment.objects.filter(biller=biller).select_related("account").prefetch_related("allocations__bill")
    )
    if cursor:
        payments = payments.filter(pk__gt=_decode_cursor(cursor))
    page = list(payments.order_by("pk")[: limit + 1])
    has_more = len(page) > limit
    page = page[:limit]
    next_cursor = encode_cursor(page[-1].pk) if page else cursor
    return page, next_cursor, has_more


def failed_webhook_deliveries(user, today: datetime.date) -> int:
    """Webhook deliveries that exhausted their retries in the last 7 days (the staff home)."""
    since = today - datetime.timedelta(days=7)
    deliveries = access.scoped_queryset(user, WebhookDelivery).filter(status=DeliveryStatus.FAILED)
    return deliveries.filter(created_at__date__gte=since).count()


def biller_receipt(biller: Biller, receipt_no: str) -> tuple[Payment, dict]:
    """A payment to this biller by its receipt number, any channel, with where its e-receipt is; another
    biller's payment is as unknown as one that does not exist."""
    from payers import selectors as portal

    payment = (
        Payment.objects.filter(biller=biller, receipt_no=receipt_no[:32])
        .select_related("account", "biller_check", "fiscal_receipt")
        .defer("fiscal_receipt__pdf")
        .prefetch_related("allocations__bill")
        .first()
    )
    if payment is None:
        raise ApiError("payment_unknown", receipt_no=receipt_no[:32])
    verify_path, code = portal.verification_path(payment)
    token = portal.receipt_token(payment)
    return payment, {
        "url": reverse("payers:receipt", args=[token]),
        "verification_url": verify_path,
        "verification_code": code,
    }


def biller_topup(biller: Biller, receipt_no: str) -> Payment:
    """A top-up to this biller by its receipt number, for its card-write confirmation; another biller's
    payment is as unknown as one that does not exist (a confirmation signed by another biller's key finds
    nothing to confirm)."""
    payment = (
        Payment.objects.filter(biller=biller, receipt_no=receipt_no[:32])
        .select_related("account", "biller", "topup_hold")
        .first()
    )
    if payment is None:
        raise ApiError("payment_unknown", receipt_no=receipt_no[:32])
    return payment


# --- Auto-pay mandates of a partner's customers (payers.mandates) ---


def partner_mandates(partner: Partner, *, customer_ref: str = "") -> QuerySet:
    """The partner's own mandates, newest first; another partner's are never seen."""
    mandates = Mandate.objects.filter(partner_code=partner.code, user__isnull=True)
    if customer_ref:
        mandates = mandates.filter(customer_ref=customer_ref)
    return mandates.select_related("account__biller").order_by("-created_at", "-pk")


def partner_funding_refusal(partner_code: str, biller_code: str) -> str:
    """Why a partner may not fund an auto-pay debit to this biller now (a refusal code), or "": it must be
    active and still allowed the biller, as for its own payments."""
    partner = Partner.objects.filter(code=partner_code).first()
    if partner is None or partner.status != PartnerStatus.ACTIVE:
        return "mandate_partner_not_active"
    if not Biller.objects.filter(_allowed_condition(partner), code=biller_code).exists():
        return "mandate_partner_biller_not_allowed"
    return ""


def partner_mandate(partner: Partner, mandate_id: str):
    """One of the partner's mandates by its public id; another partner's, or a malformed id, is unknown."""
    try:
        public_id = uuid.UUID(str(mandate_id))
    except ValueError:
        raise ApiError("mandate_unknown", mandate_id=mandate_id) from None
    mandate = partner_mandates(partner).filter(public_id=public_id).first()
    if mandate is None:
        raise ApiError("mandate_unknown", mandate_id=mandate_id)
    return mandate


def mandate_debits(mandate) -> list:
    return list(
        MandateDebit.objects.filter(mandate=mandate)
        .select_related("bill", "payment")
        .order_by("-debit_on", "-pk")[:100]
    )


def partner_mandate_debit(partner: Partner, mandate_id: str, debit_id: str):
    mandate = partner_mandate(partner, mandate_id)
    number = str(debit_id)
    valid = number.isascii() and number.isdigit() and len(number) <= 18
    debit = MandateDebit.objects.filter(mandate=mandate, pk=int(number)).first() if valid else None
    if debit is None:
        raise ApiError("mandate_debit_unknown", mandate_id=mandate_id, debit_id=debit_id)
    return debit
