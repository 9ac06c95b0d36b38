"""Demo outlets for `manage.py seed_demo`: a few hundred branches across the districts of 滨江市, with
coordinates, hours, what they take cash for and a handful suspended, closed or closing soon (through the
services, so the audit trail and the finder show them). Idempotent: a re-run adds nothing."""

import datetime
import random
from decimal import Decimal

from django.utils import timezone

from billing.choices import Channel
from billing.models import BillerCategory
from billing.services import set_fee_schedule
from branches import services
from branches.choices import BranchStatus, OperatorKind
from branches.hours import format_weekly_hours, parse_weekly_hours
from branches.models import Branch, CoverageThreshold, Operator

SEED = "billpay-demo-branches-v1"
# district: (centre latitude, centre longitude, outlets)
DISTRICTS = {
    "江南区": (30.2084, 120.2119, 70),
    "江北区": (30.2780, 120.1930, 55),
    "西山区": (30.2650, 120.1150, 45),
    "临江区": (30.2420, 120.2650, 50),
    "滨湖区": (30.1750, 120.1500, 40),
    "高新区": (30.1900, 120.2600, 40),
}
DEMO_OPERATORS = (
    ("CNPOST-BJ", "中国邮政滨江分公司", OperatorKind.POST_OFFICE),
    ("ICBC-BJ", "工商银行滨江分行", OperatorKind.BANK),
    ("LINLI", "邻里家便利店", OperatorKind.CONVENIENCE_STORE),
    ("KUAIKE-BJ", "快客便利店", OperatorKind.CONVENIENCE_STORE),
    ("JN-COMMUNITY", "江南街道社区服务中心", OperatorKind.COMMUNITY_CENTRE),
)
# operator kind: (share, name pattern, hours, categories it takes cash for or None for every biller)
KINDS = {
    OperatorKind.POST_OFFICE: (0.25, "{district}{street}邮政营业所", "mon-sun 08:30-17:30", None),
    OperatorKind.BANK: (
        0.15,
        "工商银行{district}{street}支行",
        "mon-fri 09:00-17:00; sat-sun 09:00-16:00",
        None,
    ),
    OperatorKind.CONVENIENCE_STORE: (
        0.45,
        "{operator}（{street}店）",
        "daily 07:00-23:00",
        ["utilities", "telecom", "transport-cards"],
    ),
    OperatorKind.COMMUNITY_CENTRE: (
        0.15,
        "{street}社区服务中心缴费窗口",
        "mon-fri 09:00-12:00,13:30-17:00",
        ["social-insurance", "government-fees", "utilities", "property-fees"],
    ),
}
STREETS = [
    "文化",
    "人民",
    "解放",
    "中山",
    "建设",
    "和平",
    "幸福",
    "光明",
    "学府",
    "望江",
    "春晖",
    "新华",
    "东风",
    "青年",
    "朝阳",
    "长寿",
    "锦绣",
    "丰收",
    "梅园",
    "桂花",
]
SUSPENSION_REASONS = ["网点内部装修", "设备升级改造", "人员调整暂停现金收款", "临时停电检修"]


def seed(*, users, billers, branches, summary) -> None:
    """Add the demo outlets that are missing; suspend, close and plan closures only on new ones."""
    rng = random.Random(SEED)
    operators = {}
    for code, name, kind in DEMO_OPERATORS:
        operators[code], _ = Operator.objects.get_or_create(code=code, defaults={"name": name, "kind": kind})
    by_kind: dict[str, list[Operator]] = {}
    for operator in operators.values():
        by_kind.setdefault(operator.kind, []).append(operator)
    categories = {c.code: c for c in BillerCategory.objects.all()}
    existing = set(Branch.objects.filter(code__startswith="D-").values_list("code", flat=True))
    planned: list[Branch] = []
    for district_index, (district, (lat, lng, count)) in enumerate(DISTRICTS.items()):
        for n in range(count):
            code = f"D-{district_index + 1:02d}-{n + 1:03d}"
            roll = rng.random()
            kind = _pick_kind(roll)
            _share, pattern, hours_text, category_codes = KINDS[kind]
            operator = rng.choice(by_kind[kind])
            street = rng.choice(STREETS)
            latitude = Decimal(f"{lat + rng.uniform(-0.03, 0.03):.6f}")
            longitude = Decimal(f"{lng + rng.uniform(-0.035, 0.035):.6f}")
            if code in existing:
                continue
            weekly = parse_weekly_hours(hours_text)
            branch = Branch.objects.create(
                code=code,
                name=pattern.format(district=district, street=street + "路", operator=operator.name)[:120],
                operator=operator,
                district=district,
                address=f"滨江市{district}{street}路{rng.randint(1, 400)}号",
                latitude=latitude,
                longitude=longitude,
                weekly_hours=weekly,
                opening_hours=_zh_hours(weekly),
                phone=f"0571-8{rng.randint(1000000, 9999999)}",
                takes_all_billers=category_codes is None,
            )
            if category_codes:
                branch.cash_categories.set([categories[c] for c in category_codes if c in categories])
            planned.append(branch)
    _statuses(planned, actor=users.get("admin"), rng=random.Random(SEED + "/status"))
    for district, (_lat, _lng, count) in DISTRICTS.items():
        CoverageThreshold.objects.get_or_create(
            district=district, defaults={"min_open_outlets": max(3, count // 12)}
        )
    _counter_fees(billers, actor=users.get("admin"))
    if planned:  # a re-run that adds nothing keeps the summary line as it was
        summary.created["demo outlets"] = len(planned)


def _pick_kind(roll: float) -> str:
    total = 0.0
    for kind, (share, *_rest) in KINDS.items():
        total += share
        if roll < total:
            return kind
    return OperatorKind.CONVENIENCE_STORE


def _zh_hours(weekly: dict[str, str]) -> str:
    text = format_weekly_hours(weekly)
    for en, zh in (
        ("mon", "周一"),
        ("tue", "周二"),
        ("wed", "周三"),
        ("thu", "周四"),
        ("fri", "周五"),
        ("sat", "周六"),
        ("sun", "周日"),
    ):
        text = text.replace(en, zh)
    return text.replace("-周", "至周")[:120]


def _statuses(new_branches: list[Branch], *, actor, rng: random.Random) -> None:
    """About 6% suspended (with reopening dates), 2% closed, and a few closures announced ahead."""
    today = timezone.localdate()
    for branch in new_branches:
        roll = rng.random()
        if roll < 0.06:
            services.change_branch_status(
                branch=branch,
                to_status=BranchStatus.SUSPENDED,
                actor=actor,
                reason=rng.choice(SUSPENSION_REASONS),
                until=today + datetime.timedelta(days=rng.randint(5, 40)),
            )
        elif roll < 0.08:
            services.change_branch_status(
                branch=branch,
                to_status=BranchStatus.CLOSED,
                actor=actor,
                reason="网点撤并，现金业务并入附近网点",
            )
        elif roll < 0.10:
            starts = today + datetime.timedelta(days=rng.randint(10, 30))
            suspend = rng.random() < 0.5
            services.plan_closure(
                branch=branch,
                to_status=BranchStatus.SUSPENDED if suspend else BranchStatus.CLOSED,
                starts_on=starts,
                ends_on=starts + datetime.timedelta(days=14) if suspend else None,
                reason="门店装修改造" if suspend else "租约到期，网点迁址",
                actor=actor,
            )


COUNTER_FEE_FROM = datetime.date(2024, 1, 1)


def _counter_fees(billers: dict, *, actor) -> None:
    """What outlet operators earn per cash payment (the cash-counter fee schedule): ¥0.60 + 0.1%, at most
    ¥3.00, borne by the biller; only for billers that take cash and have no counter schedule yet."""
    for biller in billers.values():
        if not biller.accepts_cash or biller.fee_schedules.filter(channel=Channel.COUNTER).exists():
            continue
        set_fee_schedule(
            biller=biller,
            channel=Channel.COUNTER,
            fixed=Decimal("0.60"),
            percentage=Decimal("0.0010"),
            min_fee=Decimal("0.00"),
            max_fee=Decimal("3.00"),
            payer_pays=False,
            valid_from=COUNTER_FEE_FROM,
            actor=actor,
        )
