"""The demo of agents with a float (issue 18, item 4): a village officer and a corner shop take payments
for 中国邮政滨江分公司 out of floats they paid in by bank transfer. The transfers arrive on the float bank
account's camt.053 and are credited by reconciliation (one without an agent code becomes a discrepancy);
the village agent has taken a few payments, and the shop's float is nearly gone: signed in as
`agent_shop`, a few more payments exhaust it and the next one is refused. Idempotent: a re-run replays."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from billing.choices import PAYABLE_BILL_STATUSES
from billing.models import Bill
from branches import agents
from branches.choices import AgentKind
from branches.models import Agent, AgentPayment, AgentStaff, Operator
from demo import reconciliation as reconciliation_demo
from demo.statements import PAYMENT, DayLine, camt053
from reconciliation.services import reconcile_file

OPERATOR = "CNPOST-BJ"
BILLERS = ("BJ-WATER", "BJ-POWER", "BJ-GAS")
FLOAT_CHANNEL = "AGENT:ICBC-FLOAT"


@dataclass(frozen=True)
class DemoAgent:
    code: str
    name: str
    kind: str
    region_code: str
    address: str
    latitude: str
    longitude: str
    threshold: str
    username: str
    person: tuple[str, str]  # last name, first name
    terminal: str
    topup: str  # the bank transfer that funded its float
    payments: int  # payments taken in the demo


AGENTS = (
    DemoAgent(
        "AG339001",
        "桃源村村级代办点",
        AgentKind.VILLAGE_OFFICER,
        "339005001",
        "临江区桃源村村委会一楼便民服务室",
        "30.251200",
        "120.301500",
        "500.00",
        "agent_village",
        ("何", "秀兰"),
        "TY-01",
        "2000.00",
        3,
    ),
    DemoAgent(
        "AG339002",
        "幸福里便民小卖部",
        AgentKind.SHOP,
        "339001",
        "江南区幸福里12号",
        "30.209800",
        "120.214300",
        "250.00",
        "agent_shop",
        ("钱", "国庆"),
        "XF-01",
        "300.00",
        2,
    ),
)
UNMATCHED_TRANSFER = ("ICBC-FLT-0003", "500.00", "备付金充值 幸福里")  # no agent code: a discrepancy


def seed(*, users, billers, branches, summary) -> None:
    operator = Operator.objects.filter(code=OPERATOR).first()
    if operator is None:
        return
    admin = users["admin"]
    registered = [_register(demo, operator, admin) for demo in AGENTS]
    # The transfers arrived the day before the demo's closed day, whose statements the new user
    # reconciles (demo.reconciliation): these were reconciled already, so the floats hold money.
    day = reconciliation_demo.closed_day(summary.anchor) - datetime.timedelta(days=1)
    _reconcile_float_transfers(day, admin)
    for demo, (agent, staff) in zip(AGENTS, registered, strict=True):
        _take_payments(demo, agent, staff, summary)


def _register(demo: DemoAgent, operator: Operator, admin) -> tuple[Agent, AgentStaff]:
    agent = Agent.objects.filter(code=demo.code).first()
    if agent is None:
        agent = agents.save_agent(
            agent=Agent(
                code=demo.code,
                name=demo.name,
                kind=demo.kind,
                operator=operator,
                region_code=demo.region_code,
                address=demo.address,
                latitude=Decimal(demo.latitude),
                longitude=Decimal(demo.longitude),
                low_float_threshold=Decimal(demo.threshold),
                commission_fixed=Decimal("0.50"),
                commission_percentage=Decimal("0.0020"),
                commission_max=Decimal("5.00"),
            ),
            actor=admin,
            created=True,
        )
        agent.billers.set(agent.billers.model.objects.filter(code__in=BILLERS, accepts_cash=True))
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=demo.username,
        defaults={
            "last_name": demo.person[0],
            "first_name": demo.person[1],
            "email": f"{demo.username}@example.com",
            "is_staff": True,  # signs in at the staff login, holds no role: sees only the agent pages
        },
    )
    if created:
        from demo.seed import set_demo_passwords

        set_demo_passwords([user])
    staff, _ = AgentStaff.objects.get_or_create(
        user=user, defaults={"agent": agent, "terminal_id": demo.terminal}
    )
    return agent, staff


def float_statement(day: datetime.date) -> bytes:
    """The float bank account's camt.053 of the day: each agent's transfer with its code in the
    remittance information, and one transfer that names no agent."""
    at = timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))
    lines = [
        DayLine(
            PAYMENT, f"ICBC-FLT-{n:04d}", "", "", f"{demo.name}备付金", demo.code, Decimal(demo.topup), at
        )
        for n, demo in enumerate(AGENTS, start=1)
    ]
    ref, amount, text = UNMATCHED_TRANSFER
    lines.append(DayLine(PAYMENT, ref, "", "", text, "", Decimal(amount), at))
    return camt053(day, lines, statement_id=f"FLOAT-{day:%Y%m%d}")


def _reconcile_float_transfers(day: datetime.date, admin) -> None:
    reconcile_file(
        channel_code=FLOAT_CHANNEL,
        business_date=day,
        data=float_statement(day),
        file_name=f"float-{day:%Y%m%d}.xml",
        actor=admin,
    )


def _take_payments(demo: DemoAgent, agent: Agent, staff: AgentStaff, summary) -> None:
    for number in range(1, demo.payments + 1):
        key = f"demo-{number}"
        done = AgentPayment.objects.filter(payment__idempotency_key=agents.agent_idempotency_key(agent, key))
        if done.exists():
            summary.payments_replayed += 1
            continue
        bill = _open_bill(agent)
        if bill is None:
            return
        agents.take_agent_payment(
            staff=staff,
            biller_code=bill.biller.code,
            account_no=bill.account.account_no,
            periods=[bill.period],
            amount=bill.outstanding,
            key=key,
        )
        summary.payments_posted += 1
        summary.created["payments"] = summary.payments_posted


def _open_bill(agent: Agent) -> Bill | None:
    """An account's oldest open bill of one of the agent's billers, from the end of the account list (the
    other demos pay from its start), between ¥50 and ¥150."""
    for bill in (
        Bill.objects.filter(biller__in=agent.billers.all(), status__in=PAYABLE_BILL_STATUSES)
        .select_related("account", "biller")
        .order_by("-account__account_no", "period")[:200]
    ):
        if (
            Decimal("50.00") <= bill.outstanding <= Decimal("150.00")
            and not bill.account.bills.filter(
                status__in=PAYABLE_BILL_STATUSES, period__lt=bill.period
            ).exists()
        ):
            return bill
    return None
