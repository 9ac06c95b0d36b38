"""The bill-lookup page (biller + account number → masked name and open bills) under wrk, next to the
framework's floor for a database page measured in the same run.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench_portal \
        .venv/bin/python benchmarks/lookup_page.py

The bench database is created if missing and migrated; its lookup data (one water company, N accounts with
three bills each, one open) is made once and reused. gunicorn serves the project (DEBUG off, persistent
database connections, the Redis cache for the lookup rate limit, whose limit is raised for the run) with
`benchmarks.lookup_settings`, which adds `/bench-floor/…`: one indexed ORM lookup and a tiny template, through
the same middleware. wrk then requests random accounts in rounds of floor, then lookup page: each round's
ratio compares two runs a few seconds apart, so a machine that speeds up or slows down between rounds (a
shared VM does, by ±20 %) moves both sides of it, and the median round is the figure.

With --province it measures on the province benchmarks/province.py loaded (BENCH_PROVINCE_DATABASE_URL,
default billpay_bench_province) and writes nothing: no migration, no rows. wrk asks for random accounts of the
province's active billers, each account as likely as the next, so the requests fall on the billers as the
citizens do (the power grid holds 40 % of the accounts, the other billers' shares fall off by rank), and
the page reads them from the full tables (open bills beside twelve months of paid ones). The floor page
reads the same accounts.

    BENCH_PROVINCE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench_province \
        .venv/bin/python benchmarks/lookup_page.py --province

Targets: the lookup page at least 0.6× the floor's requests per second (issue 4), at least 0.75× on a
province (issue 16); p99 at most 100 ms. Exit status: 0 when every check passed, 1 when a check failed
(non-2xx answers), 2 on a refused configuration; with --strict also 3 when the target was missed.
"""

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import dj_database_url
import figures
from benchdb import ensure_database, require_province
from procstat import children_cpu_seconds, machine_busy_seconds
from province import OWN_BILLER_CODES
from tools import require_tool, wrk_figures

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/billpay_bench_portal"
PROVINCE_URL = "postgres://postgres@127.0.0.1:5432/billpay_bench_province"
BILLER_CODE = "BENCHWATER"
TARGET_RATIO = 0.6
PROVINCE_TARGET_RATIO = 0.75
SAMPLE = 2000  # accounts wrk picks from
TARGET_P99_MS = 100.0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=20_000, help="accounts to look up (default 20000)")
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run (default 15)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of floor + lookup page (default 3)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--strict", action="store_true", help="exit 3 when the target is missed")
    parser.add_argument(
        "--province",
        action="store_true",
        help="measure on the loaded province (BENCH_PROVINCE_DATABASE_URL); writes nothing",
    )
    return parser.parse_args(argv)


def bench_env(database_url: str) -> dict:
    """Production's settings (DEBUG off, so config/wsgi.py's start checks run; static files named from
    collectstatic's manifest) on plain HTTP to 127.0.0.1: no HTTPS redirect or secure cookies, mail and text
    messages kept in files (the page sends none)."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="benchmarks.lookup_settings",
        DEBUG="false",
        SECRET_KEY="bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        API_CREDENTIAL_KEY="bench-only-api-credential-key-0123456789abcdefghijklmnop",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CONN_MAX_AGE="600",
        CACHE_URL=os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/15"),
        PORTAL_LOOKUP_LIMIT="1000000000",
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        SMS_BACKEND="payers.sms.FileSMSBackend",
        STATIC_ROOT=str(PROJECT_ROOT / "var" / "bench-static"),
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(PROJECT_ROOT),
    )
    return env


def setup_django(env: dict) -> None:
    """Django in this process, on the settings gunicorn serves (for the seed, the sample, the query count)."""
    os.environ.update(
        {
            k: env[k]
            for k in (
                "DATABASE_URL",
                "DJANGO_SETTINGS_MODULE",
                "SECRET_KEY",
                "API_CREDENTIAL_KEY",
                "DEBUG",
                "CACHE_URL",
                "PORTAL_LOOKUP_LIMIT",
                "ALLOWED_HOSTS",
                "SECURE_SSL_REDIRECT",
                "EMAIL_BACKEND",
                "SMS_BACKEND",
                "STATIC_ROOT",
            )
        }
    )
    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()


def seed(env: dict, accounts: int) -> list[tuple[int, str, str]]:
    """Migrate and make the lookup data once; returns (biller id, biller code, account number) of a sample."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=PROJECT_ROOT, env=env, check=True
    )
    setup_django(env)
    import datetime
    from decimal import Decimal

    from django.db import connection

    from billing.choices import BillStatus
    from billing.models import Biller, BillerCategory, CustomerAccount

    biller, _created = Biller.objects.get_or_create(
        code=BILLER_CODE,
        defaults={
            "name": "基准测试水务",
            "name_en": "Bench Water",
            "category": BillerCategory.objects.get(code="water"),
            "status": "active",
            "account_pattern": r"^\d{8}$",
        },
    )
    have = CustomerAccount.objects.filter(biller=biller).count()
    if have < accounts:
        rng = random.Random(4)
        surnames, given = "王李张刘陈杨赵黄周吴", "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚"
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                "COPY billing_customeraccount"
                " (biller_id, account_no, holder_name, address, credit_balance, created_at) FROM STDIN"
            ) as copy,
        ):
            now = datetime.datetime.now(datetime.UTC)
            for index in range(have, accounts):
                name = rng.choice(surnames) + "".join(rng.choice(given) for _ in range(rng.choice((1, 2))))
                copy.write_row((biller.pk, f"{30000000 + index}", name, "", Decimal("0.00"), now))
        new_ids = list(
            CustomerAccount.objects.filter(biller=biller, account_no__gte=f"{30000000 + have}").values_list(
                "pk", flat=True
            )
        )
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                "COPY billing_bill (biller_id, account_id, period, amount_due, late_fee, due_date,"
                " amount_paid, status, reference, description, created_at, updated_at) FROM STDIN"
            ) as copy,
        ):
            now = datetime.datetime.now(datetime.UTC)
            for account_id in new_ids:
                for period, due, status in (
                    ("2026-08", datetime.date(2026, 9, 20), BillStatus.PAID),
                    ("2026-09", datetime.date(2026, 10, 20), BillStatus.PAID),
                    ("2026-10", datetime.date(2026, 11, 20), BillStatus.OPEN),
                ):
                    amount = Decimal(rng.randrange(3000, 20000)) / 100
                    paid = amount if status == BillStatus.PAID else Decimal("0.00")
                    copy.write_row(
                        (
                            biller.pk,
                            account_id,
                            period,
                            amount,
                            Decimal("0.00"),
                            due,
                            paid,
                            status,
                            "",
                            "",
                            now,
                            now,
                        )
                    )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE billing_customeraccount; ANALYZE billing_bill")
    numbers = [f"{30000000 + index}" for index in range(accounts)]
    return [(biller.pk, BILLER_CODE, n) for n in random.Random(7).sample(numbers, min(accounts, SAMPLE))]


def province_sample(env: dict) -> list[tuple[int, str, str]]:
    """SAMPLE random accounts of the province's active billers (reads only): every account as likely as the
    next, so each biller gets its share of the citizens. Billers other benchmarks added (BENCH…) are left
    out."""
    setup_django(env)
    province = require_province()
    from django.db import connection

    from billing.choices import PAYABLE_BILL_STATUSES, BillerStatus

    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'billing_customeraccount'")
        estimate = max(cursor.fetchone()[0], 1)
        cursor.execute(
            "SELECT b.id, b.code, a.account_no, a.id"
            " FROM billing_customeraccount a TABLESAMPLE BERNOULLI (%s) REPEATABLE (7)"
            " JOIN billing_biller b ON b.id = a.biller_id"
            " WHERE b.status = %s AND b.code ~ %s",
            [min(100.0, 100.0 * 2 * SAMPLE / estimate), BillerStatus.ACTIVE, OWN_BILLER_CODES],
        )
        rows = cursor.fetchall()
    rows = random.Random(7).sample(rows, min(len(rows), SAMPLE))
    if not rows:
        print("refused: the province has no account of an active biller", file=sys.stderr)
        raise SystemExit(2)
    sample = [(biller_id, code, number) for biller_id, code, number, _account_id in rows]
    grid = sum(1 for biller_id, _code, _n in sample if biller_id == province["grid_id"])
    with connection.cursor() as cursor:  # by the (account, period) index: no scan of the bills
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status = ANY(%s)), count(*) FROM billing_bill"
            " WHERE account_id = ANY(%s)",
            [list(PAYABLE_BILL_STATUSES), [account_id for *_row, account_id in rows]],
        )
        open_bills, bills = cursor.fetchone()
    print(
        f"province at scale {province['scale']} ({province['billers']} billers): {len(sample)} random "
        f"accounts of {len({code for _id, code, _n in sample})} billers, {grid / len(sample):.0%} of them "
        f"the grid's; {open_bills / len(sample):.1f} payable and {(bills - open_bills) / len(sample):.1f} "
        "paid or other bills an account"
    )
    return sample


def queries_per_request(path: str) -> int:
    """The SQL queries one request of `path` makes, through Django's test client in this process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="127.0.0.1")
    client.get(path)  # the first request of a process also reads what it keeps
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code} in process")
    return len(queries)


WRK_SCRIPT = """
local paths = {%s}
math.randomseed(%d)
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""


def run_wrk(wrk: str, url: str, paths: list[str], args, server_pid: int) -> dict:
    """One wrk run; besides its rates, the CPU the run cost per request: gunicorn's workers' own, and the
    whole machine's (workers, PostgreSQL, Redis, wrk; on a saturated machine about 2 cores ÷ req/s)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % (",".join(f'"{p}"' for p in paths), random.randrange(1 << 30)))
    workers_before, busy_before = children_cpu_seconds(server_pid), machine_busy_seconds()
    out = subprocess.run(
        [wrk, "-t2", f"-c{args.connections}", f"-d{args.duration}s", "--latency", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    workers_after, busy_after = children_cpu_seconds(server_pid), machine_busy_seconds()
    os.unlink(script.name)
    figures = wrk_figures(out)

    def cpu_ms(before, after):
        return (
            None if before is None or after is None else (after - before) * 1000 / max(figures["requests"], 1)
        )

    return {
        "rps": figures["rps"],
        "workers_cpu_ms": cpu_ms(workers_before, workers_after),
        "machine_cpu_ms": cpu_ms(busy_before, busy_after),
        "p50": figures["p50"],
        "p99": figures["p99"],
        "non2xx": figures["non2xx"],
        "socket_errors": figures["socket_errors"],
    }


def wait_until_up(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("gunicorn did not come up")


def main(argv=None) -> int:
    args = parse_args(argv if argv is not None else sys.argv[1:])
    if args.province:
        database_url = os.environ.get("BENCH_PROVINCE_DATABASE_URL", PROVINCE_URL)
        words = ("province", "bench")
    else:
        database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
        words = ("bench",)
    if not any(word in database_url.rsplit("/", 1)[1] for word in words):
        names = " or ".join(map(repr, words))
        print(f"refused: the bench database's name must contain {names}", file=sys.stderr)
        return 2
    wrk = require_tool("wrk")
    env = bench_env(database_url)
    if args.province:
        sample = province_sample(env)
        target = PROVINCE_TARGET_RATIO
    else:
        ensure_database(dj_database_url.parse(database_url))
        sample = seed(env, args.accounts)
        target = TARGET_RATIO
    subprocess.run(  # the hashed names production's pages link to
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
    )
    floor_paths = [f"/bench-floor/{biller_id}/{n}/" for biller_id, _code, n in sample]
    lookup_paths = [f"/billers/{code}/?account_no={n}" for _id, code, n in sample]
    queries = {"floor": queries_per_request(floor_paths[0]), "lookup": queries_per_request(lookup_paths[0])}
    base = f"http://127.0.0.1:{args.port}"
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi",
            "--workers",
            str(args.workers),
            "--bind",
            f"127.0.0.1:{args.port}",
            "--log-level",
            "warning",
            "--keep-alive",
            "5",
        ],
        cwd=PROJECT_ROOT,
        env=env,
    )
    try:
        wait_until_up(base + lookup_paths[0])
        load = os.getloadavg()[0]
        rounds = [
            {
                "floor": run_wrk(wrk, base, floor_paths, args, gunicorn.pid),
                "lookup": run_wrk(wrk, base, lookup_paths, args, gunicorn.pid),
            }
            for _round in range(args.rounds)
        ]
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(timeout=30)
    for run in rounds:
        run["ratio"] = run["lookup"]["rps"] / run["floor"]["rps"]
    ratio = statistics.median(run["ratio"] for run in rounds)
    p99 = statistics.median(run["lookup"]["p99"] for run in rounds)
    print(
        f"load average before the run: {load:.2f}; gunicorn {args.workers} sync workers; "
        f"wrk -t2 -c{args.connections} -d{args.duration}s; {len(sample)} accounts; {args.rounds} rounds"
    )
    print(f"SQL queries per request: floor {queries['floor']}, bill-lookup page {queries['lookup']}")
    print(
        f"{'round':<7}{'page':<34}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'ratio':>7}"
        f"{'CPU ms/req: workers':>21}{'machine':>9}"
    )
    for number, run in enumerate(rounds, 1):
        for name, label in (("floor", "floor: 1 indexed lookup + tiny tpl"), ("lookup", "bill-lookup page")):
            r = run[name]
            ratio_cell = f"{run['ratio']:>7.2f}" if name == "lookup" else " " * 7
            cpu = "".join(
                f"{r[key]:>{width}.2f}" if r[key] is not None else f"{'n/a':>{width}}"
                for key, width in (("workers_cpu_ms", 21), ("machine_cpu_ms", 9))
            )
            print(
                f"{number:<7}{label:<34}{r['rps']:>8.0f}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['non2xx']:>9}"
                f"{ratio_cell}{cpu}"
            )
    cpu_ratios = [
        run["floor"]["workers_cpu_ms"] / run["lookup"]["workers_cpu_ms"]
        for run in rounds
        if run["floor"]["workers_cpu_ms"] and run["lookup"]["workers_cpu_ms"]
    ]
    if cpu_ratios:
        print(
            "gunicorn workers' CPU per request, floor / lookup (the page's own cost, without the database, "
            f"Redis and wrk): median {statistics.median(cpu_ratios):.2f}"
        )
    print(
        f"median of the rounds: lookup / floor = {ratio:.2f} (target ≥ {target}); "
        f"lookup p99 = {p99:.1f} ms (target ≤ {TARGET_P99_MS:.0f} ms)"
    )
    if any(run[name]["non2xx"] for run in rounds for name in ("floor", "lookup")):
        print("CHECK FAILED: some answers were not 2xx")
        return 1
    met = ratio >= target and p99 <= TARGET_P99_MS
    print("target met" if met else "TARGET MISSED")
    figures.record(
        "lookup_page",
        "bill-lookup page ÷ floor page",
        f"{ratio:.2f}x, p99 {p99:.1f} ms",
        f">= {target}x, p99 <= {TARGET_P99_MS:.0f} ms",
        met=met,
    )
    return 0 if met or not args.strict else 3


if __name__ == "__main__":
    sys.exit(main())
