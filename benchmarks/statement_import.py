"""Statement import at scale: a generated 1,000,000-line WeChat Pay trade bill through the statement import
service (`reconciliation.services.import_statement`) in a child process, next to PostgreSQL's own COPY of
the same lines into a bare table, measured in the same run.

Run with `make bench`, or directly (flags: --lines N, --plain, --province, see --help):

    BENCH_STATEMENT_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench_statement \\
        .venv/bin/python benchmarks/statement_import.py

The bill is written as WeChat Pay's download API returns it (API v3 tradebill ALL, by demo.statements'
writer, the format of the real bills in tests/reconciliation/fixtures/wechat/): a Chinese header, every
value behind a back-tick, one REFUND row in twenty, the totals header and row, UTF-8 with a byte-order mark,
CRLF, gzipped (--plain: not packed). Then:

1. a child process (a fresh interpreter, as the nightly Celery task runs it) reads the file within the
   statement bounds (`untrusted_files.read_path`) and imports it for channel ONLINE:WECHAT: wall time,
   lines/s, its CPU and peak RSS (getrusage of the child) and its PostgreSQL backend's CPU (from /proc,
   when the server runs on this machine);
2. PostgreSQL's `COPY … FROM STDIN (FORMAT csv)` of the same detail lines, unpacked, into a bare table of
   27 text columns: what the machine does with the lines when nothing checks them.

Without flags it runs on its own database (BENCH_STATEMENT_DATABASE_URL, default billpay_bench_statement),
migrated, whose reconciliation tables it empties. With --province it imports into the province of
BENCH_PROVINCE_DATABASE_URL (benchdb.require_province), emptying nothing: the bill is the statement of
ONLINE:WECHAT for the first day from 2031-01-01 that has none, so a rerun imports a new statement (and
says which day). A million-line bill is over the default bounds of untrusted files (64 MiB packed,
256 MiB unpacked): the child runs with STATEMENT_FILE_MAX_BYTES and UNPACKED_MAX_BYTES raised to fit the
file (printed), as an operator expecting such bills would set them.

It checks that the statement has N lines written, with the totals of the file. Exit status: 0 when the
checks passed, 1 when one failed, 2 on a refused configuration; with --strict also 3 when a floor was missed
(30 s and 500 MB for 1,000,000 lines, issue 16).
"""

import argparse
import datetime
import gzip
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import figures
from benchdb import connect, require_province, setup_django_on
from procstat import machine_load, proc_cpu_seconds

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FLOOR_SECONDS = 30.0  # for 1,000,000 lines
FLOOR_RSS_MB = 500.0
CHANNEL = "ONLINE:WECHAT"
BENCH_DAY = datetime.date(2026, 11, 20)
PROVINCE_FIRST_DAY = datetime.date(2031, 1, 1)
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/billpay_bench_statement"
DEFAULT_PROVINCE_URL = "postgres://postgres@127.0.0.1:5432/billpay_bench_province"
RECON_TABLES = (
    "reconciliation_matchresult",
    "reconciliation_discrepancy",
    "reconciliation_reconciliationrun",
    "reconciliation_statementline",
    "reconciliation_statementfile",
)
PRODUCTS = ["水费", "电费", "燃气费", "有线电视费", "物业费"]
BOM = "\ufeff"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="detail lines in the generated bill")
    parser.add_argument("--plain", action="store_true", help="the bill not gzipped")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--province", action="store_true", help="import into the province, emptying nothing")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a floor is missed")
    parser.add_argument("--allow-any-database-name", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("FILE", "CHANNEL", "DAY"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def configure(args) -> tuple[dict, str]:
    if args.province:
        url = os.environ.get("BENCH_PROVINCE_DATABASE_URL", DEFAULT_PROVINCE_URL)
        config = setup_django_on(url, setting="BENCH_PROVINCE_DATABASE_URL", name_words=("province",))
        require_province()
        return config, url
    url = os.environ.get("BENCH_STATEMENT_DATABASE_URL", DEFAULT_URL)
    config = setup_django_on(
        url, setting="BENCH_STATEMENT_DATABASE_URL", allow_any_name=args.allow_any_database_name
    )
    return config, url


def reset() -> None:
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(RECON_TABLES)} RESTART IDENTITY CASCADE")


def free_day() -> datetime.date:
    """The first day from PROVINCE_FIRST_DAY with no ONLINE:WECHAT statement (a rerun takes the next)."""
    from reconciliation.models import StatementFile

    taken = set(
        StatementFile.objects.filter(channel_code=CHANNEL, business_date__gte=PROVINCE_FIRST_DAY).values_list(
            "business_date", flat=True
        )
    )
    day = PROVINCE_FIRST_DAY
    while day in taken:
        day += datetime.timedelta(days=1)
    return day


def day_lines(day: datetime.date, count: int, seed: int):
    """`count` transactions of the day as WeChat Pay reports them: one refund of an earlier payment in
    twenty, amounts from ¥1 to ¥2,500, times spread over the day."""
    from django.utils import timezone

    from demo.statements import PAYMENT, REFUND, DayLine

    rng = random.Random(seed)
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time(0, 0, 1)))
    step = datetime.timedelta(seconds=86_000 / max(count, 1))
    paid = []
    for n in range(count):
        when = start + step * n
        if n % 20 == 19 and paid:
            original = paid[rng.randrange(len(paid))]
            yield DayLine(
                REFUND,
                f"50300{day:%Y%m%d}{n:015d}",
                original.merchant_ref,
                "",
                rng.choice(PRODUCTS),
                f"{3_000_000_000 + n}",
                original.amount,
                when,
                original.ref,
            )
            continue
        amount = Decimal(rng.randint(100, 250_000)) / 100
        line = DayLine(
            PAYMENT,
            f"42000{day:%Y%m%d}{n:015d}",
            f"BENCH{day:%Y%m%d}{n:09d}",
            "",
            rng.choice(PRODUCTS),
            f"{3_000_000_000 + n}",
            amount,
            when,
        )
        if len(paid) < 10_000:
            paid.append(line)
        yield line


def generate(path: Path, detail: Path, day: datetime.date, count: int, seed: int, packed: bool) -> None:
    """The bill (gzipped unless --plain) and, beside it, its detail lines alone for PostgreSQL's COPY."""
    from demo.statements import wechat_bill_rows

    opener = gzip.open if packed else open
    with opener(path, "wt", encoding="utf-8", newline="") as out, detail.open("w", encoding="utf-8") as raw:
        rows = wechat_bill_rows(day_lines(day, count, seed))
        out.write(BOM + next(rows) + "\r\n")
        batch = []
        for n, row in enumerate(rows):
            batch.append(row + "\r\n")
            if n < count:
                raw.write(row + "\n")
            if len(batch) == 10_000:
                out.writelines(batch)
                batch.clear()
        out.writelines(batch)


def run_child(url: str, path: Path, day: datetime.date, limits: dict) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds, peak RSS in MB, output) of the import in a child process."""
    env = {**os.environ, "DATABASE_URL": url, **{k: str(v) for k, v in limits.items()}}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(path), CHANNEL, day.isoformat()],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        print(done.stdout, done.stderr, file=sys.stderr)
        raise SystemExit(1)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, cpu, after.ru_maxrss / 1024, done.stdout.strip()


def child(path: str, channel: str, day: str) -> int:
    """The import as the nightly task runs it: the file read within the statement bounds, then the service."""
    setup_django_on(os.environ["DATABASE_URL"], setting="DATABASE_URL", allow_any_name=True)
    from django.db import connection

    from billing import untrusted_files
    from reconciliation import services

    connection.ensure_connection()
    backend = connection.connection.info.backend_pid
    backend_cpu = proc_cpu_seconds(backend)  # None unless PostgreSQL runs on this machine
    started, cpu = time.perf_counter(), time.process_time()
    result = services.import_statement(
        channel_code=channel,
        business_date=datetime.date.fromisoformat(day),
        data=untrusted_files.read_path(Path(path), "statement"),
        file_name=Path(path).name,
    )
    statement = result.statement
    print(
        f"statement {statement.pk}: {statement.line_count} lines, payments {statement.payments_total}, "
        f"refunds {statement.refunds_total}, created={result.created}, "
        f"in {time.perf_counter() - started:.2f} s ({time.process_time() - cpu:.2f} s of CPU; the child's "
        "start, Django's set-up and reading the file are outside it)"
    )
    backend_after = proc_cpu_seconds(backend)
    if backend_cpu is not None and backend_after is not None:
        print(f"its PostgreSQL backend used {backend_after - backend_cpu:.2f} s of CPU meanwhile")
    return 0


def postgres_copy(config: dict, detail: Path) -> float:
    """PostgreSQL's own COPY of the detail lines into a bare table of text columns."""
    with connect(config, config["NAME"]) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_statement_copy")
        columns = ", ".join(f"c{n} text" for n in range(27))
        conn.execute(f"CREATE UNLOGGED TABLE bench_statement_copy ({columns})")
        started = time.perf_counter()
        with (
            detail.open("rb") as source,
            conn.cursor().copy("COPY bench_statement_copy FROM STDIN (FORMAT csv)") as copy,
        ):
            while chunk := source.read(1 << 20):
                copy.write(chunk)
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_statement_copy")
    return elapsed


def main(argv) -> int:
    args = parse_args(argv)
    if args.child:
        return child(*args.child)
    config, url = configure(args)
    if args.province:
        day = free_day()
        print(f"province: statement of {CHANNEL} for {day} (the first free day from {PROVINCE_FIRST_DAY})")
    else:
        reset()
        day = BENCH_DAY
    from django.conf import settings

    from reconciliation.models import StatementFile, StatementLine

    with tempfile.TemporaryDirectory(prefix="billpay-statement-bench-") as tmp:
        path = Path(tmp) / f"tradebill_ALL_{day:%Y-%m-%d}.csv{'' if args.plain else '.gz'}"
        detail = Path(tmp) / "detail.csv"
        started = time.perf_counter()
        generate(path, detail, day, args.lines, args.seed, packed=not args.plain)
        size, unpacked = path.stat().st_size, detail.stat().st_size
        print(
            f"generated a {args.lines:,}-line WeChat trade bill: {size / 1e6:.1f} MB"
            f"{'' if args.plain else f' gzipped ({unpacked / 1e6:.0f} MB of lines)'} "
            f"in {time.perf_counter() - started:.1f} s"
        )
        limits = {
            "STATEMENT_FILE_MAX_BYTES": max(settings.UNTRUSTED_FILE_MAX_BYTES["statement"], size),
            "UNPACKED_MAX_BYTES": max(settings.UNTRUSTED_UNPACKED_MAX_BYTES, unpacked + unpacked // 10),
        }
        if limits["STATEMENT_FILE_MAX_BYTES"] > settings.UNTRUSTED_FILE_MAX_BYTES["statement"] or (
            limits["UNPACKED_MAX_BYTES"] > settings.UNTRUSTED_UNPACKED_MAX_BYTES
        ):
            print("bounds raised for the child: " + ", ".join(f"{k}={v}" for k, v in limits.items()))
        print(f"load average before the run: {machine_load()}")

        seconds, cpu, rss, output = run_child(url, path, day, limits)
        print("  " + output.replace("\n", "\n  "))
        statement = StatementFile.objects.filter(channel_code=CHANNEL, business_date=day).first()
        written = StatementLine.objects.filter(statement=statement).count() if statement else 0
        checks = [("statement imported", statement is not None), ("lines written", written == args.lines)]

        copy_seconds = postgres_copy(config, detail)
    scale = args.lines / 1_000_000
    floor_seconds = FLOOR_SECONDS * scale
    print(
        f"statement import:   {seconds:7.2f} s  {args.lines / seconds:>9,.0f} lines/s  "
        f"peak RSS {rss:5.0f} MB   floor {floor_seconds:.1f} s, {FLOOR_RSS_MB:.0f} MB"
    )
    print(f"  the child process used {cpu:.2f} s of CPU (the wall time includes waiting on a busy machine)")
    print(
        f"PostgreSQL COPY of the lines into a bare table: {copy_seconds:6.2f} s  "
        f"{args.lines / copy_seconds:>9,.0f} lines/s   (import / COPY: {seconds / copy_seconds:.1f}x)"
    )
    print(f"load average after: {machine_load()}")
    failed = [name for name, ok in checks if not ok]
    for name, ok in checks:
        print(f"check {name}: {'ok' if ok else 'FAILED'}")
    if failed:
        return 1
    missed = seconds > floor_seconds or rss > FLOOR_RSS_MB
    print(f"floor ({floor_seconds:.1f} s, {FLOOR_RSS_MB:.0f} MB): " + ("MISSED" if missed else "met"))
    figures.record(
        "statement_import",
        f"{args.lines:,}-line WeChat statement",
        f"{seconds:.2f} s, {rss:.0f} MB",
        f"<= {floor_seconds:.0f} s, <= {FLOOR_RSS_MB:.0f} MB",
        met=not missed,
    )
    return 3 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
