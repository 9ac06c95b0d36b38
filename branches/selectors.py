"""Reads of the branch and cash-counter domain: what a clerk may see, the outlet finder, cash coverage,
takings and operator commission. Every fetch for a user goes through a helper that checks ownership."""

import datetime
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, FloatField, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import ASin, Cast, Coalesce, Concat, Cos, Power, Radians, Sin, Sqrt
from django.utils import timezone

from billing import access, amounts, instalments, ledger, presentment, roles
from billing.choices import (
    PAYABLE_BILL_STATUSES,
    BillerStatus,
    BillStatus,
    Channel,
    PaymentMode,
    PaymentStatus,
)
from billing.fees import compute_fee
from billing.models import Bill, Biller, CustomerAccount, FeeSchedule, JournalLine, Payment
from billing.money import ZERO, format_money
from billing.paylinks import bill_id_from_token
from billing.rules import normalize_account_no, normalize_code
from billing.selectors import account_no_for_notice
from branches.choices import WEEKDAYS, AgentStatus, BranchRole, BranchStatus, ClosureStatus, TillStatus
from branches.exceptions import CounterError
from branches.models import (
    Agent,
    AgentPayment,
    AgentStaff,
    Branch,
    BranchStaff,
    CounterPayment,
    CoverageThreshold,
    FloatTopUp,
    LowFloatAlert,
    PlannedClosure,
    Till,
)
from branches.slips import SlipCode, looks_like_slip, parse_slip_code, slip_valid_until

EARTH_RADIUS_KM = 6371.0088


# --- who works where -------------------------------------------------------------------------------


def counter_branches(user) -> list[Branch]:
    """The branches whose counter the user works (as clerk or supervisor)."""
    return list(
        Branch.objects.filter(staff__user=user).select_related("operator").order_by("code").distinct()
    )


def open_till_of(user) -> Till | None:
    return Till.objects.select_related("branch").filter(clerk=user, status=TillStatus.OPEN).first()


def till_for_user(user, till_id: int) -> Till | None:
    """A till the user may look at: their own, or any at a branch they supervise."""
    return (
        Till.objects.select_related("branch", "clerk")
        .filter(pk=till_id)
        .filter(Q(clerk=user) | Q(branch__staff__user=user, branch__staff__role=BranchRole.SUPERVISOR))
        .distinct()
        .first()
    )


def counter_payment_for_user(user, receipt_no: str) -> CounterPayment | None:
    """A counter payment taken at one of the user's branches, by its (unguessable) receipt number."""
    return (
        CounterPayment.objects.select_related(
            "payment",
            "payment__biller",
            "payment__account",
            "payment__actor",
            "till",
            "branch",
            "branch__operator",
        )
        .prefetch_related("payment__allocations__bill")
        .filter(payment__receipt_no=receipt_no, branch__staff__user=user)
        .first()
    )


# --- the counter -----------------------------------------------------------------------------------


def branch_takes_biller(branch: Branch, biller: Biller) -> bool:
    if branch.takes_all_billers:
        return True
    if branch.cash_billers.filter(pk=biller.pk).exists():
        return True
    category_ids = {biller.category_id}
    parent_id = biller.category.parent_id if biller.category_id else None
    if parent_id:
        category_ids.add(parent_id)
    return branch.cash_categories.filter(pk__in=category_ids).exists()


def check_biller_takes_cash_at(biller: Biller, branch: Branch) -> None:
    """Only billers that take cash, that are active, at branches that take them, are paid at a counter."""
    if biller.status != BillerStatus.ACTIVE:
        raise CounterError(
            "biller_suspended",
            biller=biller.display_name,
            reason=biller.status_reason or biller.get_status_display(),
        )
    if not biller.accepts_cash:
        raise CounterError("biller_takes_no_cash", biller=biller.display_name)
    if not branch_takes_biller(branch, biller):
        raise CounterError("branch_does_not_take_biller", branch=branch.name, biller=biller.display_name)


def cash_billers_at(branch: Branch) -> list[Biller]:
    """Active billers that take cash and that this branch takes cash for: the counter's biller list."""
    billers = Biller.objects.filter(status=BillerStatus.ACTIVE, accepts_cash=True).select_related("category")
    if not branch.takes_all_billers:
        categories = list(branch.cash_categories.values_list("pk", flat=True))
        billers = billers.filter(
            Q(pk__in=branch.cash_billers.values("pk"))
            | Q(category_id__in=categories)
            | Q(category__parent_id__in=categories)
        )
    return list(billers.order_by("code"))


@dataclass
class Lookup:
    """What the clerk found: an account with its bills to pay, or a refusal to show."""

    account: CustomerAccount | None = None
    bills: list[Bill] = field(default_factory=list)
    selected_periods: set[str] = field(default_factory=set)
    from_slip: bool = False
    slip: SlipCode | None = None

    @property
    def topup(self) -> bool:
        return self.account is not None and self.account.biller.payment_mode == PaymentMode.PREPAID

    @property
    def total(self) -> Decimal:
        if self.slip is not None and len(self.selected_periods) == 1:
            return self.slip.amount  # what the slip says (re-checked when scanned): an instalment's
        return sum((bill.outstanding for bill in self.bills if bill.period in self.selected_periods), ZERO)


def bill_for_slip(slip: SlipCode, *, today: datetime.date | None = None) -> Bill:
    """The bill a scanned slip names, refused with the reason when the slip is past its date (the bill's
    due date, or the last day its printed amount holds: billing.amounts) or its amount is no longer what
    the bill owes."""
    today = today or amounts.beijing_today()
    bill = (
        Bill.objects.select_related("account", "biller", "biller__category")
        .filter(biller__code=slip.biller_code, account__account_no=slip.account_no, period=slip.period)
        .first()
    )
    if bill is None:
        raise CounterError("slip_bill_unknown")
    if bill.status in (BillStatus.PAID, BillStatus.CANCELLED):
        raise CounterError("slip_bill_not_payable", period=bill.period, status=bill.get_status_display())
    if today > slip.due_date:
        raise CounterError("slip_expired", due=slip.due_date.isoformat())
    upcoming = instalments.next_open(bill)
    if upcoming is not None and (slip.amount, slip.due_date) == (upcoming.remaining, upcoming.due_date):
        return bill  # the slip of the bill's next open instalment (billing.instalments)
    if bill.outstanding != slip.amount or slip_valid_until(bill) != slip.due_date:
        raise CounterError(
            "slip_amount_changed", slip=format_money(slip.amount), current=format_money(bill.outstanding)
        )
    return bill


def payable_bills_of(account: CustomerAccount) -> list[Bill]:
    return list(
        Bill.objects.filter(account=account, status__in=PAYABLE_BILL_STATUSES)
        .select_related("biller")  # each bill's amount today reads its biller's late-fee rule
        .order_by("due_date", "period")
    )


def counter_lookup(
    *,
    query: str,
    biller_code: str,
    branch: Branch | None = None,
    check: Callable[[Biller], None] | None = None,
) -> Lookup:
    """Find what to pay from what the clerk typed or scanned: a slip's barcode, a pay link's QR, or an
    account number of the chosen biller. Refuses billers the branch may not take cash for (or, for an
    agent, what `check` refuses)."""
    if check is None:

        def check(biller: Biller) -> None:
            check_biller_takes_cash_at(biller, branch)

    query = (query or "").strip()
    if not query:
        raise CounterError("lookup_empty")
    if looks_like_slip(query):
        slip = parse_slip_code(query.upper() if query[:2].islower() else query)
        if slip is None:
            raise CounterError("scan_unreadable")
        presentment.present(slip.biller_code, slip.account_no)  # a fetch-mode biller's live bills first
        bill = bill_for_slip(slip)
        check(bill.biller)
        bills = payable_bills_of(bill.account)
        return Lookup(
            account=bill.account, bills=bills, selected_periods={bill.period}, from_slip=True, slip=slip
        )
    if "/pay/" in query:
        token = query.split("/pay/", 1)[1].strip("/").split("/")[0].split("?")[0]
        bill_id = bill_id_from_token(token)
        bill = (
            Bill.objects.select_related("account", "biller", "biller__category").filter(pk=bill_id).first()
            if bill_id
            else None
        )
        if bill is None:
            raise CounterError("scan_unreadable")
        check(bill.biller)
        bills = payable_bills_of(bill.account)
        if bill.status not in PAYABLE_BILL_STATUSES:
            raise CounterError("slip_bill_not_payable", period=bill.period, status=bill.get_status_display())
        return Lookup(account=bill.account, bills=bills, selected_periods={bill.period}, from_slip=True)
    biller = Biller.objects.select_related("category").filter(code=normalize_code(biller_code)).first()
    if biller is None:
        raise CounterError("lookup_empty")
    check(biller)
    account_no = normalize_account_no(query)
    presentment.present(biller, account_no)  # a fetch-mode biller's live bills first (billing.presentment)
    account = (
        CustomerAccount.objects.select_related("biller").filter(biller=biller, account_no=account_no).first()
    )
    notice_account = None if account else account_no_for_notice(biller_code=biller.code, notice_no=query)
    if notice_account:  # a payment notice's number (缴款书号) finds the account it was issued to
        account = CustomerAccount.objects.select_related("biller").get(
            biller=biller, account_no=notice_account
        )
    if account is None:
        from billing.exceptions import PaymentRefused

        raise PaymentRefused("account_unknown", biller=biller.display_name, account_no=account_no)
    if biller.payment_mode == PaymentMode.PREPAID:
        return Lookup(account=account)  # a top-up: the citizen says how much (a card's, written after)
    bills = payable_bills_of(account)
    if not bills:
        from billing.exceptions import PaymentRefused

        raise PaymentRefused("no_open_bill", account_no=account.account_no)
    return Lookup(account=account, bills=bills, selected_periods={bill.period for bill in bills})


def takes_topups(biller_code: str) -> bool:
    """Whether the biller is paid by top-ups of the citizen's chosen amount (no bills to tick)."""
    return Biller.objects.filter(code=normalize_code(biller_code), payment_mode=PaymentMode.PREPAID).exists()


def till_takings(till: Till) -> Decimal:
    """Cash the till took and still holds: its payments that were not voided."""
    return (
        CounterPayment.objects.filter(till=till, payment__status=PaymentStatus.POSTED).aggregate(
            total=Sum("payment__amount")
        )["total"]
        or ZERO
    )


@dataclass
class TillReport:
    till: Till
    payments: list[CounterPayment]
    taken: Decimal
    voided: Decimal
    count_taken: int
    count_voided: int
    by_biller: list[tuple[str, int, Decimal]]

    @property
    def expected(self) -> Decimal:
        return self.till.opening_float + self.taken


def till_report(till: Till) -> TillReport:
    payments = list(
        CounterPayment.objects.filter(till=till)
        .select_related("payment", "payment__biller", "payment__account", "void_approved_by")
        .order_by("created_at")
    )
    taken = sum((cp.payment.amount for cp in payments if cp.payment.status == PaymentStatus.POSTED), ZERO)
    voided = sum((cp.payment.amount for cp in payments if cp.payment.status != PaymentStatus.POSTED), ZERO)
    per_biller: dict[str, list] = {}
    for cp in payments:
        if cp.payment.status != PaymentStatus.POSTED:
            continue
        row = per_biller.setdefault(cp.payment.biller.display_name, [0, ZERO])
        row[0] += 1
        row[1] += cp.payment.amount
    return TillReport(
        till=till,
        payments=payments,
        taken=taken,
        voided=voided,
        count_taken=sum(1 for cp in payments if cp.payment.status == PaymentStatus.POSTED),
        count_voided=sum(1 for cp in payments if cp.payment.status != PaymentStatus.POSTED),
        by_biller=sorted((name, n, total) for name, (n, total) in per_biller.items()),
    )


def clerk_tills_on(user, day: datetime.date) -> list[Till]:
    """The day's tills the user reports on: their own, and every till of the branches they supervise."""
    supervised = BranchStaff.objects.filter(user=user, role=BranchRole.SUPERVISOR).values("branch_id")
    return list(
        Till.objects.filter(Q(clerk=user) | Q(branch_id__in=supervised), business_date=day)
        .select_related("branch", "clerk")
        .order_by("branch__code", "opened_at")
    )


# --- the public outlet finder ----------------------------------------------------------------------


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = math.radians(lat2 - lat1)
    dlmb = math.radians(lng2 - lng1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def _distance_km_from(point: tuple[float, float]):
    """`haversine_km` from `point` to a branch, in SQL: the database sorts a province's outlets and hands
    over one page, instead of every outlet being loaded to be sorted here (issue 16)."""
    phi1 = math.radians(point[0])
    phi2 = Radians(Cast("latitude", FloatField()))
    dphi = phi2 - Value(phi1)
    dlmb = Radians(Cast("longitude", FloatField())) - Value(math.radians(point[1]))
    half = Value(2.0)
    a = Power(Sin(dphi / half), half) + Value(math.cos(phi1)) * Cos(phi2) * Power(Sin(dlmb / half), half)
    return Value(2 * EARTH_RADIUS_KM) * ASin(Sqrt(a))


def hours_on(branch: Branch, day: datetime.date) -> str:
    """The branch's hours on `day` ("08:30-17:30"), "" when it does not open that day."""
    return (branch.weekly_hours or {}).get(WEEKDAYS[day.weekday()], "") if branch.weekly_hours else ""


def open_now(branch: Branch, moment: datetime.datetime) -> bool | None:
    """Whether the branch is open at `moment` by its hours; None when its hours are not structured."""
    if branch.status != BranchStatus.OPEN:
        return False
    if not branch.weekly_hours:
        return None
    hours = hours_on(branch, moment.date())
    now = moment.strftime("%H:%M")
    for span in hours.split(","):
        if "-" not in span:
            continue
        start, end = (part.strip() for part in span.split("-", 1))
        end = "24:00" if end in {"24:00", "00:00"} else end
        if start <= now < end:
            return True
    return False


@dataclass
class Outlet:
    branch: Branch
    distance_km: float | None = None
    hours_today: str = ""
    open_now: bool | None = None
    upcoming: PlannedClosure | None = None


def _cash_branches_for(biller: Biller | None):
    branches = Branch.objects.select_related("operator")
    if biller is None:
        return branches
    if not biller.accepts_cash:
        return branches.none()
    category_ids = [biller.category_id] + ([biller.category.parent_id] if biller.category.parent_id else [])
    return branches.filter(
        Q(takes_all_billers=True) | Q(cash_billers=biller) | Q(cash_categories__in=category_ids)
    ).distinct()


OUTLETS_PER_PAGE = 30


def _matching_outlets(
    *,
    biller: Biller | None,
    district: str,
    point: tuple[float, float] | None,
    include_closed: bool,
    exclude: Branch | None,
):
    """Every outlet that matches, in the finder's order: nearest first around `point` (each Branch with its
    `distance_km`), else open before suspended, by district and code. A query of Branches either way, so a
    page is sliced in the database. Suspended outlets are kept in both: the finder shows them with their
    dates."""
    branches = _cash_branches_for(biller)
    if district:
        branches = branches.filter(district=district)
    if not include_closed:
        branches = branches.exclude(status=BranchStatus.CLOSED)
    if exclude is not None:
        branches = branches.exclude(pk=exclude.pk)
    if point is None:
        not_open = Case(When(status=BranchStatus.OPEN, then=Value(0)), default=Value(1))
        return branches.annotate(not_open=not_open).order_by("not_open", "district", "code")
    located = branches.filter(latitude__isnull=False, longitude__isnull=False)
    return located.annotate(distance_km=_distance_km_from(point)).order_by("distance_km", "code")


def _with_today(found) -> list[Outlet]:
    """Outlets (or Branches) with today's hours, whether open now, and any closure announced ahead."""
    outlets = [
        item if isinstance(item, Outlet) else Outlet(item, distance_km=getattr(item, "distance_km", None))
        for item in found
    ]
    moment = timezone.localtime()
    upcoming = {
        closure.branch_id: closure
        for closure in PlannedClosure.objects.filter(
            branch__in=[o.branch.pk for o in outlets], status=ClosureStatus.PLANNED
        ).order_by("-starts_on")
    }
    for outlet in outlets:
        outlet.hours_today = hours_on(outlet.branch, moment.date())
        outlet.open_now = open_now(outlet.branch, moment)
        outlet.upcoming = upcoming.get(outlet.branch.pk)
    return outlets


def find_outlets(
    *,
    biller: Biller | None = None,
    district: str = "",
    point: tuple[float, float] | None = None,
    include_closed: bool = False,
    limit: int = 50,
    exclude: Branch | None = None,
) -> list[Outlet]:
    """The first `limit` outlets that take cash for `biller`, in `district` or nearest to `point` first, with
    today's hours and status and any closure announced ahead."""
    found = _matching_outlets(
        biller=biller, district=district, point=point, include_closed=include_closed, exclude=exclude
    )
    return _with_today(found[:limit])


def find_outlets_page(
    *,
    biller: Biller | None = None,
    district: str = "",
    point: tuple[float, float] | None = None,
    page: object = 1,
    per_page: int = OUTLETS_PER_PAGE,
) -> tuple[Page, list[Outlet]]:
    """One page of every outlet the finder matches (none dropped, suspended ones included), and its
    outlets with today's hours. A page number that is not one shows the first page, one past the end
    the last."""
    found = _matching_outlets(
        biller=biller, district=district, point=point, include_closed=False, exclude=None
    )
    page_obj = Paginator(found, per_page).get_page(page)
    return page_obj, _with_today(page_obj.object_list)


def outlet_for(branch: Branch) -> Outlet:
    """One outlet's hours today, whether it is open now, and its next announced closure."""
    moment = timezone.localtime()
    return Outlet(
        branch,
        hours_today=hours_on(branch, moment.date()),
        open_now=open_now(branch, moment),
        upcoming=branch.planned_closures.filter(status=ClosureStatus.PLANNED).order_by("starts_on").first(),
    )


def nearest_open_alternatives(
    branch: Branch, *, biller: Biller | None = None, limit: int = 3
) -> list[Outlet]:
    if branch.latitude is None or branch.longitude is None:
        outlets = find_outlets(biller=biller, district=branch.district, exclude=branch, limit=limit * 3)
    else:
        outlets = find_outlets(
            biller=biller,
            point=(float(branch.latitude), float(branch.longitude)),
            exclude=branch,
            limit=limit * 3,
        )
    return [outlet for outlet in outlets if outlet.branch.status == BranchStatus.OPEN][:limit]


def public_branch(code: str) -> Branch | None:
    return Branch.objects.select_related("operator").filter(code=code).first()


def districts() -> list[str]:
    return list(Branch.objects.order_by("district").values_list("district", flat=True).distinct())


def cash_billers(*, query: str = "", limit: int | None = None) -> list[Biller]:
    """Active billers that take cash, by code; `query` keeps those whose name (either language) or code
    holds it. A province has 19,000 of them (issue 16), so the outlet finder reads at most `limit`."""
    billers = Biller.objects.filter(status=BillerStatus.ACTIVE, accepts_cash=True).order_by("code")
    if query:
        named = Q(name__icontains=query) | Q(name_en__icontains=query)
        billers = billers.filter(named | Q(code=query.upper()))
    return list(billers[:limit] if limit is not None else billers)


def cash_biller(code: str) -> Biller | None:
    """The active cash-taking biller of this code, or None."""
    if not code:
        return None
    return Biller.objects.filter(status=BillerStatus.ACTIVE, accepts_cash=True, code=code).first()


# --- cash coverage ---------------------------------------------------------------------------------


@dataclass
class CoverageRow:
    district: str
    threshold: int | None
    open_outlets: int
    by_biller: dict[int, int]

    @property
    def lowest(self) -> int:
        return min(self.by_biller.values(), default=self.open_outlets)

    @property
    def below(self) -> bool:
        return self.threshold is not None and self.lowest < self.threshold


def cash_coverage(district: str | None = None) -> tuple[list[Biller], list[CoverageRow]]:
    """Per district and per cash biller: how many open outlets take its cash. Two queries for the
    branches and their lists, then counted in memory (a few thousand branches)."""
    billers = list(
        Biller.objects.filter(status=BillerStatus.ACTIVE, accepts_cash=True)
        .select_related("category")
        .order_by("code")
    )
    branches = Branch.objects.filter(status=BranchStatus.OPEN)
    if district:
        branches = branches.filter(district=district)
    branches = list(
        branches.prefetch_related("cash_billers", "cash_categories").only(
            "pk", "district", "takes_all_billers"
        )
    )
    counts: dict[str, dict[int, int]] = defaultdict(lambda: dict.fromkeys([b.pk for b in billers], 0))
    totals: dict[str, int] = defaultdict(int)
    for branch in branches:
        totals[branch.district] += 1
        row = counts[branch.district]
        if branch.takes_all_billers:
            for biller in billers:
                row[biller.pk] += 1
            continue
        biller_ids = {b.pk for b in branch.cash_billers.all()}
        category_ids = {c.pk for c in branch.cash_categories.all()}
        for biller in billers:
            if (
                biller.pk in biller_ids
                or biller.category_id in category_ids
                or biller.category.parent_id in category_ids
            ):
                row[biller.pk] += 1
    thresholds = dict(CoverageThreshold.objects.values_list("district", "min_open_outlets"))
    names = set(totals) | set(thresholds)
    if district:
        names = {district}
    else:
        names |= set(Branch.objects.values_list("district", flat=True).distinct())
    rows = [
        CoverageRow(
            district=name,
            threshold=thresholds.get(name),
            open_outlets=totals.get(name, 0),
            by_biller=counts[name] if name in counts else dict.fromkeys([b.pk for b in billers], 0),
        )
        for name in sorted(names)
    ]
    return billers, rows


# --- reports ---------------------------------------------------------------------------------------


def visible_counter_payments(user):
    """Counter payments the user may see in reports: every one for platform-wide roles, their branches'
    for supervisors, and a clerk's own (or their supervised branches') for clerks."""
    queryset = access.visible_payments(user).filter(channel=Channel.COUNTER)
    if access.scope_filter(user, Payment) is None:
        return queryset
    held = access.roles_of(user)
    if roles.BRANCH_CLERK in held and roles.BRANCH_SUPERVISOR not in held:
        supervised = BranchStaff.objects.filter(user=user, role=BranchRole.SUPERVISOR).values("branch_id")
        queryset = queryset.filter(Q(actor=user) | Q(branch_id__in=supervised))
    return queryset


def takings(user, *, date_from: datetime.date, date_to: datetime.date, by: str) -> list[dict]:
    """Net cash taken (posted, not reversed) per day and per branch, biller or clerk."""
    group = {
        "branch": ["branch__code", "branch__name"],
        "biller": ["biller__code", "biller__name"],
        "clerk": ["actor__username"],
    }[by]
    rows = (
        visible_counter_payments(user)
        .filter(business_date__gte=date_from, business_date__lte=date_to, status=PaymentStatus.POSTED)
        .values("business_date", *group)
        .annotate(count=Count("pk"), total=Sum("amount"))
        .order_by("-business_date", *group)
    )
    return list(rows)


@dataclass
class CommissionRow:
    operator: str
    kind: str
    payments: int = 0
    amount: Decimal = ZERO
    commission: Decimal = ZERO


def operator_commission(user, *, date_from: datetime.date, date_to: datetime.date) -> list[CommissionRow]:
    """What each outlet operator earns: the counter-channel fee of each biller's schedule in force on the
    payment's day, per payment (fees have minimums and caps, so they are not computed on totals)."""
    payments = (
        visible_counter_payments(user)
        .filter(business_date__gte=date_from, business_date__lte=date_to, status=PaymentStatus.POSTED)
        .values_list(
            "branch__operator__name", "branch__operator__kind", "biller_id", "business_date", "amount"
        )
    )
    schedules: dict[int, list[FeeSchedule]] = defaultdict(list)
    for schedule in FeeSchedule.objects.filter(channel=Channel.COUNTER).order_by("-valid_from"):
        schedules[schedule.biller_id].append(schedule)
    rows: dict[str, CommissionRow] = {}
    for operator, kind, biller_id, day, amount in payments.iterator(chunk_size=2000):
        row = rows.setdefault(operator, CommissionRow(operator=operator, kind=kind))
        row.payments += 1
        row.amount += amount
        schedule = next((s for s in schedules.get(biller_id, []) if s.valid_from <= day), None)
        if schedule is not None:
            row.commission += compute_fee(
                amount=amount,
                fixed=schedule.fixed_fee,
                percentage=schedule.percentage,
                min_fee=schedule.min_fee,
                max_fee=schedule.max_fee,
            )
    return sorted(rows.values(), key=lambda row: row.operator)


def recent_payers_at(branch: Branch, *, days: int):
    """Citizens with an e-mail address whose money was paid at the branch in the last `days` days. A cash
    payment names no payer, so they are found through the accounts it paid: the portal users who keep
    one of those accounts in "My accounts", and citizens who pay for one of them (through any channel);
    and any payer a payment there does name. Each once."""
    from payers.models import Payer

    since = timezone.localdate() - datetime.timedelta(days=days)
    recent = Payment.objects.filter(branch=branch, business_date__gte=since)
    accounts = recent.exclude(account__isnull=True).values("account_id")
    return (
        Payer.objects.filter(
            Q(pk__in=recent.exclude(payer__isnull=True).values("payer_id"))
            | Q(user__bound_accounts__account_id__in=accounts)
            | Q(payments__account_id__in=accounts)
        )
        .filter(Q(email__gt="") | Q(user__email__gt=""))
        .select_related("user")
        .distinct()
        .order_by("pk")
    )


# --- the staff home (billing/dashboard.py) -------------------------------------------------------------


def outlets_by_district(user) -> list[dict]:
    """Outlets the user may see per district, counted by status (in BranchStatus's order): [{district,
    open, suspended, closed}], by district. One query."""
    return list(
        access.scoped_queryset(user, Branch)
        .values("district")
        .annotate(
            open=Count("pk", filter=Q(status=BranchStatus.OPEN)),
            suspended=Count("pk", filter=Q(status=BranchStatus.SUSPENDED)),
            closed=Count("pk", filter=Q(status=BranchStatus.CLOSED)),
        )
        .order_by("district")
    )


def consenting_counter_phones(branch: Branch, *, days: int) -> list[str]:
    """The mobile numbers citizens left at the branch's counter in the last `days` days, with their consent
    to be told of its closures; each once."""
    since = timezone.localdate() - datetime.timedelta(days=days)
    phones = (
        CounterPayment.objects.filter(branch=branch, payment__business_date__gte=since)
        .exclude(notice_phone="")
        .filter(notice_consent_at__isnull=False)
        .values_list("notice_phone", flat=True)
        .distinct()
    )
    return sorted(phones)


# --- agents with a float (issue 18, item 4) -----------------------------------------------------------


def agent_staff_of(user) -> AgentStaff | None:
    """The agent (and terminal) the user takes payments for, or None."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return AgentStaff.objects.select_related("agent", "agent__operator").filter(user=user).first()


def agent_terminal(*, operator_id: int, agent_code: str, terminal_id: str) -> AgentStaff:
    """The terminal of one of the operator's agents that an agent app names (the partner API); refused
    as unknown for an agent of another operator, as for one that does not exist."""
    agent = Agent.objects.filter(operator_id=operator_id, code=normalize_code(agent_code)).first()
    if agent is None:
        raise CounterError("agent_unknown", agent=agent_code[:16])
    staff = (
        AgentStaff.objects.select_related("agent", "user")
        .filter(agent=agent, terminal_id=terminal_id)
        .first()
    )
    if staff is None:
        raise CounterError("agent_terminal_unknown", terminal=terminal_id[:32], agent=agent.code)
    return staff


def float_balance(agent: Agent) -> Decimal:
    """What is left of the agent's float: the credit balance of its ledger account (top-ups less the
    payments it took, voids given back). Derived from the journal lines, never stored."""
    total = JournalLine.objects.filter(account__code=ledger.agent_float_code(agent.code)).aggregate(
        total=Sum("amount")
    )["total"]
    return -(total or ZERO)


def check_agent_takes(agent: Agent, biller: Biller, account_no: str = "") -> None:
    """An agent acts only while active, for its assigned billers, and for accounts of its area."""
    if agent.status != AgentStatus.ACTIVE:
        raise CounterError("agent_not_active", agent=agent.code, status=agent.get_status_display())
    if biller.status != BillerStatus.ACTIVE:
        raise CounterError(
            "biller_suspended",
            biller=biller.display_name,
            reason=biller.status_reason or biller.get_status_display(),
        )
    if not agent.billers.filter(pk=biller.pk).exists():
        raise CounterError("agent_biller_not_assigned", agent=agent.code, biller=biller.display_name)
    prefixes = agent.prefixes
    if account_no and prefixes and not any(account_no.startswith(prefix) for prefix in prefixes):
        raise CounterError(
            "agent_outside_area", account_no=account_no, agent=agent.code, prefixes="/".join(prefixes)
        )


def agent_lookup(*, agent: Agent, query: str, biller_code: str) -> Lookup:
    """The counter's lookup (slip, pay link or account number), refused outside the agent's billers and
    area."""
    found = counter_lookup(
        query=query, biller_code=biller_code, check=lambda biller: check_agent_takes(agent, biller)
    )
    check_agent_takes(agent, found.account.biller, found.account.account_no)
    return found


def with_float_balance(agents):
    """The agents annotated with `float_left`, each in the same query (the admin's list)."""
    lines = (
        JournalLine.objects.filter(account__code=Concat(Value("AGENT_FLOAT:"), OuterRef("code")))
        .values("account")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return agents.annotate(float_left=-Coalesce(Subquery(lines), Value(ZERO)))


def billers_agents_may_take():
    """The billers an agent may be assigned: active ones that take cash."""
    return Biller.objects.filter(status=BillerStatus.ACTIVE, accepts_cash=True).order_by("code")


def agent_billers(agent: Agent) -> list[Biller]:
    return list(agent.billers.filter(status=BillerStatus.ACTIVE).order_by("code"))


def agent_payments(agent: Agent, *, limit: int = 50) -> list[AgentPayment]:
    """The agent's latest payments, newest first, for its history page (one query)."""
    return list(
        AgentPayment.objects.filter(agent=agent)
        .select_related("payment", "payment__biller", "payment__account")
        .order_by("-created_at", "-pk")[:limit]
    )


def agent_payment_for_user(user, receipt_no: str) -> AgentPayment | None:
    """A payment taken by the user's agent, by its receipt number."""
    return (
        AgentPayment.objects.select_related("payment", "payment__biller", "payment__account", "agent")
        .prefetch_related("payment__allocations__bill")
        .filter(payment__receipt_no=receipt_no, agent__staff__user=user)
        .first()
    )


@dataclass
class AgentCommissionRow:
    agent: Agent
    payments: int
    amount: Decimal
    commission: Decimal


def agent_commission(user, *, date_from: datetime.date, date_to: datetime.date) -> list[AgentCommissionRow]:
    """What each agent the user may see earned: the commission fixed on each payment when it was taken
    (the agent's rule of that day), over its payments not voided. One query."""
    return _commission_rows(access.scoped_queryset(user, Agent), date_from=date_from, date_to=date_to)


def agent_commission_of(
    agent: Agent, *, date_from: datetime.date, date_to: datetime.date
) -> AgentCommissionRow:
    """The agent's own commission over the days (its history page)."""
    rows = _commission_rows(Agent.objects.filter(pk=agent.pk), date_from=date_from, date_to=date_to)
    return rows[0] if rows else AgentCommissionRow(agent=agent, payments=0, amount=ZERO, commission=ZERO)


def _commission_rows(agents, *, date_from: datetime.date, date_to: datetime.date) -> list[AgentCommissionRow]:
    rows = (
        agents.filter(
            payments__payment__business_date__gte=date_from,
            payments__payment__business_date__lte=date_to,
            payments__payment__status=PaymentStatus.POSTED,
        )
        .annotate(
            n=Count("payments"), total=Sum("payments__payment__amount"), earned=Sum("payments__commission")
        )
        .select_related("operator")
        .order_by("code")
    )
    return [
        AgentCommissionRow(agent=row, payments=row.n, amount=row.total or ZERO, commission=row.earned or ZERO)
        for row in rows
    ]


def agent_topups(agent: Agent, *, limit: int = 20) -> list[FloatTopUp]:
    return list(FloatTopUp.objects.filter(agent=agent).order_by("-credited_at", "-pk")[:limit])


def agents_with_low_float(user) -> list[Agent]:
    """The agents the user may see with an open low-float alert, each with its float now (`float_left`),
    lowest first: the staff home's panel (one query)."""
    alerted = LowFloatAlert.objects.filter(resolved_at__isnull=True).values("agent_id")
    agents = access.scoped_queryset(user, Agent, Agent.objects.filter(pk__in=alerted))
    return list(with_float_balance(agents.distinct()).order_by("float_left", "code"))
