"""Throughput of `billing.services.post_payment` on PostgreSQL: many payers, distinct bills, 8 processes.

Run with `make bench`, or directly (flags: --payments N, --workers N, see --help):

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench \
        .venv/bin/python benchmarks/post_payments.py

The bench database is migrated, its billing tables are TRUNCATEd and refilled (billers, accounts, open
bills, and a month of paid history so that the tables are not empty when ANALYZE runs), then N online
payments (one per customer account, each paying that account's oldest open bill with the exact amount) are
posted from W worker processes. It prints throughput, per-call latency and the CPU each payment cost the
workers and their PostgreSQL backends, checks the books, and — for context — runs pgbench's TPC-B-like
script on a scratch database (pgbench installed from Debian if missing, see benchmarks/tools.py).

With --province it measures on the province that benchmarks/province.py loaded instead (issue 16; the
database named by BENCH_PROVINCE_DATABASE_URL, default billpay_bench_province): nothing is truncated or
seeded; N accounts with an unpaid bill of the last period are picked at random (other ones on each run) and
each pays its oldest payable bill at today's amount. pgbench runs on its own scratch database beside it
with as many clients as there are posting workers, and the floor is post_payment ≥ 0.25× pgbench's tps:

    BENCH_PROVINCE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench_province \
        .venv/bin/python benchmarks/post_payments.py --province [--payments 20000 --workers 8 --strict]

With several worker counts (`make bench-province` gives --workers 2,4,8,16) the payments are posted at each
in turn, on fresh accounts, and pgbench runs at each; the table of both rates at each count follows, and the
floor compares the best of each. The two do best at different counts: a CPU-bound Python worker loses to more
processes than cores (on the 2-core machine 8 workers cost 30–70 % more CPU a payment than 2), while
pgbench's thin C clients gain from them (docs/benchmarks.md, "Each at its best concurrency").

With --desk D the workers hand each payment, one a call, to D posting desks started beside them
(billing/posting_desk.py, channel partner: the partner API is the desk's caller), which post the ones that
arrived together as one batch; the CPU reported counts the desks and their backends with the workers':

    .venv/bin/python benchmarks/post_payments.py --province --desk 1 --payments 8000

Exit status: 0 when every check passed, 1 when a check failed, 2 on a refused configuration; with
--strict also 3 when the throughput target (--province: the ratio to pgbench) was missed.
"""

import argparse
import contextlib
import datetime
import multiprocessing
import os
import queue
import random
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import figures
from benchdb import (
    WalMeter,
    bench_cache_url,
    connect,
    ensure_database,
    open_bills_of_province,
    print_checks,
    require_province,
    setup_django_on,
    setup_django_on_province,
)
from procstat import machine_busy_seconds, proc_cpu_seconds
from tools import ToolMissing, ensure_tool

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TARGET_PER_SECOND = 400  # on the 2-core benchmark machine (docs/benchmarks.md)
DESK_URL = "redis://127.0.0.1:6379/13"  # --desk: the desks' queue, a Redis database of its own
PROVINCE_FLOOR_RATIO = 0.25  # --province: post_payment's payments/s against pgbench's tps (issue 16)
BILLER_COUNT = 12
HISTORY_PERIOD = "2026-08"  # paid before the run: the history a live database has
PERIODS = ("2026-09", "2026-10")  # open: what the benchmark's payments pay
DUE_DATES = {"2026-09": datetime.date(2026, 10, 20), "2026-10": datetime.date(2026, 11, 20)}
# Tables holding the benchmark's data. Reference data (categories, groups) lives elsewhere and stays;
# the platform ledger accounts go with billing_ledgeraccount and are reinstalled right after.
BILLING_TABLES = (
    "billing_journalline",
    "billing_journalentry",
    "billing_paymentallocation",
    "billing_payment",
    "billing_bill",
    "billing_customeraccount",
    "billing_billerstaff",
    "billing_ledgeraccount",
    "billing_auditevent",
    "billing_biller",
)
PGBENCH_SCRATCH_DB = "billpay_pgbench_scratch"
MAX_BATCH_ARG = 500  # billing.services.MAX_BATCH
RUN_LOCK_KEY = 0x42_494C_4C50_4159  # pg_advisory_lock key of this benchmark ("BILLPAY")


def worker_counts(text: str) -> list[int]:
    """--workers: one count, or several separated by commas, in the order given."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a worker count or a list of them: {text!r}") from None


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=20_000, help="payments to post (default 20000)")
    parser.add_argument(
        "--workers",
        type=worker_counts,
        default=[8],
        help="worker processes (default 8); several, as 2,4,8,16: --payments posted at each in turn, and "
        "pgbench run at each, the floor taking the best of each",
    )
    parser.add_argument("--seed", type=int, default=20261124, help="random seed for the data")
    parser.add_argument("--pgbench-seconds", type=int, default=10, help="pgbench run length; 0 skips it")
    parser.add_argument(
        "--strict", action="store_true", help=f"exit 3 when below the target of {TARGET_PER_SECOND}/s"
    )
    parser.add_argument(
        "--province",
        action="store_true",
        help="measure on the province in BENCH_PROVINCE_DATABASE_URL: pay its open bills, empty nothing",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=1,
        help="payments a call: 1 calls post_payment for each (default); N > 1 calls post_payments with N "
        f"at a time (at most {MAX_BATCH_ARG}), as a batch channel does",
    )
    parser.add_argument(
        "--desk",
        type=int,
        default=0,
        help="posting desks (billing/posting_desk.py) to start: the workers hand each payment to them, one "
        "at a time as online requests arrive, and they post the ones that arrived together as one batch "
        "(default 0: each worker calls post_payment itself); their queue is BENCH_DESK_URL "
        f"(default {DESK_URL})",
    )
    parser.add_argument(
        "--allow-any-database-name",
        action="store_true",
        help="run even if the database name does not contain 'bench' (its billing tables are TRUNCATEd)",
    )
    args = parser.parse_args(argv)
    if args.payments < 1 or min(args.workers) < 1:
        parser.error("--payments and --workers must be at least 1")
    if not 1 <= args.batch <= MAX_BATCH_ARG:
        parser.error(f"--batch must be between 1 and {MAX_BATCH_ARG}")
    if args.desk and args.batch > 1:
        parser.error("--desk posts one payment a call: leave --batch at 1")
    return args


def configure_django(args: argparse.Namespace) -> dict:
    """Point Django at the bench database and set it up. Returns the parsed database settings."""
    # The cache in Redis, as production runs it (deploy/billpay.env.example): a commit's ask for the outbox
    # relay goes to one mark every process shares, not to a cache of each worker's own.
    environment = {"CACHE_URL": bench_cache_url()}
    if args.desk:
        environment["POSTING_DESK_URL"] = os.environ.get("BENCH_DESK_URL", DESK_URL)
    if args.province:
        return setup_django_on_province(allow_any_name=args.allow_any_database_name, environment=environment)
    url = os.environ.get("BENCH_DATABASE_URL", "")
    if not url:
        print("Set BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/billpay_bench).", file=sys.stderr)
        sys.exit(2)
    return setup_django_on(
        url,
        setting="BENCH_DATABASE_URL",
        allow_any_name=args.allow_any_database_name,
        environment=environment,
    )


def hold_run_lock(config: dict):
    """Take a session advisory lock for the whole run so that two runs never truncate each other's data.

    Returns the connection holding it; the lock goes when the process exits. Forked workers leave through
    os._exit, so they never close (and release) the parent's connection."""
    ensure_database(config)
    conn = connect(config, config["NAME"])
    if not conn.execute("SELECT pg_try_advisory_lock(%s)", [RUN_LOCK_KEY]).fetchone()[0]:
        print(f"Another benchmark is running on {config['NAME']}; try again when it ends.", file=sys.stderr)
        sys.exit(2)
    return conn


# --- data -----------------------------------------------------------------------------------------------


def luhn_complete(body: str) -> str:
    """`body` followed by its Luhn check digit."""
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:  # these become the odd positions once the check digit is appended
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return body + str((10 - total % 10) % 10)


def reset_and_seed(payments: int, seed: int) -> list[tuple[str, str, Decimal]]:
    """Empty the billing tables, reinstall the reference data and create billers, accounts, bills and
    last month's paid bills with their payments and journal entries (a live database is never empty).

    Returns one payment request per account: (biller code, account number, exact amount of its oldest bill).
    """
    from django.apps import apps
    from django.core.management import call_command
    from django.db import connection, transaction

    from billing import reference_data

    call_command("migrate", interactive=False, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(BILLING_TABLES)} RESTART IDENTITY CASCADE")
    reference_data.install(apps)

    rng = random.Random(seed)
    with transaction.atomic():
        billers = create_billers()
        accounts, requests = create_accounts_and_bills(billers, payments, rng)
        create_history(accounts, rng)
    # Fresh statistics, taken with history in the tables: plans (and the foreign-key checks' cached
    # plans) are those of a live database, not of empty tables.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return requests


def create_billers() -> list:
    from billing import ledger
    from billing.choices import AmountRule, BillerStatus, CheckDigit, PaymentMode
    from billing.models import Biller, BillerCategory

    categories = list(BillerCategory.objects.filter(parent__isnull=False).order_by("code"))
    rules = [AmountRule.EXACT, AmountRule.EXACT_UP, AmountRule.EXACT_DOWN]
    billers = Biller.objects.bulk_create(
        [
            Biller(
                code=f"BENCH{n:02d}",
                name=f"压测缴费单位{n:02d}",
                name_en=f"Benchmark Biller {n:02d}",
                category=categories[n % len(categories)],
                status=BillerStatus.ACTIVE,
                payment_mode=PaymentMode.STATEMENT,
                amount_rule=rules[n % len(rules)],
                max_amount=Decimal("50000.00"),
                account_pattern=r"^\d{10}$",
                # A third of the billers check a Luhn digit, as card-like account numbers do.
                account_check_digit=CheckDigit.LUHN if n % 3 == 2 else CheckDigit.NONE,
            )
            for n in range(BILLER_COUNT)
        ]
    )
    for biller in billers:
        ledger.payable_account(biller)
    return billers


def create_accounts_and_bills(billers: list, count: int, rng: random.Random) -> tuple[list, list]:
    from billing.choices import CheckDigit
    from billing.models import Bill, CustomerAccount

    accounts = []
    for i in range(count):
        biller = billers[i % BILLER_COUNT]
        body = f"{100_000_000 + i:09d}"
        number = luhn_complete(body) if biller.account_check_digit == CheckDigit.LUHN else body + "0"
        accounts.append(CustomerAccount(biller=biller, account_no=number, holder_name=f"测试户主{i}"))
    accounts = CustomerAccount.objects.bulk_create(accounts, batch_size=5000)

    bills, requests = [], []
    for account in accounts:
        # About 40% of the accounts also still owe September's bill; the payment takes the oldest one.
        periods = PERIODS if rng.random() < 0.4 else PERIODS[1:]
        for period in periods:
            bills.append(
                Bill(
                    biller=account.biller,
                    account=account,
                    period=period,
                    amount_due=Decimal(rng.randrange(1_000, 60_000)) / 100,
                    due_date=DUE_DATES[period],
                )
            )
        oldest = bills[-len(periods)]
        requests.append((account.biller.code, account.account_no, oldest.amount_due))
    Bill.objects.bulk_create(bills, batch_size=5000)
    return accounts, requests


def create_history(accounts: list, rng: random.Random) -> None:
    """Each account's August bill, paid online in September: bill, payment, allocation, journal entry."""
    from billing import ledger
    from billing.choices import AllocationKind, BillStatus, Channel, EntryKind
    from billing.models import Bill, JournalEntry, JournalLine, LedgerAccount, Payment, PaymentAllocation

    clearing = LedgerAccount.objects.get(code=ledger.CLEARING_CODES[Channel.ONLINE])
    payable = {account.biller_id: None for account in accounts}
    for row in LedgerAccount.objects.filter(biller_id__in=list(payable)):
        payable[row.biller_id] = row
    paid_on = datetime.date(2026, 9, 10)
    posted_at = datetime.datetime(2026, 9, 10, 2, 0, tzinfo=datetime.UTC)
    amounts = [Decimal(rng.randrange(1_000, 60_000)) / 100 for _ in accounts]
    bills = Bill.objects.bulk_create(
        [
            Bill(
                biller_id=account.biller_id,
                account=account,
                period=HISTORY_PERIOD,
                amount_due=amount,
                amount_paid=amount,
                status=BillStatus.PAID,
                due_date=datetime.date(2026, 9, 20),
            )
            for account, amount in zip(accounts, amounts, strict=True)
        ],
        batch_size=5000,
    )
    payments = Payment.objects.bulk_create(
        [
            Payment(
                channel=Channel.ONLINE,
                idempotency_key=f"history-{i:07d}",
                request_fingerprint=f"{i:064x}",
                biller_id=account.biller_id,
                account=account,
                amount=amount,
                business_date=paid_on,
                posted_at=posted_at,
            )
            for i, (account, amount) in enumerate(zip(accounts, amounts, strict=True))
        ],
        batch_size=5000,
    )
    PaymentAllocation.objects.bulk_create(
        [
            PaymentAllocation(payment=payment, bill=bill, kind=AllocationKind.BILL, amount=payment.amount)
            for payment, bill in zip(payments, bills, strict=True)
        ],
        batch_size=5000,
    )
    entries = JournalEntry.objects.bulk_create(
        [
            JournalEntry(
                kind=EntryKind.PAYMENT,
                payment=payment,
                memo=payment.receipt_no,
                business_date=paid_on,
                created_at=posted_at,
            )
            for payment in payments
        ],
        batch_size=5000,
    )
    lines = []
    for entry, payment in zip(entries, payments, strict=True):
        lines.append(JournalLine(entry=entry, account=clearing, amount=payment.amount))
        lines.append(JournalLine(entry=entry, account=payable[payment.biller_id], amount=-payment.amount))
    JournalLine.objects.bulk_create(lines, batch_size=5000)


# --- posting --------------------------------------------------------------------------------------------


def worker(requests: list, barrier, results, batch: int = 1, desk: bool = False) -> None:
    """Post this worker's share of the payments, `batch` a call (1: post_payment for each, more:
    post_payments; with `desk`, each handed to the posting desk); put a dict of what happened on `results`.
    A batch's latency is each of its payments'."""
    from django.db import connections

    # The parent closed its connections before forking; close anything inherited all the same, so that
    # this process opens its own connection and never writes on a socket shared with another process.
    connections.close_all()
    from billing.choices import Channel
    from billing.exceptions import PaymentRefused
    from billing.posting_desk import post_payment_at_desk
    from billing.services import PaymentOrder, post_payment, post_payments

    backend_pid = _connect_and_warm_up()
    if Path(f"/proc/{backend_pid}/comm").is_file():
        is_postgres = Path(f"/proc/{backend_pid}/comm").read_text().strip() == "postgres"
    else:
        is_postgres = False  # the server is on another machine, or this is not Linux
    latencies, errors, replays = [], [], 0
    cpu_client = cpu_server = None
    try:
        barrier.wait(timeout=120)
        clock = time.perf_counter
        client_before = time.process_time()
        server_before = proc_cpu_seconds(backend_pid) if is_postgres else None
        for start in range(0, len(requests) if batch > 1 else 0, batch):
            orders = [
                PaymentOrder(
                    idempotency_key=key, biller_code=biller_code, account_no=account_no, amount=amount
                )
                for key, biller_code, account_no, amount in requests[start : start + batch]
            ]
            started = clock()
            try:
                answers = post_payments(channel=Channel.ONLINE, orders=orders)
            except Exception as exc:  # report, don't stop: the checks below count the damage
                errors += [f"{order.idempotency_key}: {exc!r}" for order in orders]
                continue
            took = clock() - started
            for order, answer in zip(orders, answers, strict=True):
                if isinstance(answer, PaymentRefused):
                    errors.append(f"{order.idempotency_key}: {answer!r}")
                    continue
                latencies.append(took)
                replays += answer.replayed
        for key, biller_code, account_no, amount in requests if batch == 1 else ():
            started = clock()
            try:
                if desk:
                    order = PaymentOrder(
                        idempotency_key=key, biller_code=biller_code, account_no=account_no, amount=amount
                    )
                    # The desk's caller in production is the partner API: its channel.
                    result = post_payment_at_desk(channel=Channel.PARTNER, order=order)
                else:
                    result = post_payment(
                        channel=Channel.ONLINE,
                        idempotency_key=key,
                        biller_code=biller_code,
                        account_no=account_no,
                        amount=amount,
                    )
            except Exception as exc:  # report, don't stop: the checks below count the damage
                errors.append(f"{key}: {exc!r}")
                continue
            latencies.append(clock() - started)
            replays += result.replayed
        cpu_client = time.process_time() - client_before
        server_after = proc_cpu_seconds(backend_pid) if is_postgres else None
        if server_before is not None and server_after is not None:
            cpu_server = server_after - server_before
    finally:
        results.put(
            {
                "latencies": latencies,
                "errors": errors[:20],
                "error_count": len(errors),
                "replays": replays,
                "cpu_client": cpu_client,
                "cpu_server": cpu_server,
            }
        )
        connections.close_all()


def desk_process(ready, stop, results) -> None:
    """A posting desk (billing.posting_desk.serve) until `stop`; puts its CPU and its backend's, and how
    many requests it took in how many batches, on `results`."""
    from django.db import connections

    connections.close_all()
    from billing import posting_desk

    backend_pid = _connect_and_warm_up()
    client_before, server_before = time.process_time(), proc_cpu_seconds(backend_pid)
    ready.wait(timeout=120)
    taken = posting_desk.serve(stop=stop)
    server_after = proc_cpu_seconds(backend_pid)
    results.put(
        {
            "cpu_client": time.process_time() - client_before,
            "cpu_server": None if None in (server_before, server_after) else server_after - server_before,
            **taken,
        }
    )
    connections.close_all()


def _connect_and_warm_up() -> int:
    """This process's backend's pid, connected before the clock starts."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def start_desks(context, count: int):
    """`count` posting desks on an emptied queue, alive before the workers start; returns what stops them
    and collects their figures."""
    from billing import posting_desk

    posting_desk.empty_queue()
    ready, stop, results = context.Barrier(count + 1), context.Event(), context.Queue()
    processes = [
        context.Process(target=desk_process, args=(ready, stop, results), name=f"bench-desk-{d}")
        for d in range(count)
    ]
    for process in processes:
        process.start()
    ready.wait(timeout=120)
    if not posting_desk.wait_until_serving(30, given_up=lambda: not all(p.is_alive() for p in processes)):
        raise SystemExit("the posting desks did not start")

    def stop_desks() -> list[dict]:
        stop.set()
        figures = [results.get(timeout=30) for _ in processes]
        for process in processes:
            process.join(timeout=30)
        return figures

    return stop_desks


def post_concurrently(
    requests: list[tuple[str, str, Decimal]], workers: int, key_prefix: str, batch: int = 1, desks: int = 0
) -> dict:
    from django.db import connections

    keyed = [(f"{key_prefix}{i:07d}", *request) for i, request in enumerate(requests)]
    shares = [keyed[w::workers] for w in range(workers)]
    connections.close_all()  # before forking: children must not inherit an open connection
    context = multiprocessing.get_context("fork")
    stop_desks = start_desks(context, desks) if desks else list
    connections.close_all()
    barrier = context.Barrier(workers + 1)
    results = context.Queue()
    processes = [
        context.Process(
            target=worker, args=(shares[w], barrier, results, batch, bool(desks)), name=f"bench-worker-{w}"
        )
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    barrier.wait(timeout=120)
    busy_before, started = machine_busy_seconds(), time.perf_counter()
    collected = []
    while len(collected) < workers:
        try:
            collected.append(results.get(timeout=2))
        except queue.Empty:
            if not any(process.is_alive() for process in processes):
                break  # a worker died without reporting; the checks below will say what is missing
    wall, busy_after = time.perf_counter() - started, machine_busy_seconds()
    for process in processes:
        process.join(timeout=30)
    desk_figures = stop_desks()
    client = [r["cpu_client"] for r in collected + desk_figures]
    server = [r["cpu_server"] for r in collected + desk_figures]
    return {
        "cpu_desks": sum(r["cpu_client"] for r in desk_figures) if desk_figures else None,
        "desk_batches": sum(r["batches"] for r in desk_figures),
        "desk_requests": sum(r["requests"] for r in desk_figures),
        "wall": wall,
        "latencies": sorted(latency for r in collected for latency in r["latencies"]),
        "errors": [message for r in collected for message in r["errors"]],
        "error_count": sum(r["error_count"] for r in collected),
        "replays": sum(r["replays"] for r in collected),
        "exit_codes": [process.exitcode for process in processes],
        "cpu_client": None if None in client else sum(client),
        "cpu_server": None if None in server else sum(server),
        "cpu_machine": None if busy_before is None or busy_after is None else busy_after - busy_before,
    }


def poster(batch: int, desks: int = 0) -> str:
    """What posted the payments, for the report."""
    if desks:
        return f"post_payment_at_desk ({desks} desk{'s' if desks > 1 else ''})"
    return "post_payment" if batch == 1 else f"post_payments (batches of {batch})"


def cpu_summary(outcome: dict, posted: int) -> str:
    """Where the CPU went, per payment: the workers (Django), their PostgreSQL backends, everything else."""
    if not posted or outcome["cpu_client"] is None:
        return "CPU per payment not measured"
    client, server, machine = outcome["cpu_client"], outcome["cpu_server"], outcome["cpu_machine"]
    parts = [f"workers (Python/Django) {1000 * client / posted:.2f} ms"]
    if outcome.get("cpu_desks") is not None:
        parts[0] += f" (of which the desks {1000 * outcome['cpu_desks'] / posted:.2f} ms)"
    if server is not None:
        parts.append(f"their PostgreSQL backends {1000 * server / posted:.2f} ms")
    if machine is not None:
        rest = max(0.0, machine - client - (server or 0.0))  # /proc tick rounding can dip below 0
        cpus = os.cpu_count() or 1
        parts.append(f"rest of the machine {1000 * rest / posted:.2f} ms")
        parts.append(f"machine {machine / (outcome['wall'] * cpus):.0%} busy over {cpus} CPUs")
    return "CPU/payment     " + ", ".join(parts)


# --- checks ---------------------------------------------------------------------------------------------


def check_books(expected: int, key_prefix: str) -> list[tuple[str, bool, str]]:
    """The run's payments are all there, once each, and the whole ledger (history included) balances."""
    from django.db.models import Sum

    from billing.choices import BillStatus
    from billing.models import Bill, JournalEntry, Payment, PaymentAllocation
    from billing.money import ZERO
    from billing.selectors import trial_balance, unbalanced_entry_ids

    ours = Payment.objects.filter(idempotency_key__startswith=key_prefix)
    posted = ours.count()
    entries = JournalEntry.objects.filter(payment__in=ours).count()
    paid_bills = Bill.objects.filter(period__in=PERIODS, status=BillStatus.PAID).count()
    unbalanced = unbalanced_entry_ids()
    balances = trial_balance()
    trial_total = sum(balances.values(), ZERO)
    allocated = PaymentAllocation.objects.aggregate(total=Sum("amount"))["total"] or ZERO
    taken = Payment.objects.aggregate(total=Sum("amount"))["total"] or ZERO
    return [
        ("payments posted", posted == expected, f"{posted} (expected {expected})"),
        ("one journal entry per payment", entries == expected, f"{entries} entries"),
        ("one open bill paid per payment", paid_bills == expected, f"{paid_bills} bills paid"),
        ("every journal entry balances", not unbalanced, f"{len(unbalanced)} unbalanced {unbalanced[:5]}"),
        ("trial balance sums to zero", trial_total == ZERO, f"{trial_total} over {len(balances)} accounts"),
        ("allocations equal amounts taken", allocated == taken, f"{allocated} allocated, {taken} taken"),
    ]


def province_requests(count: int, key_prefix: str) -> list[tuple[str, str, Decimal]]:
    """--province: the province's open bills to pay (benchdb.open_bills_of_province), nothing emptied."""
    province = require_province()
    started = time.perf_counter()
    requests = open_bills_of_province(count, salt=key_prefix)
    billers = {code for code, _number, _amount in requests}
    grid = sum(1 for code, _number, _amount in requests if code == "PROVGRID")
    print(
        f"province        scale {province['scale']}, {province['billers']} billers; picked {len(requests)} "
        f"accounts with an open bill (of {count} asked) at {len(billers)} billers, {grid} at the grid, "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return requests


def check_province_books(requests: list, key_prefix: str) -> list[tuple[str, bool, str]]:
    """--province: this run's payments are all there, once each, balanced, one bill paid each (the whole
    ledger of a province is too big to sum for every run: the nightly integrity check does that)."""
    from django.db.models import Count, Q, Sum

    from billing.models import JournalEntry, JournalLine, Payment, PaymentAllocation
    from billing.money import ZERO

    expected = len(requests)
    ours = Payment.objects.filter(idempotency_key__startswith=key_prefix)
    posted = ours.count()
    entries = JournalEntry.objects.filter(payment__in=ours).count()
    unbalanced = list(
        JournalLine.objects.filter(entry__payment__in=ours)
        .values("entry_id")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .values_list("entry_id", flat=True)[:5]
    )
    allocated = PaymentAllocation.objects.filter(payment__in=ours).aggregate(total=Sum("amount"))["total"]
    taken = ours.aggregate(total=Sum("amount"))["total"] or ZERO
    asked = sum((amount for _code, _number, amount in requests), ZERO)
    # Distinct: a bill paid with its late fee has two allocations (principal and fee).
    paid = ours.aggregate(
        bills=Count("allocations__bill", filter=Q(allocations__bill__status="paid"), distinct=True)
    )
    return [
        ("payments posted", posted == expected, f"{posted} (expected {expected})"),
        ("one journal entry per payment", entries == expected, f"{entries} entries"),
        ("one open bill paid per payment", paid["bills"] == expected, f"{paid['bills']} bills paid"),
        ("every journal entry balances", not unbalanced, f"unbalanced: {unbalanced}"),
        ("amounts taken as asked", taken == asked, f"{taken} taken, {asked} asked"),
        ("allocations equal amounts taken", allocated == taken, f"{allocated} allocated, {taken} taken"),
    ]


# --- pgbench, for context ---------------------------------------------------------------------------------


def run_pgbench(
    config: dict,
    seconds: int,
    clients: int,
    *,
    scratch: str = PGBENCH_SCRATCH_DB,
    wal: WalMeter | None = None,
) -> tuple[float | None, str]:
    """TPC-B-like pgbench on a scratch database (created and dropped here): (tps, note). Never raises.
    `wal`, when given, is started and stopped around the timed run."""
    if seconds <= 0:
        return None, "skipped (--pgbench-seconds 0)"
    try:
        binary = ensure_tool("pgbench")
    except ToolMissing as missing:
        print(f"pgbench: {missing}", file=sys.stderr)
        return None, "skipped (pgbench missing: see the message above)"
    import psycopg

    host, port = config["HOST"] or "127.0.0.1", str(config["PORT"] or 5432)
    user = config["USER"] or "postgres"
    env = dict(os.environ, PGPASSWORD=config["PASSWORD"] or "")
    common = ["-h", host, "-p", port, "-U", user]
    try:
        with connect(config, "postgres") as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
            conn.execute(f'CREATE DATABASE "{scratch}"')
        # Scale = clients: one pgbench_branches row per client, so they don't all queue on one row.
        db, threads = scratch, str(min(clients, os.cpu_count() or 1))
        init = [binary, *common, "-i", "-q", "-s", str(max(clients, 1)), db]
        bench = [binary, *common, "-c", str(clients), "-j", threads, "-T", str(seconds), "-n", db]
        quiet = {"check": True, "capture_output": True, "text": True, "env": env}
        subprocess.run(init, timeout=120, **quiet)
        if wal is not None:
            wal.start()
        run = subprocess.run(bench, timeout=seconds + 60, **quiet)
        if wal is not None:
            wal.stop()
    except (OSError, subprocess.SubprocessError, psycopg.Error) as exc:
        return None, f"skipped ({exc.__class__.__name__}: {str(exc).strip()[:200]})"
    finally:
        with contextlib.suppress(psycopg.Error), connect(config, "postgres") as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
    for line in run.stdout.splitlines():
        if line.startswith("tps = "):
            return float(line.split()[2]), f"TPC-B-like, scale {clients}, {clients} clients, {seconds} s"
    return None, "skipped (could not read pgbench's output)"


def record_province_figure(args, what: str, best: dict, tps: float | None, met: bool) -> None:
    """The run's figure in the province's table (benchmarks/figures.py): its best rate against pgbench's best.
    The posting desk's is for information: the floor is the posting's one payment at a time, the desk is how
    a deployment may run it."""
    source = "post_payments" + (" --batch" if args.batch > 1 else " --desk" if args.desk else "")
    rate, machine = best["rate"], best["outcome"]["cpu_machine"]
    shown = f"{rate:.0f}/s ÷ {tps:.0f} tps = {rate / tps:.2f}x" if tps else f"{rate:.0f}/s, pgbench skipped"
    figures.record(
        source,
        f"{what} ÷ pgbench",
        shown,
        f">= {PROVINCE_FLOOR_RATIO}x" if not args.desk else "(informative)",
        met=None if args.desk else met,
        one_at_a_time=not (args.batch > 1 or args.desk),
        tps=tps,
        floor_ratio=PROVINCE_FLOOR_RATIO,
        cpus=os.cpu_count() or 1,
        machine_ms=1000 * machine / best["posted"] if machine is not None and best["posted"] else None,
    )


def judge_province(args, what: str, best: dict, best_tps: dict | None, *, several: bool) -> bool:
    """The floor of issue 16, printed and recorded: a fraction of what this machine's PostgreSQL does with
    pgbench's own TPC-B-like transaction, measured in the same run; with `several` worker counts, each at the
    one that suits it best (pgbench's best is the machine's limit; the posting's, the platform's rate)."""
    ratio = best["rate"] / best_tps["tps"] if best_tps else None
    if ratio is None:
        met, verdict = False, "NOT MEASURED (pgbench skipped)"
    else:
        met = ratio >= PROVINCE_FLOOR_RATIO
        verdict = f"{ratio:.2f}x: {'MET' if met else 'NOT MET'}"
    each = ", each at its best concurrency" if several else ""
    print(f"floor           {what} >= {PROVINCE_FLOOR_RATIO}x pgbench's tps{each}: {verdict}")
    record_province_figure(args, what, best, best_tps["tps"] if best_tps else None, met)
    return met


# --- main -----------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    config = configure_django(args)
    run_lock = hold_run_lock(config)
    try:
        return run(args, config)
    finally:
        run_lock.close()


def run(args: argparse.Namespace, config: dict) -> int:
    from django.conf import settings

    total_started = time.perf_counter()
    what = poster(args.batch, args.desk)
    counts = ", ".join(str(workers) for workers in args.workers)
    print(
        f"{what} benchmark: {args.payments} payments, {counts} worker processes"
        + (" (each in turn)" if len(args.workers) > 1 else "")
        + f", database {config['NAME']} on {config['HOST'] or 'localhost'}:{config['PORT'] or 5432}, "
        f"CONN_MAX_AGE={settings.DATABASES['default']['CONN_MAX_AGE']}, DEBUG={settings.DEBUG}, "
        f"cache {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}, "
        f"{os.cpu_count()} CPUs"
    )
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average before the run: {load} (see 'rest of the machine' below for other work)")

    points, checked = [], True
    for workers in args.workers:
        point = post_and_check(args, config, workers)
        if point is None:
            return 2
        points.append(point)
        checked &= point["checked"]

    scratch = f"{config['NAME']}_pgbench" if args.province else PGBENCH_SCRATCH_DB
    for point in points:
        pgbench_wal = WalMeter(config)
        tps, note = run_pgbench(
            config, args.pgbench_seconds, point["workers"], scratch=scratch, wal=pgbench_wal
        )
        point["tps"] = tps
        print()
        if tps is None:
            print(f"pgbench         {note}")
        else:
            print(f"pgbench         {tps:.0f} tps ({note})")
            print(
                f"ratio           {what} {point['rate']:.0f}/s = {point['rate'] / tps:.0%} of pgbench's tps"
            )
            print(f"pgbench WAL     {pgbench_wal.per(round(tps * args.pgbench_seconds), 'transaction')}")

    best = max(points, key=lambda point: point["rate"])
    measured = [point for point in points if point["tps"] is not None]
    best_tps = max(measured, key=lambda point: point["tps"]) if measured else None
    if len(points) > 1:
        print_curve(what, points, best, best_tps)
    if args.province:
        met = judge_province(args, what, best, best_tps, several=len(points) > 1)
    else:
        met = best["rate"] >= TARGET_PER_SECOND
    print(f"total time      {time.perf_counter() - total_started:.0f} s")

    if not checked:
        return 1
    if args.strict and not met:
        return 3
    return 0


def post_and_check(args: argparse.Namespace, config: dict, workers: int) -> dict | None:
    """Post `--payments` payments from `workers` processes (fresh accounts), print the figures and check the
    books: {workers, rate, outcome, posted, checked}; None when no open bill was left to pay."""
    key_prefix = f"bench-{datetime.datetime.now(datetime.UTC):%Y%m%d%H%M%S}-w{workers}-"
    started = time.perf_counter()
    if len(args.workers) > 1:
        print(f"\n--- {workers} worker processes ---")
    if args.province:
        requests = province_requests(args.payments, key_prefix)
    else:
        requests = reset_and_seed(args.payments, args.seed)
        seconds = time.perf_counter() - started
        print(f"setup (migrate, truncate, {len(requests)} accounts with history, analyze): {seconds:.1f} s")
    if not requests:
        print("No open bill left to pay.", file=sys.stderr)
        return None

    wal = WalMeter(config).start()
    outcome = post_concurrently(requests, workers, key_prefix, args.batch, args.desk)
    wal.stop()
    latencies, wall = outcome["latencies"], outcome["wall"]
    rate = len(latencies) / wall if wall else 0.0
    ms = [1000 * figures.percentile(latencies, q) for q in (0.50, 0.95, 0.99)]

    print()
    failed, replayed = outcome["error_count"], outcome["replays"]
    print(f"payments        {len(latencies)} posted, {failed} failed, {replayed} replayed")
    print(f"workers         {workers} processes")
    if args.desk:
        batches, taken = outcome["desk_batches"], outcome["desk_requests"]
        print(
            f"desks           {args.desk} processes: {taken} requests in {batches} batches "
            f"({taken / max(batches, 1):.1f} a batch; the CPU below counts the desks and their backends)"
        )
    print(f"wall            {wall:.2f} s")
    print(f"throughput      {rate:.0f} payments/s")
    print(f"latency         p50 {ms[0]:.1f} ms, p95 {ms[1]:.1f} ms, p99 {ms[2]:.1f} ms")
    print(cpu_summary(outcome, len(latencies)))
    print(f"WAL             {wal.per(len(latencies), 'payment')}")
    if not args.province:
        verdict = "MET" if rate >= TARGET_PER_SECOND else "NOT MET"
        print(f"target          >= {TARGET_PER_SECOND} payments/s on the 2-core machine: {verdict}")
    for message in outcome["errors"]:
        print(f"  error: {message}")

    print()
    if args.province:
        checks = check_province_books(requests, key_prefix)
    else:
        checks = check_books(args.payments, key_prefix)
    checks.append(("no worker failed", outcome["error_count"] == 0, f"{outcome['error_count']} failed calls"))
    checks.append(("no request replayed", outcome["replays"] == 0, f"{outcome['replays']} replays"))
    exit_codes = outcome["exit_codes"]
    checks.append(("workers exited cleanly", set(exit_codes) == {0}, f"exit codes {exit_codes}"))
    checked = print_checks(checks)
    return {
        "workers": workers,
        "rate": rate,
        "outcome": outcome,
        "posted": len(latencies),
        "checked": checked,
    }


def print_curve(what: str, points: list[dict], best: dict, best_tps: dict | None) -> None:
    """Both rates at each concurrency, and the best of each: neither is taken at a concurrency that suits
    only the other (a CPU-bound Python worker loses to more processes than cores; pgbench's thin C clients
    gain from them)."""
    print()
    print(f"{'workers':<16}{what + ' /s':>28}{'pgbench tps':>14}{'ratio':>8}")
    for point in points:
        tps = point["tps"]
        ratio = f"{point['rate'] / tps:.2f}x" if tps else "n/a"
        print(f"{point['workers']:<16}{point['rate']:>28.0f}{tps or 0:>14.0f}{ratio:>8}")
    line = f"best            {what} {best['rate']:.0f}/s with {best['workers']} workers"
    if best_tps is not None:
        line += (
            f"; pgbench {best_tps['tps']:.0f} tps with {best_tps['workers']} clients: "
            f"{best['rate'] / best_tps['tps']:.2f}x"
        )
    print(line)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
