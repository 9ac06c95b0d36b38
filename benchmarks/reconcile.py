"""The matching engine at scale: 1,000,000 platform payments against a 1,000,000-line statement.

Run with `make bench`, or directly (flags: --rows N, --seed N, see --help):

    BENCH_RECON_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench_recon \
        .venv/bin/python benchmarks/reconcile.py

The database (created when missing) is migrated and its payment and reconciliation tables are TRUNCATEd.
One online biller's payments of one day and one channel statement's lines are loaded with COPY — 0.5 % of
them seeded discrepancies of every class: lines the platform never posted, payments the channel never had,
amounts that differ by a fen, lines repeated in the file, payments repeated under one channel reference,
payments reversed with us but paid at the channel, and refunds at the channel of payments still posted
with us. Then `reconciliation.services.runs._match` — the engine `manage.py reconcile` runs after loading the
lines — stores one result per line and per payment and a discrepancy per non-matched result, in one
transaction. The script checks that every seeded case, and nothing else, landed in its class, and prints
the time and peak memory (this process and its PostgreSQL backend) next to one plain PostgreSQL FULL
OUTER JOIN of the same data on the channel reference.

Exit status: 0 when every check passed, 1 when a check failed, 2 on a refused configuration; with
--strict also 3 when the 20 s / 1 GB target was missed.

With --province (issue 16) the day's payments and statement lines are loaded beside a whole province's
history (benchmarks/province.py: 10.8 million payments over six months and their journal lines at scale
1), nothing is emptied, and the engine must still look only at the day:

    BENCH_PROVINCE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench_province \
        .venv/bin/python benchmarks/reconcile.py --province

The day is the one after the newest business date of any payment or of an earlier run's statement, so
no other payment of the channel falls on it and every rerun gets a day of its own; references, order
numbers and receipts carry the day, so nothing clashes with (or is "seen before" in) an earlier run.
"""

import argparse
import datetime
import json
import os
import random
import resource
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import figures
from benchdb import require_province, rough_rows_sql, setup_django_on
from procstat import PrivateMemoryPeak, proc_cpu_seconds

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 20.0
TARGET_PEAK_BYTES = 1024**3
DAY = datetime.date(2026, 11, 26)
PROVINCE_URL = "postgres://postgres@127.0.0.1:5432/billpay_bench_province"
CHANNEL_CODE = "ONLINE:BENCH"
SOURCE = "BENCH"
TABLES = (
    "reconciliation_discrepancy",
    "reconciliation_matchresult",
    "reconciliation_reconciliationrun",
    "reconciliation_statementline",
    "reconciliation_statementfile",
    "billing_payment",
)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="payments and lines (default 1000000)")
    parser.add_argument("--rate", type=float, default=0.005, help="share of seeded discrepancies (0.005)")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--strict", action="store_true", help="exit 3 when the target is missed")
    parser.add_argument(
        "--rematch",
        action="store_true",
        help="keep the data of the last run (same --rows and --seed) and only match again",
    )
    parser.add_argument(
        "--province",
        action="store_true",
        help="load beside the province of BENCH_PROVINCE_DATABASE_URL (nothing emptied)",
    )
    args = parser.parse_args(argv)
    if args.rows < 1000:
        parser.error("--rows must be at least 1000")
    return args


def configure_django(province: bool = False) -> dict:
    if province:
        return setup_django_on(
            os.environ.get("BENCH_PROVINCE_DATABASE_URL", PROVINCE_URL),
            setting="BENCH_PROVINCE_DATABASE_URL",
            name_words=("province", "bench"),
        )
    url = os.environ.get("BENCH_RECON_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/billpay_bench_recon")
    return setup_django_on(url, setting="BENCH_RECON_DATABASE_URL")


def province_day() -> datetime.date:
    """A day no payment and no earlier run's statement of the channel has: the one after the newest."""
    from django.db.models import Max

    from billing.models import Payment
    from reconciliation.models import StatementFile

    newest = [
        Payment.objects.aggregate(day=Max("business_date"))["day"],
        StatementFile.objects.filter(channel_code=CHANNEL_CODE).aggregate(day=Max("business_date"))["day"],
    ]
    return max(day for day in [*newest, DAY - datetime.timedelta(days=1)] if day) + datetime.timedelta(days=1)


def plan(rows: int, rate: float, rng: random.Random) -> dict:
    """How many of each seeded case, so that payments and lines both number `rows`."""
    unit = max(1, round(rows * rate / 5.5))
    counts = {
        "missing_platform": unit,  # line only
        "missing_channel": unit,  # payment only
        "amount_mismatch": unit,
        "duplicate_line": unit // 2,  # a line repeated in the file
        "duplicate_payment": unit,  # a second payment under a matched payment's reference
        "reversed_here": unit // 2,  # reversed with us, paid at the channel
        "refunded_there": unit - unit // 2,  # a refund line for a payment still posted with us
    }
    # lines = pairs + missing_platform + duplicate_line + refunded_there
    # payments = pairs + missing_channel + duplicate_payment
    counts["duplicate_payment"] = (
        counts["missing_platform"]
        + counts["duplicate_line"]
        + counts["refunded_there"]
        - counts["missing_channel"]
    )
    counts["pairs"] = rows - counts["missing_channel"] - counts["duplicate_payment"]
    return counts


def load(
    rows: int, rate: float, seed: int, day: datetime.date = DAY, empty: bool = True
) -> tuple[dict, dict, int]:
    """COPY the payments and the statement lines of `day`; return the seeded references per class. `empty`:
    TRUNCATE the payment and reconciliation tables first (not on a province: its references then carry
    the day, so that another day's run never shares one)."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from billing.models import Biller, BillerCategory
    from reconciliation.models import ReconciliationRun, StatementFile

    call_command("migrate", interactive=False, verbosity=0)
    if empty:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    tag = "" if empty else f"{day:%Y%m%d}"
    rng = random.Random(seed)
    counts = plan(rows, rate, rng)
    category = BillerCategory.objects.order_by("pk").first()
    biller, _ = Biller.objects.get_or_create(
        code="BENCHRECON", defaults={"name": "对账基准", "category": category, "status": "active"}
    )
    tz = datetime.timezone(datetime.timedelta(hours=8))
    start = datetime.datetime.combine(day, datetime.time(6, 0), tzinfo=tz)
    expected: dict = {k: set() for k in ("missing_platform", "missing_channel")}
    expected.update({k: set() for k in ("amount_mismatch", "duplicate", "status_mismatch")})
    expected["matched"] = 0
    # Rows stream to two files in COPY's text format, then to PostgreSQL: memory stays flat.
    pay_file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed after the COPY
    line_file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed after the COPY
    counted = {"payments": 0, "lines": 0}

    statement = StatementFile.objects.create(
        channel_code=CHANNEL_CODE,
        business_date=day,
        format="billpay",
        file_name="bench (loaded by COPY)",
        sha256=f"{seed:032x}{day:%Y%m%d}".rjust(64, "0"),
        size=0,
        content=b"",
        line_count=0,
    )

    class Rows:
        def __init__(self, handle, name):
            self.handle, self.name = handle, name

        def append(self, row):
            if self.name == "payments":
                receipt, ref, key, amount, status, when = row
                row = (receipt, "online", key, "bench", ref, biller.pk, amount, status, day, when, "")
            else:
                number, kind, ref, original, merchant, amount, when = row
                row = (
                    statement.pk,
                    number,
                    kind,
                    ref,
                    original,
                    merchant,
                    "",
                    "",
                    "",
                    amount,
                    "0",
                    "CNY",
                    when,
                )
            self.handle.write("\t".join(str(value) for value in row) + "\n")
            counted[self.name] += 1

    pay_rows, line_rows = Rows(pay_file, "payments"), Rows(line_file, "lines")

    def cents(value: int) -> Decimal:
        return Decimal(value).scaleb(-2)

    pairs = counts["pairs"]
    special = rng.sample(
        range(pairs),
        counts["amount_mismatch"]
        + counts["reversed_here"]
        + counts["refunded_there"]
        + counts["duplicate_line"]
        + counts["duplicate_payment"],
    )
    cursor_at = 0
    groups = {}
    for name in ("amount_mismatch", "reversed_here", "refunded_there", "duplicate_line", "duplicate_payment"):
        groups[name] = set(special[cursor_at : cursor_at + counts[name]])
        cursor_at += counts[name]
    line_no = 2
    for i in range(pairs):
        ref = f"TX{tag}{i:010d}"
        amount = cents(rng.randint(100, 500_000))
        when = start + datetime.timedelta(seconds=i * 43_200 // pairs)  # 06:00–18:00
        status = "reversed" if i in groups["reversed_here"] else "posted"
        pay_rows.append((f"R{day:%Y%m%d}{i:016d}", ref, f"{SOURCE}:{tag}ORD{i}", amount, status, when))
        line_amount = amount + Decimal("0.01") if i in groups["amount_mismatch"] else amount
        line_rows.append((line_no, "payment", ref, "", f"{tag}ORD{i}", line_amount, when))
        line_no += 1
        if i in groups["amount_mismatch"]:
            expected["amount_mismatch"].add(("L", ref))
        elif i in groups["reversed_here"]:
            expected["status_mismatch"].add(("L", ref))
        else:
            expected["matched"] += 1
        if i in groups["refunded_there"]:
            line_rows.append(
                (line_no, "refund", f"RF{tag}{i:010d}", ref, "", amount, when + datetime.timedelta(hours=1))
            )
            line_no += 1
            expected["status_mismatch"].add(("L", f"RF{tag}{i:010d}"))
        if i in groups["duplicate_line"]:
            line_rows.append((line_no, "payment", ref, "", f"{tag}ORD{i}", amount, when))
            line_no += 1
            expected["duplicate"].add(("L2", ref))
        if i in groups["duplicate_payment"]:
            pay_rows.append(
                (
                    f"R{day:%Y%m%d}D{i:015d}",
                    ref,
                    f"{SOURCE}:{tag}DUP{i}",
                    amount,
                    "posted",
                    when + datetime.timedelta(seconds=1),
                )
            )
            expected["duplicate"].add(("P", f"{SOURCE}:{tag}DUP{i}"))
    night = datetime.datetime.combine(day, datetime.time(0, 30), tzinfo=tz)
    evening = datetime.datetime.combine(day, datetime.time(20, 0), tzinfo=tz)
    for j in range(counts["missing_platform"]):
        ref = f"GHOST{tag}{j:08d}"
        line_rows.append(
            (
                line_no,
                "payment",
                ref,
                "",
                f"{tag}GHOST{j}",
                cents(rng.randint(100, 500_000)),
                night + datetime.timedelta(seconds=j),
            )
        )
        line_no += 1
        expected["missing_platform"].add(("L", ref))
    for j in range(counts["missing_channel"]):
        key = f"{SOURCE}:{tag}LOST{j}"
        pay_rows.append(
            (
                f"R{day:%Y%m%d}L{j:015d}",
                f"LOST{tag}{j:08d}",
                key,
                cents(rng.randint(100, 500_000)),
                "posted",
                evening + datetime.timedelta(seconds=j),
            )
        )
        expected["missing_channel"].add(("P", key))
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        pay_file.seek(0)
        with cursor.cursor.copy(
            "COPY billing_payment (receipt_no, channel, idempotency_key, request_fingerprint, channel_ref, "
            "biller_id, amount, status, business_date, posted_at, reversal_reason) FROM STDIN"
        ) as copy:
            while chunk := pay_file.read(1 << 20):
                copy.write(chunk)
        line_file.seek(0)
        with cursor.cursor.copy(
            "COPY reconciliation_statementline (statement_id, line_no, kind, channel_ref, original_ref, "
            "merchant_ref, receipt_no, biller_code, account_no, amount, fee, currency, occurred_at) "
            "FROM STDIN"
        ) as copy:
            while chunk := line_file.read(1 << 20):
                copy.write(chunk)
        pay_file.close()
        line_file.close()
        StatementFile.objects.filter(pk=statement.pk).update(line_count=counted["lines"])
        run = ReconciliationRun.objects.create(
            statement=statement,
            channel_code=CHANNEL_CODE,
            business_date=day,
            status="loading",
            total_lines=counted["lines"],
            loaded_lines=counted["lines"],
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE billing_payment")
        cursor.execute("VACUUM ANALYZE reconciliation_statementline")
    loaded = time.perf_counter() - started
    print(
        f"loaded {counted['payments']:,} payments and {counted['lines']:,} statement lines "
        f"with COPY in {loaded:.1f} s"
    )
    print("seeded: " + ", ".join(f"{k} {v:,}" for k, v in counts.items() if k != "pairs"))
    return expected, counts, run.pk


def history_payments() -> int:
    """About how many payments the database holds (a count of 10 million is slow)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {rough_rows_sql('billing_payment')}")
        return cursor.fetchone()[0]


def forget_results(saved: Path) -> tuple[dict, int]:
    """--rematch: the loaded payments and lines stay; the results go, and the run is pending again."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    data = json.loads(saved.read_text())
    run_id = data.pop("run")
    expected = {k: v if isinstance(v, int) else {tuple(item) for item in v} for k, v in data.items()}
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE reconciliation_matchresult, reconciliation_discrepancy CASCADE")
        cursor.execute(
            "UPDATE reconciliation_reconciliationrun SET status = 'loading' WHERE id = %s", [run_id]
        )
        cursor.execute("VACUUM ANALYZE reconciliation_matchresult")
    print(f"rematching the data already loaded (run {run_id})")
    return expected, run_id


def check(run_id: int, expected: dict) -> list[tuple[str, bool, str]]:
    from django.db import connection

    from reconciliation.models import ReconciliationRun

    statement_id = ReconciliationRun.objects.values_list("statement_id", flat=True).get(pk=run_id)
    found: dict[str, set] = {k: set() for k in expected}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT r.klass, l.channel_ref, l.line_no, p.idempotency_key, r.line_id IS NOT NULL
            FROM reconciliation_matchresult r
            LEFT JOIN reconciliation_statementline l ON l.id = r.line_id
            LEFT JOIN billing_payment p ON p.id = r.payment_id
            WHERE r.run_id = %s AND r.klass <> 'matched'
            """,
            [run_id],
        )
        first_line = {}
        rows = cursor.fetchall()
        for klass, ref, _line_no, key, has_line in rows:
            if not has_line:
                found[klass].add(("P", key))
            elif klass == "duplicate":
                found[klass].add(("L2", ref))
            else:
                found[klass].add(("L", ref))
        cursor.execute(
            "SELECT count(*) FROM reconciliation_matchresult WHERE run_id = %s AND klass = 'matched'",
            [run_id],
        )
        matched = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM reconciliation_discrepancy WHERE run_id = %s", [run_id])
        discrepancies = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM reconciliation_statementline WHERE statement_id = %s", [statement_id]
        )
        lines = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM reconciliation_matchresult WHERE run_id = %s AND line_id IS NOT NULL",
            [run_id],
        )
        line_results = cursor.fetchone()[0]
    del first_line
    results = []
    for klass in ("missing_platform", "missing_channel", "amount_mismatch", "duplicate", "status_mismatch"):
        ok = found[klass] == expected[klass]
        results.append(
            (
                f"{klass}: {len(expected[klass]):,} seeded, {len(found[klass]):,} found",
                ok,
                ""
                if ok
                else f"missed {len(expected[klass] - found[klass])}, "
                f"extra {len(found[klass] - expected[klass])}",
            )
        )
    results.append(
        (
            f"matched: {expected['matched']:,} pairs expected, {matched:,} stored",
            matched == expected["matched"],
            "",
        )
    )
    results.append(
        (f"one result per line: {lines:,} lines, {line_results:,} line results", lines == line_results, "")
    )
    results.append(
        (f"a discrepancy per non-matched result: {discrepancies:,}", discrepancies == len(rows), "")
    )
    return results


def full_outer_join(statement_id: int, day: datetime.date = DAY) -> tuple[float, tuple]:
    from django.db import connection

    sql = """
    SELECT count(*) FILTER (WHERE l.id IS NOT NULL AND p.id IS NOT NULL AND l.amount = p.amount),
           count(*) FILTER (WHERE l.id IS NOT NULL AND p.id IS NOT NULL AND l.amount <> p.amount),
           count(*) FILTER (WHERE p.id IS NULL),
           count(*) FILTER (WHERE l.id IS NULL)
    FROM (SELECT id, channel_ref, amount FROM reconciliation_statementline
          WHERE statement_id = %s AND kind = 'payment') l
    FULL OUTER JOIN (SELECT id, channel_ref, amount FROM billing_payment
          WHERE channel = 'online' AND business_date = %s AND idempotency_key LIKE %s) p
      ON p.channel_ref = l.channel_ref
    """
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET work_mem = '256MB'")
        cursor.execute(sql, [statement_id, day, f"{SOURCE}:%"])
        row = cursor.fetchone()
    return time.perf_counter() - started, row


def main(argv) -> int:
    args = parse_args(argv)
    config = configure_django(args.province)
    from django.db import connection

    from reconciliation.models import ReconciliationRun
    from reconciliation.services import runs

    print(
        f"reconciliation benchmark: {args.rows:,} payments × {args.rows:,} lines, database {config['NAME']}, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    saved = Path(tempfile.gettempdir()) / f"{config['NAME']}-{args.rows}-{args.seed}.expected.json"
    if args.province:
        province = require_province()
        day = province_day()
        print(
            f"province at scale {province['scale']} ({province['billers']:,} billers, "
            f"{history_payments():,} payments already); the day: {day}"
        )
    if args.rematch and saved.exists() and not args.province:
        expected, run_id = forget_results(saved)
    elif args.province:
        expected, _counts, run_id = load(args.rows, args.rate, args.seed, day=day, empty=False)
    else:
        expected, _counts, run_id = load(args.rows, args.rate, args.seed)
        saved.write_text(
            json.dumps(
                {"run": run_id, **{k: v if isinstance(v, int) else sorted(v) for k, v in expected.items()}}
            )
        )
    run = ReconciliationRun.objects.get(pk=run_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    backend_cpu = proc_cpu_seconds(backend)
    started = time.perf_counter()
    timings: list = []
    with PrivateMemoryPeak(backend) as backend_memory:
        runs._match(run, None, timings=timings)
    seconds = time.perf_counter() - started
    after_cpu = proc_cpu_seconds(backend)
    # The backend's CPU: on a shared machine the wall time also holds the wait for a core.
    engine_cpu = after_cpu - backend_cpu if after_cpu is not None and backend_cpu is not None else None
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    backend_peak = backend_memory.peak
    run.refresh_from_db()
    join_seconds, join_row = full_outer_join(run.statement_id, run.business_date)
    join_cpu = proc_cpu_seconds(backend)
    join_cpu = join_cpu - after_cpu if join_cpu is not None and after_cpu is not None else None
    print(f"\nmatching engine (all passes, every result stored, discrepancies written): {seconds:.2f} s")
    if engine_cpu is not None:
        print(f"  CPU of its PostgreSQL backend: {engine_cpu:.2f} s")
    print(
        f"  peak memory: this process {rss_peak / 2**20:.0f} MiB "
        f"(before matching {rss_before / 2**20:.0f} MiB), "
        f"PostgreSQL backend {backend_peak / 2**20:.0f} MiB of its own (RssAnon; the shared buffer pool it "
        "reads is not its memory)"
        if backend_peak
        else f"  peak memory: this process {rss_peak / 2**20:.0f} MiB (PostgreSQL backend not readable)"
    )
    print(
        f"one PostgreSQL FULL OUTER JOIN on channel_ref of the same data: {join_seconds:.2f} s "
        f"(equal {join_row[0]:,}, amount differs {join_row[1]:,}, "
        f"only payment {join_row[2]:,}, only line {join_row[3]:,})"
        + (f"; its backend's CPU {join_cpu:.2f} s" if join_cpu is not None else "")
    )
    print(
        "  slowest steps: "
        + "; ".join(f"{label} {secs:.1f} s" for label, secs in sorted(timings, key=lambda t: -t[1])[:4])
    )
    print("results: " + ", ".join(f"{k} {v['count']:,}" for k, v in run.counts.items()))
    failed = False
    for label, ok, detail in check(run_id, expected):
        print(f"  [{'ok' if ok else 'FAIL'}] {label} {detail}")
        failed |= not ok
    peak = max(rss_peak, backend_peak or 0)
    on_target = seconds <= TARGET_SECONDS and peak <= TARGET_PEAK_BYTES
    print(f"target ≤ {TARGET_SECONDS:.0f} s and ≤ 1 GiB peak: {'met' if on_target else 'MISSED'}")
    figures.record(
        "reconcile",
        "1M × 1M reconciliation",
        f"{seconds:.2f} s, peak {peak / 2**20:.0f} MiB" + (" (a check FAILED)" if failed else ""),
        f"<= {TARGET_SECONDS:.0f} s, <= 1 GiB",
        met=on_target and not failed,
    )
    if failed:
        return 1
    if args.strict and not on_target:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
