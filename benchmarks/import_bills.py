"""Bill import at scale: a generated 1,000,000-row file through `manage.py import_bills`, next to
PostgreSQL's own COPY of the same file into an indexed table, measured in the same run.

Run with `make bench`, or directly (flags: --rows N, see --help):

    BENCH_IMPORT_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench_import \
        .venv/bin/python benchmarks/import_bills.py

The bench database is created if needed and migrated, its billing tables are TRUNCATEd, one active
statement biller is created, and a CSV file of N rows is generated the way a utility's billing system
writes it (UTF-8 with a BOM, Chinese names, a few amounts written "1,234.50" or "¥88.5", dates as
2026/12/5 on some rows). Then:

1. `manage.py import_bills --biller BENCHWATER FILE` runs as a child process (a fresh interpreter, as
   an operator runs it): wall time, rows/s and its peak RSS (from getrusage of the child);
2. the same file again (every bill exists and is unchanged: the "corrected file" path);
3. PostgreSQL's own `COPY … FROM STDIN (FORMAT csv, HEADER)` of the same bytes into a table of text
   columns with a unique index on (account_no, period), for scale.

It checks that N bills and N accounts exist after the first import. Exit status: 0 when the checks
passed, 1 when one failed, 2 on a refused configuration; with --strict also 3 when a target was missed
(30 s and 500 MB for 1,000,000 rows, issue 3).
"""

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchdb import connect, setup_django_on
from procstat import machine_load

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 30.0
TARGET_RSS_MB = 500.0
BILLER_CODE = "BENCHWATER"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/billpay_bench_import"
BILLING_TABLES = (
    "billing_journalline",
    "billing_journalentry",
    "billing_paymentallocation",
    "billing_payment",
    "billing_bill",
    "billing_customeraccount",
    "billing_billerstaff",
    "billing_feeschedule",
    "billing_auditevent",
    "billing_biller",
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the generated file")
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    parser.add_argument("--allow-any-database-name", action="store_true")
    return parser.parse_args(argv)


def configure(args):
    url = os.environ.get("BENCH_IMPORT_DATABASE_URL", DEFAULT_URL)
    config = setup_django_on(
        url, setting="BENCH_IMPORT_DATABASE_URL", allow_any_name=args.allow_any_database_name
    )
    return config, url


def reset():
    from django.core.management import call_command
    from django.db import connection

    from billing.choices import BillerStatus, PaymentMode
    from billing.models import Biller, BillerCategory

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(BILLING_TABLES)} RESTART IDENTITY CASCADE")
    Biller.objects.create(
        code=BILLER_CODE,
        name="基准水务公司",
        category=BillerCategory.objects.get(code="water"),
        status=BillerStatus.ACTIVE,
        payment_mode=PaymentMode.STATEMENT,
        account_pattern=r"^\d{10}$",
    )


def generate(path: Path, rows: int, seed: int) -> None:
    """A utility's monthly file: mostly plain cells, some the way Excel users write them."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        out.write("account_no,customer_name,period,amount_due,due_date,late_fee,reference\r\n")
        lines = []
        for n in range(rows):
            account = 3_000_000_000 + n
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if n % 3 else "")
            cents = rng.randint(500, 250_000)
            kind = n % 20
            if kind == 0:
                amount = f'"{cents // 100:,}.{cents % 100:02d}"'
            elif kind == 1:
                amount = f"¥{cents // 100}.{cents % 100:02d}"
            else:
                amount = f"{cents // 100}.{cents % 100:02d}"
            due = "2026/12/5" if kind == 2 else "2026-12-20"
            late = "1.50" if kind == 3 else ""
            lines.append(f"{account},{name},2026-11,{amount},{due},{late},INV{n:08d}\r\n")
            if len(lines) == 10_000:
                out.writelines(lines)
                lines.clear()
        out.writelines(lines)


def run_command(url: str, path: Path) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, output) of `manage.py import_bills` in a child process."""
    env = {**os.environ, "DATABASE_URL": url}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", "import_bills", "--biller", BILLER_CODE, str(path), "-v", "2"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        print(done.stdout, done.stderr, file=sys.stderr)
        raise SystemExit(1)
    return elapsed, max(peak, before) / 1024, done.stdout.strip()


def postgres_copy(config, path: Path) -> float:
    """PostgreSQL's own COPY of the same bytes into an indexed table of text columns."""
    with connect(config, config["NAME"]) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw_copy")
        conn.execute(
            "CREATE TABLE bench_raw_copy (account_no text, customer_name text, period text, amount_due text, "
            "due_date text, late_fee text, reference text)"
        )
        conn.execute("CREATE UNIQUE INDEX ON bench_raw_copy (account_no, period)")
        started = time.perf_counter()
        with (
            path.open("rb") as source,
            conn.cursor().copy("COPY bench_raw_copy FROM STDIN (FORMAT csv, HEADER true)") as copy,
        ):
            source.read(3)  # the BOM: COPY would take it as part of the first header
            while chunk := source.read(1 << 20):
                copy.write(chunk)
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_raw_copy")
    return elapsed


def main(argv) -> int:
    args = parse_args(argv)
    config, url = configure(args)
    reset()
    from billing.models import Bill, CustomerAccount

    with tempfile.TemporaryDirectory(prefix="billpay-import-bench-") as tmp:
        path = Path(tmp) / "bills.csv"
        started = time.perf_counter()
        generate(path, args.rows, args.seed)
        size_mb = path.stat().st_size / 1e6
        print(f"generated {args.rows:,} rows, {size_mb:.1f} MB in {time.perf_counter() - started:.1f} s")
        print(f"load average before the run: {machine_load()}")

        first, rss, output = run_command(url, path)
        print(
            f"import_bills (new bills):       {first:6.2f} s  {args.rows / first:>9,.0f} rows/s  "
            f"peak RSS {rss:.0f} MB"
        )
        print("  " + output.replace("\n", "\n  "))
        bills = Bill.objects.filter(biller__code=BILLER_CODE).count()
        accounts = CustomerAccount.objects.filter(biller__code=BILLER_CODE).count()
        checks = [("bills created", bills == args.rows), ("accounts created", accounts == args.rows)]

        again, rss_again, output = run_command(url, path)
        print(
            f"import_bills (same file again): {again:6.2f} s  {args.rows / again:>9,.0f} rows/s  "
            f"peak RSS {rss_again:.0f} MB"
        )
        print("  " + output.replace("\n", "\n  "))
        checks.append(("second run changes nothing", f"unchanged={args.rows} " in output))

        copy_seconds = postgres_copy(config, path)
        print(
            f"PostgreSQL COPY into an indexed table: {copy_seconds:6.2f} s  "
            f"{args.rows / copy_seconds:>9,.0f} rows/s"
        )
        print(f"import / COPY: {first / copy_seconds:.1f}x;  load average after: {machine_load()}")

    failed = [name for name, ok in checks if not ok]
    for name, ok in checks:
        print(f"check {name}: {'ok' if ok else 'FAILED'}")
    if failed:
        return 1
    scale = args.rows / 1_000_000
    missed = first > TARGET_SECONDS * scale or rss > TARGET_RSS_MB
    print(
        f"target ({TARGET_SECONDS * scale:.0f} s, {TARGET_RSS_MB:.0f} MB): " + ("MISSED" if missed else "met")
    )
    return 3 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
