"""A day's settlement of a whole province (issue 16, item 2): every biller with money that day gets its
batch, net of fees, its settlement entry through the posting service, its remittance files and audit.

    BENCH_PROVINCE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench_province \\
        .venv/bin/python benchmarks/settlement.py --province

Runs on the province benchmarks/province.py built (`benchdb.require_province`), emptying nothing. It picks
the oldest business day of the province's six months of payments that no settlement run has settled yet,
among the typical days (between the average number of payments and 1.5 times it: about 60,000 at scale 1,
where the busiest day, the first of a month, has four times the average), closed (its T+1 working day has
come); `--day` names one instead (e.g. the first of a month), and a day already settled is said so and
left alone. Then, untimed, it adds its own rows beside the province's:

- biller-borne fee schedules (online 0.30% within ¥0.10–¥20.00, partner ¥0.50 + 0.10%; counter money
  settles whole) for every biller, unless the power grid has a fee schedule already;
- for that day, one finished reconciliation run per channel (channel codes `BENCH:<channel>`) matching
  every posted payment of the day, as a clean statement would: what makes money settleable.

Timed: `reconciliation.services.settle_day`, the service `manage.py settle`, the admin's action and the
nightly Celery task call, in this process, with its CPU time, its PostgreSQL backend's CPU time, the
number of queries and the peak RSS. Beside it: the floor (60 s for 20,000 billers, scaled by the
province's billers) and the machine's own limit measured in the same run: one plain SQL GROUP BY of the
day's allocations per biller, with each payment's fee from its biller's schedule.

The checks: every biller with money that day has exactly one batch and no other biller has one; each
batch's count, gross and fees equal that GROUP BY's (the day's allocations, net of the fees); each
payment of the day is in exactly one settlement item; every settlement entry balances and the whole
ledger sums to zero; the payables were debited by the gross, the settlement bank account credited by
the net and fee income by the fees; one outbox event and one audit event per batch; every batch has its
remittance files.

Exit status: 0 when every check passed (or the day was already settled), 1 when a check failed, 2 on a
refused configuration (no --province, no province, a day not closed), 3 with --strict when the floor
was missed.
"""

import argparse
import datetime
import os
import resource
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import figures
import province
from procstat import proc_cpu_seconds

FLOOR_SECONDS = 60.0
FLOOR_BILLERS = 20_000
RUN_PREFIX = "BENCH:"
# (channel, fixed fee, percentage, least fee, most fee): borne by the biller, deducted at settlement.
FEE_SCHEDULES = (
    ("online", Decimal("0.00"), Decimal("0.0030"), Decimal("0.10"), Decimal("20.00")),
    ("partner", Decimal("0.50"), Decimal("0.0010"), Decimal("0.00"), None),
)

# The machine's limit, and the expected figures: the day's allocations per biller, each payment's fee
# from its biller's latest schedule not after the day (on the principal, as settlement takes it).
DAY_TOTALS_SQL = """
SELECT p.biller_id, count(*), sum(a.total),
    sum(CASE WHEN f.id IS NULL OR f.payer_pays THEN 0
        ELSE LEAST(p.amount, round(LEAST(GREATEST(f.fixed_fee + (p.amount - a.late) * f.percentage,
                                                  f.min_fee), COALESCE(f.max_fee, 'Infinity')), 2)) END)
FROM billing_payment p
CROSS JOIN LATERAL (
    SELECT sum(amount) AS total, COALESCE(sum(amount) FILTER (WHERE kind = 'late_fee'), 0) AS late
    FROM billing_paymentallocation WHERE payment_id = p.id AND NOT is_reversal
) a
LEFT JOIN LATERAL (
    SELECT * FROM billing_feeschedule s
    WHERE s.biller_id = p.biller_id AND s.channel = p.channel AND s.valid_from <= p.business_date
    ORDER BY s.valid_from DESC LIMIT 1
) f ON true
WHERE p.business_date = %s AND p.status = 'posted'
GROUP BY p.biller_id
"""


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--province", action="store_true", help="settle a day of the loaded province")
    parser.add_argument("--day", type=datetime.date.fromisoformat, help="the day to settle (YYYY-MM-DD)")
    parser.add_argument("--strict", action="store_true", help="exit 3 when the floor is missed")
    parser.add_argument("--allow-any-database-name", action="store_true")
    return parser.parse_args(argv)


def refuse(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


def pick_day(requested: datetime.date | None, today: datetime.date):
    """(day, why not) — the day to settle, or None and the reason."""
    from django.db.models import Count

    from billing.choices import PaymentStatus
    from billing.models import Payment
    from reconciliation import working_days
    from reconciliation.models import SettlementBatch, SettlementRun

    settled = set(SettlementRun.objects.values_list("business_date", flat=True)) | set(
        SettlementBatch.objects.values_list("business_date", flat=True).distinct()
    )
    if requested is not None:
        if requested in settled:
            return (
                None,
                f"{requested} is already settled on this database: nothing to do (pick another --day).",
            )
        return requested, ""
    per_day = dict(
        Payment.objects.filter(status=PaymentStatus.POSTED)
        .values_list("business_date")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("business_date", "n")
    )
    if not per_day:
        return None, "The province has no payments."
    average = sum(per_day.values()) / len(per_day)
    for day in sorted(per_day):
        typical = average <= per_day[day] < 1.5 * average
        if typical and day not in settled and working_days.next_working_day(day) <= today:
            return day, ""
    return None, (
        f"Every day of the province with a typical number of payments ({average:.0f} to {1.5 * average:.0f}) "
        "is already settled on this database: nothing to do (name another with --day, or use a fresh copy)."
    )


def ensure_fee_schedules(grid_id: int) -> int:
    """Biller-borne schedules for every biller, unless the grid has one: the number made."""
    from billing.models import Biller, FeeSchedule, Payment

    if FeeSchedule.objects.filter(biller_id=grid_id).exists():
        return 0
    first = Payment.objects.order_by("business_date").values_list("business_date", flat=True).first()
    rows = [
        FeeSchedule(
            biller_id=biller_id,
            channel=channel,
            fixed_fee=fixed,
            percentage=percentage,
            min_fee=least,
            max_fee=most,
            payer_pays=False,
            valid_from=first,
        )
        for biller_id in Biller.objects.values_list("pk", flat=True)
        for channel, fixed, percentage, least, most in FEE_SCHEDULES
    ]
    FeeSchedule.objects.bulk_create(rows, batch_size=10_000, ignore_conflicts=True)
    return len(rows)


def reconcile_day(day: datetime.date) -> int:
    """One finished run per channel matching every posted payment of the day (kept if a crashed run of
    this script left them): the matched payments."""
    from django.db import connection, transaction
    from django.utils import timezone

    from reconciliation.choices import MatchClass, MatchMethod, RunStatus
    from reconciliation.models import ReconciliationRun

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT channel FROM billing_payment WHERE business_date = %s AND status = 'posted'",
            [day],
        )
        for (channel,) in cursor.fetchall():
            code = f"{RUN_PREFIX}{channel.upper()}"
            if ReconciliationRun.objects.filter(channel_code=code, business_date=day).exists():
                continue
            now = timezone.now()
            run = ReconciliationRun.objects.create(
                channel_code=code,
                business_date=day,
                status=RunStatus.DONE,
                attempts=1,
                started_at=now,
                finished_at=now,
                percent=100,
            )
            cursor.execute(
                """INSERT INTO reconciliation_matchresult
                       (run_id, klass, method, payment_id, line_amount, payment_amount, candidates)
                   SELECT %s, %s, %s, id, amount, amount, 1 FROM billing_payment
                   WHERE business_date = %s AND status = 'posted' AND channel = %s""",
                [run.pk, MatchClass.MATCHED, MatchMethod.CHANNEL_REF, day, channel],
            )
            ReconciliationRun.objects.filter(pk=run.pk).update(
                counts={MatchClass.MATCHED: cursor.rowcount}, total_lines=cursor.rowcount
            )
        cursor.execute(
            """SELECT count(*) FROM reconciliation_matchresult m
               JOIN reconciliation_reconciliationrun r ON r.id = m.run_id
               WHERE r.business_date = %s AND r.channel_code LIKE %s""",
            [day, f"{RUN_PREFIX}%"],
        )
        return cursor.fetchone()[0]


def day_totals(day: datetime.date) -> tuple[dict[int, tuple[int, Decimal, Decimal]], float]:
    """The machine's limit: the day's allocations and fees per biller in one GROUP BY, and its seconds."""
    from django.db import connection

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(DAY_TOTALS_SQL, [day])
        rows = cursor.fetchall()
        seconds = time.perf_counter() - started
    return {biller_id: (count, gross, fees) for biller_id, count, gross, fees in rows}, seconds


def settle(day: datetime.date) -> dict:
    """The timed part: the settlement service, as the command and the nightly task call it."""
    from django.db import connection

    import billing.tasks  # noqa: F401 - loaded in the Celery worker that runs the nightly settlement
    from reconciliation import services

    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    backend_before = proc_cpu_seconds(backend)
    cpu_before = time.process_time()
    started = time.perf_counter()
    with connection.execute_wrapper(count):
        run = services.settle_day(day=day)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    backend_after = proc_cpu_seconds(backend)
    return {
        "run": run,
        "wall": wall,
        "cpu": cpu,
        "db_cpu": None if backend_before is None or backend_after is None else backend_after - backend_before,
        "queries": queries,
    }


def check(day: datetime.date, expected: dict) -> list[tuple[str, bool, str]]:
    from django.db import connection
    from django.db.models import Count, Sum

    from billing.models import AuditEvent, OutboxEvent
    from reconciliation.models import SettlementBatch, SettlementItem

    batches = list(SettlementBatch.objects.filter(business_date=day))
    per_biller: dict[int, list] = {}
    for batch in batches:
        per_biller.setdefault(batch.biller_id, []).append(batch)
    checks = [
        (
            "every biller with money that day has exactly one batch, no other biller one",
            set(per_biller) == set(expected) and all(len(rows) == 1 for rows in per_biller.values()),
            f"{len(per_biller)} billers with batches, {len(expected)} with money",
        )
    ]
    wrong = [
        batch.biller_id
        for batch in batches
        if batch.biller_id not in expected
        or (batch.payment_count, batch.gross, batch.fees) != expected[batch.biller_id]
        or batch.net != batch.gross - batch.fees
    ]
    checks.append(
        (
            "each batch: count, gross and fees equal the day's allocations and fees; net = gross - fees",
            not wrong,
            f"{len(wrong)} batches differ" + (f" (billers {wrong[:5]})" if wrong else ""),
        )
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n <> 1),
                      count(*) FILTER (WHERE n IS NULL)
               FROM billing_payment p
               LEFT JOIN (SELECT payment_id, count(*) AS n FROM reconciliation_settlementitem
                          WHERE kind = 'payment' GROUP BY payment_id) i ON i.payment_id = p.id
               WHERE p.business_date = %s AND p.status = 'posted'""",
            [day],
        )
        once, more, none = cursor.fetchone()
        checks.append(
            ("each payment of the day is in exactly one item", not more and not none, f"{once} once")
        )
        items = SettlementItem.objects.filter(batch__business_date=day).count()
        checks.append(("no other item in the day's batches", items == once, f"{items} items"))
        cursor.execute(
            """SELECT count(*) FROM (
                   SELECT l.entry_id FROM billing_journalline l
                   JOIN reconciliation_settlementbatch b ON b.journal_entry_id = l.entry_id
                   WHERE b.business_date = %s GROUP BY l.entry_id HAVING sum(l.amount) <> 0 OR count(*) < 2
               ) unbalanced""",
            [day],
        )
        unbalanced = cursor.fetchone()[0]
        cursor.execute("SELECT COALESCE(sum(amount), 0) FROM billing_journalline")
        ledger_total = cursor.fetchone()[0]
        checks.append(
            (
                "every settlement entry balances; the ledger sums to zero",
                unbalanced == 0 and ledger_total == 0,
                f"{unbalanced} unbalanced, ledger total {ledger_total}",
            )
        )
        cursor.execute(
            """SELECT a.kind, a.code, sum(l.amount) FROM billing_journalline l
               JOIN billing_ledgeraccount a ON a.id = l.account_id
               JOIN reconciliation_settlementbatch b ON b.journal_entry_id = l.entry_id
               WHERE b.business_date = %s GROUP BY a.kind, a.code""",
            [day],
        )
        moved = cursor.fetchall()
    totals = SettlementBatch.objects.filter(business_date=day).aggregate(
        gross=Sum("gross"), fees=Sum("fees"), net=Sum("net"), shared=Sum("shared")
    )
    payables = sum(
        (amount for kind, _code, amount in moved if kind in ("biller_payable", "late_fee_payable"))
    )
    bank = sum((amount for _kind, code, amount in moved if code == "SETTLEMENT"), Decimal("0"))
    fee_income = sum((amount for _kind, code, amount in moved if code == "FEES"), Decimal("0"))
    checks.append(
        (
            "payables debited by the gross, the bank credited by the net, fee income by the fees",
            (payables, bank, fee_income) == (totals["gross"], -totals["net"], -totals["fees"]),
            f"payables {payables}, bank {bank}, fees {fee_income}",
        )
    )
    entries = [batch.journal_entry_id for batch in batches if batch.journal_entry_id]
    events = OutboxEvent.objects.filter(
        type="settlement.settled",
        aggregate_type="journal_entry",
        aggregate_id__in=[str(pk) for pk in entries],
    ).count()
    audits = (
        AuditEvent.objects.filter(action="settlement.built", target_id__in=[str(b.pk) for b in batches])
        .values("target_id")
        .annotate(n=Count("id"))
    )
    checks.append(
        (
            "one outbox event per settlement entry, one audit event per batch",
            events == len(entries) and len(audits) == len(batches) and all(a["n"] == 1 for a in audits),
            f"{events} events for {len(entries)} entries, {len(audits)} audited of {len(batches)}",
        )
    )
    files = sum(1 for batch in batches if batch.remittance_csv and batch.remittance_xml)
    checks.append(("every batch has its remittance files", files == len(batches), f"{files} with both"))
    return checks


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.province:
        return refuse(
            "benchmarks/settlement.py measures a day's settlement of a whole province: run it with "
            "--province on BENCH_PROVINCE_DATABASE_URL (build one with benchmarks/province.py)."
        )
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    url = os.environ.get("BENCH_PROVINCE_DATABASE_URL", province.DEFAULT_URL)
    province.configure(url, args.allow_any_database_name)
    from benchdb import require_province
    from django.utils import timezone

    from billing.exceptions import BillingError

    found = require_province()
    today = timezone.localdate()
    day, why_not = pick_day(args.day, today)
    if day is None:
        print(why_not)
        return 0
    floor = FLOOR_SECONDS * found["billers"] / FLOOR_BILLERS
    print(f"province: {found['billers']} billers (scale {found['scale']}); settling {day} as of {today}")

    started = time.perf_counter()
    schedules = ensure_fee_schedules(found["grid_id"])
    matched = reconcile_day(day)
    expected, limit = day_totals(day)
    print(
        f"prepared in {time.perf_counter() - started:.1f} s: {schedules} fee schedules made, "
        f"{matched} payments matched by {RUN_PREFIX}* runs, {len(expected)} billers with money"
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        measured = settle(day)
    except BillingError as refused:
        return refuse(f"settlement of {day} refused: {refused.code}: {refused.message}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    run = measured["run"]
    gross = sum((row[1] for row in expected.values()), Decimal("0"))
    fees = sum((row[2] for row in expected.values()), Decimal("0"))
    payments = sum(row[0] for row in expected.values())
    met = measured["wall"] <= floor
    db_cpu = "n/a" if measured["db_cpu"] is None else f"{measured['db_cpu']:.1f} s"
    print(
        f"\nsettle_day({day}): {measured['wall']:.2f} s wall  {'<=' if met else '> '} floor {floor:.2f} s "
        f"(60 s for 20,000 billers, scaled to {found['billers']})\n"
        f"  machine limit, one GROUP BY of the day's allocations and fees per biller: {limit:.2f} s "
        f"({measured['wall'] / limit if limit else 0:.0f}x)\n"
        f"  CPU: this process {measured['cpu']:.1f} s, its PostgreSQL backend {db_cpu}; "
        f"{measured['queries']} queries\n"
        f"  {run.batches_built} batches, {payments} payments, gross {gross}, fees {fees}, settled (net) "
        f"{gross - fees}; peak RSS {peak:.0f} MB (before the run {rss_before:.0f} MB)"
    )
    checks = check(day, expected)
    print()
    for label, ok, detail in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {label}: {detail}")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    checked = all(ok for _label, ok, _detail in checks)
    figures.record(
        "settlement",
        f"settlement of a day, {found['billers']:,} billers",
        f"{measured['wall']:.2f} s" + ("" if checked else " (a check FAILED)"),
        f"<= {floor:.0f} s",
        met=met and checked,
    )
    if not checked:
        return 1
    return 3 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
