"""Writing the demo: whatever of it is missing, in one transaction, through the services (see `demo`)."""

import datetime
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from billing import roles
from billing.choices import BillerStatus, Channel
from billing.exceptions import IdempotencyConflict, PaymentRefused
from billing.models import Bill, Biller, BillerCategory, BillerStaff, CustomerAccount, Payment
from billing.services import change_biller_status, post_payment
from branches.choices import BranchRole
from branches.models import Branch, BranchStaff, Operator
from demo import agents as agents_demo
from demo import amounts as amounts_demo
from demo import api as api_demo
from demo import branches as branches_demo
from demo import card_topups as card_topups_demo
from demo import clock
from demo import disputes as disputes_demo
from demo import fiscal as fiscal_demo
from demo import notices as notices_demo
from demo import payers as payers_demo
from demo import presentment as presentment_demo
from demo import reconciliation as reconciliation_demo
from demo.data import (
    ACCOUNT_HINTS_EN,
    ANCHOR_BILLER,
    BILLERS,
    BRANCHES,
    CITIZEN,
    CLERK_BRANCH,
    DEFAULT_ACCOUNTS,
    DEMO_PASSWORD,
    DEMO_USERS,
    OPERATORS,
    AccountPlan,
    PaymentPlan,
)
from demo.plan import plan_accounts, plan_donations
from payers.models import Payer

# ---------------------------------------------------------------------------------------------------
# Writing it
# ---------------------------------------------------------------------------------------------------


@dataclass
class SeedSummary:
    created: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    payments_posted: int = 0
    payments_replayed: int = 0
    payments_refused: list[str] = field(default_factory=list)
    anchor: datetime.date | None = None


def seed_demo(accounts: int = DEFAULT_ACCOUNTS) -> SeedSummary:
    """Create whatever of the demo is missing, in one transaction (one commit is what makes SQLite fast)."""
    summary = SeedSummary()
    with transaction.atomic():
        users = ensure_users(summary)
        billers = ensure_billers(users["admin"], summary)
        branches = ensure_branches(summary)
        ensure_staff_links(users, billers, branches)
        amounts_demo.ensure_traffic_split(admin=users["admin"], billers=billers)
        payer = ensure_citizen_payer(users[CITIZEN["username"]])
        summary.anchor = timezone.localdate(billers[ANCHOR_BILLER].created_at)
        plans = plan_accounts(summary.anchor, accounts)
        account_ids = ensure_accounts(plans, billers, summary)
        ensure_bills(plans, billers, account_ids, summary)
        payments = [payment for plan in plans for payment in plan.payments] + plan_donations(accounts)
        post_planned_payments(
            payments, branches, users, payer, summary, day=reconciliation_demo.closed_day(summary.anchor)
        )
        reconciliation_demo.seed(users=users, billers=billers, branches=branches, summary=summary)
        branches_demo.seed(users=users, billers=billers, branches=branches, summary=summary)
        api_demo.seed(users=users, billers=billers, branches=branches, summary=summary)
        payers_demo.seed(users=users, billers=billers, branches=branches, summary=summary)
        notices_demo.seed(users=users, billers=billers, branches=branches, summary=summary)
        presentment_demo.seed(users=users, billers=billers, branches=branches, summary=summary)
        fiscal_demo.seed(users=users, billers=billers, branches=branches, summary=summary)
        amounts_demo.seed(users=users, billers=billers, branches=branches, summary=summary)
        disputes_demo.seed(users=users, billers=billers, branches=branches, summary=summary)
        agents_demo.seed(users=users, billers=billers, branches=branches, summary=summary)
        card_topups_demo.seed(users=users, billers=billers, branches=branches, summary=summary)
    summary.totals = current_totals()
    return summary


def ensure_users(summary: SeedSummary) -> dict:
    """The demo logins. Existing users keep everything but get their role group and the demo password."""
    User = get_user_model()
    users = {}
    created = 0
    for demo in DEMO_USERS:
        staff = demo.role != "citizen"
        user, was_created = User.objects.get_or_create(
            username=demo.username,
            defaults={
                "first_name": demo.first_name,
                "last_name": demo.last_name,
                "email": f"{demo.username}@example.com",
                "is_staff": staff,
                "is_superuser": demo.role == roles.PLATFORM_ADMIN,
            },
        )
        created += was_created
        if staff:
            user.groups.add(Group.objects.get(name=demo.role))
        users[demo.username] = user
    set_demo_passwords(users.values())
    summary.created["users"] = created
    return users


def set_demo_passwords(users: Iterable) -> None:
    """Give every demo user the documented password, hashing it once: PBKDF2 takes ~0.3 s a hash, and a
    password that already works is left alone so that a re-run keeps everyone logged in."""
    by_hash: dict[str, list] = {}
    for user in users:
        by_hash.setdefault(user.password, []).append(user)
    fresh = None
    for encoded, holders in by_hash.items():
        if encoded and check_password(DEMO_PASSWORD, encoded):
            continue
        fresh = fresh or make_password(DEMO_PASSWORD)
        for user in holders:
            user.password = fresh
            user.save(update_fields=["password"])


def ensure_billers(admin, summary: SeedSummary) -> dict[str, Biller]:
    """The billers, taken from draft to active through the lifecycle service so the audit trail shows it."""
    categories = {c.code: c for c in BillerCategory.objects.filter(code__in={s.category for s in BILLERS})}
    billers = {}
    created = 0
    for spec in BILLERS:
        biller, was_created = Biller.objects.get_or_create(
            code=spec.code,
            defaults={
                "name": spec.name,
                "name_en": spec.name_en,
                "legal_name": spec.legal_name,
                "category": categories[spec.category],
                "payment_mode": spec.payment_mode,
                "amount_rule": spec.amount_rule,
                "min_amount": spec.min_amount,
                "max_amount": spec.max_amount,
                "account_pattern": spec.account_pattern,
                "account_check_digit": spec.check_digit,
                "account_hint": spec.account_hint,
                "account_hint_en": ACCOUNT_HINTS_EN.get(spec.code, ""),
                "accepts_cash": spec.accepts_cash,
            },
        )
        if was_created:
            created += 1
            for status in (BillerStatus.SUBMITTED, BillerStatus.APPROVED, BillerStatus.ACTIVE):
                biller = change_biller_status(
                    biller=biller, to_status=status, actor=admin, reason="演示数据初始化"
                )
        billers[spec.code] = biller
    summary.created["billers"] = created
    return billers


def ensure_branches(summary: SeedSummary) -> dict[str, Branch]:
    operators = {}
    for code, name, kind in OPERATORS:
        operators[code], _ = Operator.objects.get_or_create(code=code, defaults={"name": name, "kind": kind})
    branches = {}
    created = 0
    for code, operator, name, district, address, lat, lng, hours in BRANCHES:
        branches[code], was_created = Branch.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "operator": operators[operator],
                "district": district,
                "address": address,
                "latitude": Decimal(lat),
                "longitude": Decimal(lng),
                "opening_hours": hours,
            },
        )
        created += was_created
    summary.created["branches"] = created
    return branches


def ensure_staff_links(users: dict, billers: dict[str, Biller], branches: dict[str, Branch]) -> None:
    """Tie the operator to the water company and the two branch users to the main post office."""
    BillerStaff.objects.get_or_create(user=users["biller_operator"], biller=billers["BJ-WATER"])
    for username, role in (("branch_supervisor", BranchRole.SUPERVISOR), ("branch_clerk", BranchRole.CLERK)):
        BranchStaff.objects.get_or_create(
            user=users[username], branch=branches[CLERK_BRANCH], defaults={"role": role}
        )


def ensure_citizen_payer(user) -> Payer:
    payer, _ = Payer.objects.get_or_create(
        user=user,
        defaults={"display_name": CITIZEN["name"], "mobile": CITIZEN["mobile"], "email": CITIZEN["email"]},
    )
    return payer


def at_nine(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(9), tzinfo=timezone.get_current_timezone())


def ensure_accounts(plans: list[AccountPlan], billers: dict[str, Biller], summary: SeedSummary) -> dict:
    """Insert the accounts not yet there; return {(biller id, account number): account id}."""
    biller_ids = [b.pk for b in billers.values()]
    existing = set(
        CustomerAccount.objects.filter(biller_id__in=biller_ids).values_list("biller_id", "account_no")
    )
    missing = [
        CustomerAccount(
            biller=billers[plan.biller_code],
            account_no=plan.account_no,
            holder_name=plan.holder_name,
            address=plan.address,
            created_at=at_nine(plan.opened),
        )
        for plan in plans
        if (billers[plan.biller_code].pk, plan.account_no) not in existing
    ]
    CustomerAccount.objects.bulk_create(missing, batch_size=500, ignore_conflicts=True)
    summary.created["accounts"] = len(missing)
    rows = CustomerAccount.objects.filter(biller_id__in=biller_ids).values_list(
        "biller_id", "account_no", "pk"
    )
    return {(biller_id, account_no): pk for biller_id, account_no, pk in rows}


def ensure_bills(plans: list[AccountPlan], billers: dict[str, Biller], account_ids: dict, summary) -> None:
    """Insert the bills not yet there, open and unpaid: payments come next, through the service."""
    existing = set(
        Bill.objects.filter(account_id__in=account_ids.values()).values_list("account_id", "period")
    )
    missing = []
    for plan in plans:
        biller = billers[plan.biller_code]
        account_id = account_ids[(biller.pk, plan.account_no)]
        for bill in plan.bills:
            if (account_id, bill.period.code) in existing:
                continue
            issued = bill.period.due_date.replace(day=1)
            missing.append(
                Bill(
                    biller=biller,
                    account_id=account_id,
                    period=bill.period.code,
                    amount_due=bill.amount_due,
                    late_fee=bill.late_fee,
                    due_date=bill.period.due_date,
                    description=bill.description,
                    created_at=at_nine(issued),
                )
            )
    Bill.objects.bulk_create(missing, batch_size=1000, ignore_conflicts=True)
    summary.created["bills"] = len(missing)


def post_planned_payments(
    payments: list[PaymentPlan], branches, users: dict, payer: Payer, summary, *, day: datetime.date
) -> None:
    """Post each payment through the service. A key already used replays; a refusal (someone paid the bill
    by hand in the demo meanwhile) is reported, not fatal. Online and partner payments are taken on `day`,
    the closed day whose statements the demo ships; cash stays on the seeding day (no till took it)."""
    clerk = users["branch_clerk"]
    for plan in payments:
        branch = branches[plan.branch_code] if plan.branch_code else None
        when = clock.at(clock.moment_of(day, plan.key)) if plan.channel != Channel.COUNTER else nullcontext()
        try:
            with when:
                result = post_payment(
                    channel=plan.channel,
                    idempotency_key=plan.key,
                    biller_code=plan.biller_code,
                    amount=plan.amount,
                    account_no=plan.account_no or None,
                    periods=plan.periods,
                    payer=payer if plan.by_citizen else None,
                    branch=branch,
                    actor=clerk if plan.branch_code == CLERK_BRANCH else None,
                    channel_ref=plan.channel_ref,
                )
        except (PaymentRefused, IdempotencyConflict) as refused:
            summary.payments_refused.append(f"{plan.key}: {refused}")
            continue
        if result.replayed:
            summary.payments_replayed += 1
        else:
            summary.payments_posted += 1
    summary.created["payments"] = summary.payments_posted


def current_totals() -> dict[str, int]:
    """What the demo database holds now, for the summary line."""
    return {
        "active billers": Biller.objects.filter(status=BillerStatus.ACTIVE).count(),
        "branches": Branch.objects.count(),
        "accounts": CustomerAccount.objects.count(),
        "bills": Bill.objects.count(),
        "payments": Payment.objects.count(),
    }
