"""A whole province in one database (issue 16): billers over the category tree, their customers' accounts,
twelve months of bills, six months of payments with their allocations and balanced journal entries,
outlets with hours and statuses, and partners. Loaded with COPY through Django's connection.

    BENCH_PROVINCE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench_province \\
        .venv/bin/python benchmarks/province.py --scale 0.01

`--scale 1` is the issue's size: 20,000 billers, 2,000,000 accounts, 24,000,000 bills, about 10.8 million
payments (each with one allocation, one entry and two lines), 5,000 outlets and 50 partners. Outlets and
partners are cheap and keep their full number down to scale 0.01, so the outlet finder is measured among
5,000 at every scale used for measuring.

The skew is a real province's: one power grid holds 40% of the accounts; the other billers' shares fall
off as 1/rank (a few water, gas and telecom companies with hundreds of thousands, thousands of property
managers, schools and clinics with a handful each).

What the rows mean, so that every check of the platform holds on them:
- bills are issued on the first of the month after their period and due on the 15th; the last period is
  last month's;
- bills of the six periods before the payment history are paid, by payments archived out of this
  database (scaling.md: payments, allocations and journal lines are kept six months online);
- within the six months, about 90% of bills are paid (fewer of the last period's, issued this month) by
  one payment each through the online, partner or counter channel, exactly as `post_payment` writes it:
  one BILL allocation, one payment entry of two lines (debit the channel's clearing account or the
  branch's cash, credit the biller's payable). The database's own balance trigger checks every entry as
  the lines are copied in;
- the rest are open; the tables' id sequences are moved past the loaded ids.

The database is emptied first (every table of the platform's apps), so the script refuses a database
whose name does not say `province` or `bench`.
"""

import argparse
import datetime
import os
import random
import sys
import time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/billpay_bench_province"
APPS = ("billing", "branches", "api", "payers", "reconciliation")
GRID_CODE = "PROVGRID"
# The codes of the province's own billers (the grid, then B00001…, see `build`): the other benchmarks'
# --province runs add billers of their own (BENCH…) beside them, which these leave out.
OWN_BILLER_CODES = rf"^({GRID_CODE}|B[0-9]{{5}})$"
GRID_SHARE = 0.40
FULL = {"billers": 20_000, "accounts": 2_000_000, "outlets": 5_000, "partners": 50}
BILL_MONTHS = 12
PAYMENT_MONTHS = 6
PAID_SHARE = 0.90
CHANNELS = (("online", 0.55), ("partner", 0.30), ("counter", 0.15))
COPY_BATCH = 200_000
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红玉兰春梅海波"
DISTRICTS = [
    "江岸区",
    "江汉区",
    "硚口区",
    "汉阳区",
    "武昌区",
    "青山区",
    "洪山区",
    "东西湖区",
    "汉南区",
    "蔡甸区",
    "江夏区",
    "黄陂区",
    "新洲区",
    "黄石港区",
    "西塞山区",
    "下陆区",
    "铁山区",
    "阳新县",
    "大冶市",
    "茅箭区",
    "张湾区",
    "郧阳区",
    "丹江口市",
    "西陵区",
    "伍家岗区",
    "点军区",
    "猇亭区",
    "夷陵区",
    "襄城区",
    "樊城区",
    "襄州区",
    "枣阳市",
    "宜城市",
    "东宝区",
    "掇刀区",
    "孝南区",
    "应城市",
    "荆州区",
    "沙市区",
    "黄州区",
]
# (category code, share of the billers after the grid, name pattern, English pattern)
BILLER_KINDS = [
    ("water", 0.004, "{city}自来水公司", "{city} Water Co."),
    ("gas", 0.004, "{city}燃气公司", "{city} Gas Co."),
    ("heating", 0.003, "{city}热力公司", "{city} Heating Co."),
    ("mobile", 0.002, "{city}移动通信", "{city} Mobile"),
    ("broadband", 0.003, "{city}宽带网络", "{city} Broadband"),
    ("cable-tv", 0.002, "{city}广电网络", "{city} Cable TV"),
    ("pension", 0.002, "{city}社会保险事业局", "{city} Social Insurance Bureau"),
    ("residents-medical", 0.002, "{city}医疗保障局", "{city} Healthcare Security Bureau"),
    ("property-fees", 0.45, "{city}{n}物业管理有限公司", "{city} Property Management {n}"),
    ("kindergarten", 0.12, "{city}第{n}幼儿园", "{city} Kindergarten No. {n}"),
    ("tuition", 0.08, "{city}第{n}中学", "{city} Middle School No. {n}"),
    ("school-meals", 0.04, "{city}第{n}小学食堂", "{city} Primary School {n} Canteen"),
    ("hospital", 0.05, "{city}第{n}人民医院", "{city} People's Hospital No. {n}"),
    ("outpatient", 0.05, "{city}{n}社区卫生服务中心", "{city} Community Clinic {n}"),
    ("parking-fees", 0.05, "{city}{n}停车场", "{city} Car Park {n}"),
    ("maintenance-funds", 0.03, "{city}{n}小区维修基金", "{city} Estate {n} Maintenance Fund"),
    ("administrative-fees", 0.04, "{city}{n}行政服务中心", "{city} Service Centre {n}"),
    ("vocational-training", 0.03, "{city}{n}职业培训学校", "{city} Vocational School {n}"),
    ("waste-collection", 0.03, "{city}{n}环卫所", "{city} Sanitation Station {n}"),
]
CITIES = [
    "武汉",
    "黄石",
    "十堰",
    "宜昌",
    "襄阳",
    "鄂州",
    "荆门",
    "孝感",
    "荆州",
    "黄冈",
    "咸宁",
    "随州",
    "恩施",
]
CITIES_EN = [
    "Wuhan",
    "Huangshi",
    "Shiyan",
    "Yichang",
    "Xiangyang",
    "Ezhou",
    "Jingmen",
    "Xiaogan",
    "Jingzhou",
    "Huanggang",
    "Xianning",
    "Suizhou",
    "Enshi",
]
# Typical monthly bill (yuan) by the biller's category: (low, high).
BILL_RANGE = {
    "electricity": (40, 400),
    "water": (15, 120),
    "gas": (20, 200),
    "heating": (150, 600),
    "property-fees": (80, 600),
    "kindergarten": (800, 3000),
    "tuition": (300, 2500),
    "pension": (200, 900),
    "residents-medical": (30, 400),
}
DEFAULT_RANGE = (20, 500)
OPERATORS = [
    ("POST", "中国邮政", "post_office"),
    ("ICBC", "工商银行", "bank"),
    ("CCB", "建设银行", "bank"),
    ("ABC", "农业银行", "bank"),
    ("RCB", "农村商业银行", "bank"),
    ("MART", "便民超市连锁", "convenience_store"),
    ("STAR", "星光便利店", "convenience_store"),
    ("COMM", "社区服务中心", "community_centre"),
]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def sizes(scale: float) -> dict:
    """Row counts at `scale`: billers and accounts follow it; outlets and partners keep their full number
    down to scale 0.01 and shrink below (the tests' tiny provinces)."""
    return {
        "billers": max(10, round(FULL["billers"] * scale)),
        "accounts": max(50, round(FULL["accounts"] * scale)),
        "outlets": max(20, min(FULL["outlets"], round(FULL["outlets"] * scale * 100))),
        "partners": max(3, min(FULL["partners"], round(FULL["partners"] * scale * 100))),
    }


def receipt_no(day: datetime.date, n: int) -> str:
    """R + date + 16 Crockford characters, as `new_receipt_no` writes them; from the id, so unique."""
    chars = []
    for _ in range(16):
        n, digit = divmod(n, 32)
        chars.append(CROCKFORD[digit])
    return f"R{day:%Y%m%d}{''.join(reversed(chars))}"


class Loader:
    """COPY rows into a model's table through Django's connection, every column named, defaults filled
    from the model's fields once."""

    def __init__(self, connection, log):
        self.connection = connection
        self.log = log
        self.counts: dict[str, int] = {}
        self.seconds: dict[str, float] = {}

    def copy(self, model, columns: list[str], rows) -> int:
        table = model._meta.db_table
        fields = {f.column: f for f in model._meta.concrete_fields}
        missing = [c for c in fields if c not in columns]
        defaults = []
        for column in missing:
            field = fields[column]
            if field.has_default():
                defaults.append(field.get_default())
            elif field.null:
                defaults.append(None)
            else:
                defaults.append("")
        names = ", ".join(f'"{c}"' for c in [*columns, *missing])
        started = time.perf_counter()
        count = 0
        with self.connection.cursor() as cursor:
            batch = []
            for row in rows:
                batch.append(row)
                if len(batch) >= COPY_BATCH:
                    count += self._copy_batch(cursor, table, names, batch, defaults)
                    batch = []
            if batch:
                count += self._copy_batch(cursor, table, names, batch, defaults)
        self.counts[table] = self.counts.get(table, 0) + count
        self.seconds[table] = self.seconds.get(table, 0.0) + time.perf_counter() - started
        return count

    def report(self) -> None:
        for table, count in self.counts.items():
            self.log(f"  {table:32} {count:>12,} rows {self.seconds[table]:8.1f} s")

    @staticmethod
    def _copy_batch(cursor, table, names, batch, defaults) -> int:
        """One COPY statement: the journal lines' balance trigger runs once per statement, over whole
        entries (the generator never splits an entry's lines across batches)."""
        with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in batch:
                copy.write_row((*row, *defaults))
        return len(batch)


def _shares(count: int, total: int, rng: random.Random) -> list[int]:
    """`total` accounts over `count` billers ranked 1..count, falling off as 1/rank, each at least one."""
    if count <= 0:
        return []
    weights = [1.0 / (rank + 1) for rank in range(count)]
    scale = max(total - count, 0) / sum(weights)
    shares = [1 + int(w * scale) for w in weights]
    shares[0] += total - sum(shares)
    return shares


def empty_database(connection) -> None:
    from django.apps import apps

    tables = [
        model._meta.db_table
        for app in APPS
        for model in apps.get_app_config(app).get_models(include_auto_created=True)
    ]
    with connection.cursor() as cursor:
        # Inside a longer transaction (the tests') rows written before may still have deferred foreign-key
        # checks pending, and PostgreSQL refuses to TRUNCATE a table with pending trigger events: run them
        # now. The checks of the rows loaded below then run as each statement ends, parents come first.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def _periods(today: datetime.date) -> list[str]:
    """The last BILL_MONTHS periods, oldest first, ending last month."""
    year, month = today.year, today.month
    periods = []
    for _ in range(BILL_MONTHS):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        periods.append(f"{year:04d}-{month:02d}")
    return periods[::-1]


def _issued_on(period: str) -> datetime.date:
    year, month = int(period[:4]), int(period[5:])
    return datetime.date(year + month // 12, month % 12 + 1, 1)


def build(
    *, scale: float, seed: int = 16, log=print, today: datetime.date | None = None, vacuum: bool = True
) -> dict:
    """Empty the platform's tables and load a province at `scale`. Returns the row counts. `vacuum`
    (VACUUM ANALYZE the loaded tables) needs autocommit: tests, inside a transaction, turn it off."""
    from django.apps import apps as django_apps
    from django.conf import settings
    from django.db import connection, transaction

    from api.models import Partner
    from billing import reference_data
    from billing.models import (
        Bill,
        Biller,
        BillerCategory,
        CustomerAccount,
        JournalEntry,
        JournalLine,
        LedgerAccount,
        Payment,
        PaymentAllocation,
    )
    from branches.models import Branch, Operator

    rng = random.Random(seed)
    zone = ZoneInfo(settings.TIME_ZONE)
    now = datetime.datetime.now(zone)
    today = today or now.date()
    n = sizes(scale)
    load = Loader(connection, log)
    started = time.perf_counter()
    log(
        f"province at scale {scale}: {n['billers']:,} billers, {n['accounts']:,} accounts, "
        f"{n['accounts'] * BILL_MONTHS:,} bills, {n['outlets']:,} outlets, {n['partners']} partners"
    )

    with transaction.atomic():
        empty_database(connection)
        reference_data.install(django_apps)
        categories = {c.code: c.pk for c in BillerCategory.objects.all()}
        created = now - datetime.timedelta(days=400)

        # Billers: the grid, then the rest by kind; ranks (and so account shares) shuffled across kinds.
        kinds = [GRID_CODE]
        weights = [share for _c, share, _n, _e in BILLER_KINDS]
        kinds += rng.choices(range(len(BILLER_KINDS)), weights=weights, k=n["billers"] - 1)
        billers = []  # (id, code, category code, status)
        serial: dict[tuple[int, int], int] = {}
        rows = []
        for index, kind in enumerate(kinds, start=1):
            if kind == GRID_CODE:
                code, category = GRID_CODE, "electricity"
                name, name_en = "国网湖北省电力有限公司", "State Grid Hubei Electric Power"
            else:
                category, _share, pattern, pattern_en = BILLER_KINDS[kind]
                city = rng.randrange(len(CITIES))
                number = serial[(kind, city)] = serial.get((kind, city), 0) + 1
                code = f"B{index:05d}"
                name = pattern.format(city=CITIES[city], n=number)
                name_en = pattern_en.format(city=CITIES_EN[city], n=number)
            status = (
                "active"
                if index == 1 or rng.random() < 0.95
                else rng.choice(["suspended", "closed", "draft"])
            )
            billers.append((index, code, category, status))
            rows.append(
                (
                    index,
                    code,
                    name,
                    name_en,
                    name,
                    categories[category],
                    status,
                    "statement",
                    "exact",
                    Decimal("0.01"),
                    r"^\d{6,20}$",
                    "none",
                    True,
                    created,
                    created,
                )
            )
        load.copy(
            Biller,
            [
                "id",
                "code",
                "name",
                "name_en",
                "legal_name",
                "category_id",
                "status",
                "payment_mode",
                "amount_rule",
                "min_amount",
                "account_pattern",
                "account_check_digit",
                "accepts_cash",
                "created_at",
                "updated_at",
            ],
            rows,
        )

        # Accounts: the grid's 40%, the rest falling off by rank.
        grid_accounts = round(n["accounts"] * GRID_SHARE)
        ranked = list(range(2, n["billers"] + 1))
        rng.shuffle(ranked)
        counts = {1: grid_accounts}
        for biller_id, share in zip(
            ranked, _shares(len(ranked), n["accounts"] - grid_accounts, rng), strict=True
        ):
            counts[biller_id] = share
        account_billers: list[int] = []  # index = account id - 1

        def accounts():
            account_id = 0
            for biller_id, _category, _status in ((b[0], b[2], b[3]) for b in billers):
                for local in range(counts[biller_id]):
                    account_id += 1
                    account_billers.append(biller_id)
                    holder = (
                        rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if local % 3 else "")
                    )
                    address = f"{rng.choice(DISTRICTS)}{rng.randint(1, 300)}号{rng.randint(1, 30)}栋"
                    yield (
                        account_id,
                        biller_id,
                        f"{biller_id:05d}{local:07d}",
                        holder,
                        address,
                        Decimal("0.00"),
                        created,
                    )

        load.copy(
            CustomerAccount,
            ["id", "biller_id", "account_no", "holder_name", "address", "credit_balance", "created_at"],
            accounts(),
        )

        # Ledger accounts: the platform's (reference data), each biller's payable, each outlet's cash.
        platform = {a.code: a.pk for a in LedgerAccount.objects.all()}
        ledger_id = max(platform.values())
        payable = {}
        rows = []
        for biller_id, code, _category, _status in billers:
            ledger_id += 1
            payable[biller_id] = ledger_id
            rows.append((ledger_id, f"PAYABLE:{code}", f"应付 {code}", "biller_payable", biller_id))
        load.copy(LedgerAccount, ["id", "code", "name", "kind", "biller_id"], rows)

        # Outlets: operators, branches with hours and statuses, and their cash accounts.
        load.copy(
            Operator,
            ["id", "code", "name", "kind"],
            [(i, code, name, kind) for i, (code, name, kind) in enumerate(OPERATORS, start=1)],
        )
        rows, cash = [], {}
        for branch_id in range(1, n["outlets"] + 1):
            operator = rng.randrange(len(OPERATORS))
            district = rng.choice(DISTRICTS)
            opens = rng.choice(["08:00", "08:30", "09:00"])
            closes = rng.choice(["17:00", "17:30", "18:00", "20:00", "22:00"])
            hours = {day: f"{opens}-{closes}" for day in WEEKDAYS[:5]}
            if rng.random() < 0.7:
                hours["sat"] = f"{opens}-12:00"
            if OPERATORS[operator][2] == "convenience_store":
                hours = {day: "07:00-23:00" for day in WEEKDAYS}
            roll = rng.random()
            status, since, until, reason = "open", None, None, ""
            if roll < 0.05:
                status, reason = "suspended", "装修暂停营业"
                since, until = (
                    today - datetime.timedelta(days=rng.randint(1, 30)),
                    today + datetime.timedelta(days=rng.randint(1, 60)),
                )
            elif roll < 0.07:
                status, reason, since = (
                    "closed",
                    "网点撤并",
                    today - datetime.timedelta(days=rng.randint(30, 300)),
                )
            rows.append(
                (
                    branch_id,
                    f"OUT{branch_id:05d}",
                    f"{OPERATORS[operator][1]}{district}{branch_id}网点",
                    operator + 1,
                    district,
                    f"{district}{rng.randint(1, 500)}号",
                    Decimal(f"{rng.uniform(29.1, 32.6):.6f}"),
                    Decimal(f"{rng.uniform(108.4, 116.1):.6f}"),
                    f"周一至周五 {opens}-{closes}",
                    hours,
                    status,
                    reason,
                    since,
                    until,
                    rng.random() < 0.8,
                    created,
                )
            )
            ledger_id += 1
            cash[branch_id] = ledger_id
        from psycopg.types.json import Jsonb

        rows = [(*row[:9], Jsonb(row[9]), *row[10:]) for row in rows]
        load.copy(
            Branch,
            [
                "id",
                "code",
                "name",
                "operator_id",
                "district",
                "address",
                "latitude",
                "longitude",
                "opening_hours",
                "weekly_hours",
                "status",
                "status_reason",
                "status_since",
                "status_until",
                "takes_all_billers",
                "created_at",
            ],
            rows,
        )
        load.copy(
            LedgerAccount,
            ["id", "code", "name", "kind", "branch_id"],
            [(cash[b], f"CASH:OUT{b:05d}", f"现金 OUT{b:05d}", "cash_in_till", b) for b in cash],
        )

        partners = [f"P{i:02d}" for i in range(1, n["partners"] + 1)]
        load.copy(
            Partner,
            ["id", "code", "name", "status", "created_at"],
            [
                (i, code, f"合作渠道{i:02d}", "active" if i % 17 else "suspended", created)
                for i, code in enumerate(partners, start=1)
            ],
        )

        # Bills, and the payments of the last six months with their allocations, entries and lines.
        # Period by period, each biller's whole file in turn and the billers in a random order, as
        # monthly imports arrive; copied every COPY_BATCH bills so that memory stays bounded.
        periods = _periods(today)
        archived = set(periods[: BILL_MONTHS - PAYMENT_MONTHS])
        biller_category = {b[0]: b[2] for b in billers}
        biller_active = {b[0]: b[3] == "active" for b in billers}
        clearing = {"online": platform["CLEARING:ONLINE"], "partner": platform["CLEARING:PARTNER"]}
        channel_names = [c for c, _w in CHANNELS]
        channel_weights = [w for _c, w in CHANNELS]
        outlet_ids = list(cash)
        usual = [rng.uniform(*BILL_RANGE.get(biller_category[b], DEFAULT_RANGE)) for b in account_billers]
        first_account = {}
        for account_index, biller_id in enumerate(account_billers):
            first_account.setdefault(biller_id, account_index + 1)
        bill_id = payment_id = 0
        bills, payments, allocations, entries, lines = [], [], [], [], []

        def flush():
            load.copy(
                Bill,
                [
                    "id",
                    "biller_id",
                    "account_id",
                    "period",
                    "amount_due",
                    "late_fee",
                    "due_date",
                    "amount_paid",
                    "status",
                    "reference",
                    "description",
                    "created_at",
                    "updated_at",
                ],
                bills,
            )
            load.copy(
                Payment,
                [
                    "id",
                    "receipt_no",
                    "channel",
                    "idempotency_key",
                    "request_fingerprint",
                    "channel_ref",
                    "biller_id",
                    "account_id",
                    "branch_id",
                    "amount",
                    "status",
                    "business_date",
                    "posted_at",
                    "reversal_reason",
                ],
                payments,
            )
            load.copy(
                PaymentAllocation,
                ["id", "payment_id", "bill_id", "kind", "amount", "is_reversal"],
                allocations,
            )
            load.copy(
                JournalEntry, ["id", "kind", "payment_id", "memo", "business_date", "created_at"], entries
            )
            load.copy(JournalLine, ["id", "entry_id", "account_id", "amount"], lines)
            for rows in (bills, payments, allocations, entries, lines):
                rows.clear()

        for period in periods:
            issued = _issued_on(period)
            biller_order = list(first_account)
            rng.shuffle(biller_order)
            for biller_id in biller_order:
                first = first_account[biller_id]
                for account_id in range(first, first + counts[biller_id]):
                    bill_id += 1
                    due = Decimal(f"{usual[account_id - 1] * rng.uniform(0.7, 1.3):.2f}")
                    paid, status = Decimal("0.00"), "open"
                    if period in archived:
                        paid, status = due, "paid"
                    elif biller_active[biller_id]:
                        day = issued + datetime.timedelta(days=int(rng.expovariate(1 / 6)))
                        if day <= today and rng.random() < PAID_SHARE:
                            paid, status = due, "paid"
                            payment_id += 1
                            channel = rng.choices(channel_names, weights=channel_weights)[0]
                            branch = rng.choice(outlet_ids) if channel == "counter" else None
                            posted = datetime.datetime.combine(day, datetime.time(8), zone)
                            posted += datetime.timedelta(seconds=rng.randrange(14 * 3600))
                            receipt = receipt_no(day, payment_id * 7919 + 12345)
                            if channel == "partner":
                                partner = partners[payment_id % len(partners)]
                                key, ref = f"{partner}-{payment_id}", f"{partner}{payment_id:012d}"
                            elif channel == "online":
                                key, ref = f"WEB-{payment_id}", f"42000{payment_id:015d}"
                            else:
                                key, ref = f"CTR-{payment_id}", ""
                            payments.append(
                                (
                                    payment_id,
                                    receipt,
                                    channel,
                                    key,
                                    f"{payment_id:064x}",
                                    ref,
                                    biller_id,
                                    account_id,
                                    branch,
                                    due,
                                    "posted",
                                    day,
                                    posted,
                                    "",
                                )
                            )
                            allocations.append((payment_id, payment_id, bill_id, "bill", due, False))
                            entries.append((payment_id, "payment", payment_id, receipt, day, posted))
                            debit = cash[branch] if channel == "counter" else clearing[channel]
                            lines.append((2 * payment_id - 1, payment_id, debit, due))
                            lines.append((2 * payment_id, payment_id, payable[biller_id], -due))
                    bills.append(
                        (
                            bill_id,
                            biller_id,
                            account_id,
                            period,
                            due,
                            Decimal("0.00"),
                            issued + datetime.timedelta(days=14),
                            paid,
                            status,
                            f"{period}-{account_id}",
                            "",
                            created,
                            created,
                        )
                    )
                    if len(bills) >= COPY_BATCH:
                        flush()
        flush()

        with connection.cursor() as cursor:
            for model in (
                Biller,
                CustomerAccount,
                LedgerAccount,
                Operator,
                Branch,
                Partner,
                Bill,
                Payment,
                PaymentAllocation,
                JournalEntry,
                JournalLine,
            ):
                table = model._meta.db_table
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"GREATEST((SELECT MAX(id) FROM {table}), 1))"
                )
    loaded = time.perf_counter() - started
    load.report()
    analyze_started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in load.counts if vacuum else ():
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        cursor.execute("SELECT pg_database_size(current_database())")
        (size,) = cursor.fetchone()
    log(
        f"loaded in {loaded:.1f} s, vacuumed and analysed in {time.perf_counter() - analyze_started:.1f} s; "
        f"database size {size / 1024**2:,.0f} MB"
    )
    return {**load.counts, "seconds": loaded, "database_bytes": size}


def configure(url: str, allow_any_name: bool):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchdb import setup_django_on

    setup_django_on(
        url,
        setting="BENCH_PROVINCE_DATABASE_URL",
        allow_any_name=allow_any_name,
        name_words=("province", "bench"),
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale", type=float, default=0.01, help="1.0 is the issue's province (default 0.01)"
    )
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--allow-any-database-name", action="store_true")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    configure(os.environ.get("BENCH_PROVINCE_DATABASE_URL", DEFAULT_URL), args.allow_any_database_name)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    build(scale=args.scale, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
