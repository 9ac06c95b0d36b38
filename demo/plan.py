"""The demo's plan: every account with its bills and the payments made on them, pure data derived from
the fixed seed and the anchor date, built without touching the database (see `demo`)."""

import datetime
import random
from decimal import ROUND_CEILING, Decimal

from billing.choices import AmountRule, Channel, PaymentMode
from billing.money import CENT, ZERO, quantize_money
from demo.data import (
    BILLERS,
    BILLERS_BY_CODE,
    BRANCHES,
    CITIZEN,
    CITIZEN_ADDRESS,
    CITIZEN_BILLERS,
    CITIZEN_GATEWAY,
    CLERK_BRANCH,
    DEFAULT_ACCOUNTS,
    DONATION_AMOUNTS,
    DONATIONS_PER_2000,
    ONLINE_GATEWAYS,
    PARTNERS,
    SEED,
    AccountPlan,
    BillerSpec,
    BillPlan,
    NewAccount,
    PaymentPlan,
    Period,
    billing_periods,
)

# ---------------------------------------------------------------------------------------------------
# Building the plan
# ---------------------------------------------------------------------------------------------------


def account_count(spec: BillerSpec, accounts: int) -> int:
    """The biller's share of `accounts` statement accounts (prepaid billers scale the same way)."""
    return round(spec.accounts_per_2000 * accounts / DEFAULT_ACCOUNTS)


def account_rng(biller_code: str, index: int) -> random.Random:
    """One generator per account, so an account's data does not depend on how many others there are."""
    return random.Random(f"{SEED}/{biller_code}/{index}")


def plan_accounts(anchor: datetime.date, accounts: int = DEFAULT_ACCOUNTS) -> list[AccountPlan]:
    """Every account of every biller, with its bills and the payments made on them."""
    periods = billing_periods(anchor)
    plans = []
    for spec in BILLERS:
        if spec.new_account is None:
            continue
        for index in range(account_count(spec, accounts)):
            plans.append(plan_account(spec, index, anchor, periods))
    return plans


def plan_account(spec: BillerSpec, index: int, anchor: datetime.date, periods: list[Period]) -> AccountPlan:
    rng = account_rng(spec.code, index)
    new = spec.new_account(index, rng, anchor)
    citizen = index == 0 and spec.code in CITIZEN_BILLERS
    if citizen:
        address = CITIZEN_ADDRESS if new.address else ""
        new = NewAccount(new.account_no, CITIZEN["name"], address)
    opened = periods[0].due_date - datetime.timedelta(days=rng.randint(60, 3000))
    if spec.payment_mode == PaymentMode.PREPAID:
        payments = plan_topups(spec, new.account_no, rng, by_citizen=citizen)
        return AccountPlan(spec.code, new.account_no, new.holder_name, new.address, opened, (), payments)
    bills = spec.bills(rng, periods, anchor, new)
    paid_count = paid_bill_count(rng, bills, anchor, citizen=citizen)
    bills = add_late_fees(spec, rng, bills, paid_count, anchor)
    payments = plan_bill_payments(spec, new.account_no, rng, bills[:paid_count], by_citizen=citizen)
    return AccountPlan(
        spec.code, new.account_no, new.holder_name, new.address, opened, tuple(bills), payments
    )


def paid_bill_count(
    rng: random.Random, bills: list[BillPlan], anchor: datetime.date, *, citizen: bool
) -> int:
    """How many of the oldest bills the customer has paid: most pay on time, some lag, a few default."""
    due = sum(1 for bill in bills if bill.period.due_date < anchor)
    if citizen:
        return len(bills) - 1  # the newest bill stays open, for the demo
    draw = rng.random()
    if draw < 0.58:
        paid = len(bills) if rng.random() < 0.3 else due
    elif draw < 0.80:
        paid = due - rng.randint(1, 3)
    elif draw < 0.93:
        paid = due - rng.randint(4, 8)
    else:
        paid = rng.randint(0, 2)
    return max(0, min(paid, len(bills)))


def add_late_fees(
    spec: BillerSpec, rng: random.Random, bills: list[BillPlan], paid_count: int, anchor: datetime.date
) -> list[BillPlan]:
    """Late fees on the bills left unpaid past their due date (paid bills were paid on time)."""
    if spec.late_fee is None:
        return bills
    result = list(bills[:paid_count])
    for bill in bills[paid_count:]:
        days = (anchor - bill.period.due_date).days
        fee = spec.late_fee(rng, bill.amount_due, days) if days > 0 else ZERO
        result.append(BillPlan(bill.period, bill.amount_due, bill.description, fee))
    return result


def plan_bill_payments(
    spec: BillerSpec, account_no: str, rng: random.Random, paid: list[BillPlan], *, by_citizen: bool
) -> tuple[PaymentPlan, ...]:
    """Split the paid bills into one or two payments of consecutive bills, each naming its periods:
    most customers settle several months at once (and each payment costs the demo ~8 ms to post)."""
    if not paid:
        return ()
    groups = min(len(paid), rng.choice((1, 1, 1, 2)))
    cuts = sorted(rng.sample(range(1, len(paid)), groups - 1)) if groups > 1 else []
    payments = []
    for number, (start, end) in enumerate(zip([0, *cuts], [*cuts, len(paid)], strict=True), start=1):
        chunk = paid[start:end]
        total = sum((bill.total for bill in chunk), ZERO)
        amount = statement_amount(spec, rng, chunk, total, last=end == len(paid))
        payments.append(
            payment_plan(
                spec,
                rng,
                key=f"seed-{spec.code}-{account_no}-{number}",
                account_no=account_no,
                amount=amount,
                periods=tuple(bill.period.code for bill in chunk),
                by_citizen=by_citizen,
            )
        )
    return tuple(payments)


def statement_amount(
    spec: BillerSpec, rng: random.Random, chunk: list[BillPlan], total: Decimal, *, last: bool
) -> Decimal:
    """What the customer hands over: the exact total, sometimes rounded up to prepay (EXACT_UP), sometimes
    short on the last bill (EXACT_DOWN), leaving it partly paid."""
    if spec.amount_rule == AmountRule.EXACT_UP and rng.random() < 0.2:
        rounded = quantize_money((total / 50).to_integral_value(rounding=ROUND_CEILING) * 50)
        return rounded if rounded > total else rounded + 50
    if spec.amount_rule == AmountRule.EXACT_DOWN and last and rng.random() < 0.15:
        short = quantize_money(chunk[-1].total * Decimal(rng.randint(30, 70)) / 100)
        return total - short
    return total


def plan_topups(
    spec: BillerSpec, account_no: str, rng: random.Random, *, by_citizen: bool
) -> tuple[PaymentPlan, ...]:
    """Prepaid accounts get no bills, only a top-up or two of round amounts."""
    count = rng.choice((0, 1, 1, 1, 2)) if not by_citizen else 2
    return tuple(
        payment_plan(
            spec,
            rng,
            key=f"seed-{spec.code}-{account_no}-{number}",
            account_no=account_no,
            amount=Decimal(rng.choice(spec.topups)).quantize(CENT),
            by_citizen=by_citizen,
        )
        for number in range(1, count + 1)
    )


def plan_donations(accounts: int = DEFAULT_ACCOUNTS) -> list[PaymentPlan]:
    """Open-amount donations to the charity, without an account number; the citizen made the first."""
    spec = next(s for s in BILLERS if s.payment_mode == PaymentMode.DONATION)
    plans = []
    for index in range(round(DONATIONS_PER_2000 * accounts / DEFAULT_ACCOUNTS)):
        rng = account_rng(spec.code, index)
        amount = Decimal(rng.choice(DONATION_AMOUNTS)).quantize(CENT)
        plans.append(
            payment_plan(spec, rng, key=f"seed-{spec.code}-{index + 1}", amount=amount, by_citizen=index == 0)
        )
    return plans


def payment_plan(
    spec: BillerSpec, rng: random.Random, *, key: str, amount: Decimal, by_citizen: bool, **kwargs
) -> PaymentPlan:
    """Pick the channel: the citizen pays online; others online, through a partner app, or in cash.

    Online and partner payments carry what their source's statement will name them by
    (docs/statement-format.md): the key `<gateway or partner>:<its own order number>` and the source's
    own transaction id as the channel reference."""
    draw = rng.random()
    if by_citizen or draw < 0.5 or (draw >= 0.8 and not spec.accepts_cash):
        gateway = CITIZEN_GATEWAY if by_citizen else rng.choice(ONLINE_GATEWAYS)
        return PaymentPlan(
            f"{gateway}:{key}",
            spec.code,
            amount,
            Channel.ONLINE,
            channel_ref=gateway_trade_no(gateway, rng),
            by_citizen=by_citizen,
            **kwargs,
        )
    if draw < 0.8:
        partner = rng.choice(PARTNERS)
        ref = f"{partner}{rng.randrange(10**14):014d}"
        return PaymentPlan(f"{partner}:{key}", spec.code, amount, Channel.PARTNER, channel_ref=ref, **kwargs)
    branch = CLERK_BRANCH if rng.random() < 0.4 else rng.choice(BRANCHES)[0]
    return PaymentPlan(key, spec.code, amount, Channel.COUNTER, branch_code=branch, **kwargs)


def gateway_trade_no(gateway: str, rng: random.Random) -> str:
    """The gateway's own trade number, shaped as each writes it: the sandbox bank's SBX…, Alipay's 28
    digits, WeChat Pay's 28-digit transaction id starting 42000."""
    if gateway == "ALIPAY":
        return f"20{rng.randrange(10**26):026d}"
    if gateway == "WECHAT":
        return f"42000{rng.randrange(10**23):023d}"
    return f"SBX{rng.randrange(10**18):018d}"


def sample_accounts() -> list[tuple[str, str, str]]:
    """(biller, account number, what to try) for the login banner: the citizen's own accounts."""
    anchor = datetime.date(2000, 1, 1)  # account numbers do not depend on the dates
    samples = []
    for code, note in (
        ("BJ-WATER", "水费，最近一期未缴"),
        ("BJ-PROPERTY", "物业费，可部分缴纳"),
        ("BJ-TELECOM", "话费充值"),
    ):
        spec = BILLERS_BY_CODE[code]
        samples.append((spec.name, spec.new_account(0, account_rng(code, 0), anchor).account_no, note))
    return samples
