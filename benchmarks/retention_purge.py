"""The retention of webhook deliveries and of Idempotency-Key records on a province (issue 16, item 3): how
fast `api.webhooks.purge_finished` and `api.idempotency.purge_expired` delete, each beside one plain DELETE
of as many rows in the same run (the machine's own limit for the same work).

    BENCH_PROVINCE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench_province \\
        .venv/bin/python benchmarks/retention_purge.py --province

Runs on the province benchmarks/province.py built (`benchdb.require_province`), emptying nothing. Untimed,
it adds by SQL, for each table, two sets of `--rows` rows past their retention (1,000,000 by default), the
second a day younger than the first, and what must stay:
- webhook deliveries: delivered deliveries of the province's payments to one partner, made
  WEBHOOK_RETENTION_DAYS + 11 and + 10 days ago, each with its one attempt; kept: 1,000 as old but still
  retrying (with an attempt) and 1,000 delivered yesterday;
- Idempotency-Key records: a partner's answered requests made API_IDEMPOTENCY_RETENTION_HOURS + 48 and
  + 24 hours ago; kept: 1,000 made an hour ago.

Timed, per table: the purge as beat's hourly task calls it (10,000 rows a statement, its own transaction),
over the older set, called again until it deletes nothing; then the floor: one statement deleting the
younger set (for deliveries with their attempts), one transaction. Each with its WAL and rows a second.

The checks: both old sets gone (deliveries' attempts too); the rows that must stay all stay, and are then
deleted and the three tables vacuumed (the province is left as found).

Exit status: 0 when every check passed, 1 when a check failed, 2 on a refused configuration.
"""

import datetime
import sys
import time

from benchdb import WalMeter, print_checks, province_purge_args, require_province, setup_django_on_province

KEPT = 1_000  # rows that must stay, of each kind
TABLES = ("api_webhookdelivery", "api_webhookattempt", "api_idempotencyrecord")  # vacuumed before and after

# `count` deliveries of the province's payments 1..count (`offset` shifts them) to one partner, made one
# after the other over a day from `start`, each with one attempt; delivered, or retrying when not
# `finished`. The payload is about a posted payment's event.
_DELIVERIES_SQL = """
WITH made AS MATERIALIZED (
    INSERT INTO api_webhookdelivery (
        event, event_id, payload, status, attempts, next_attempt_at, last_status_code, last_error,
        delivered_at, created_at, partner_id, payment_id
    )
    SELECT 'payment.posted', %(tag)s || i::text,
        jsonb_build_object('id', %(tag)s || i::text, 'type', 'payment.posted', 'created_at', at,
            'data', jsonb_build_object('receipt_no', 'R20260828' || lpad(i::text, 16, '0'),
                'amount', '64.00', 'status', 'posted', 'channel', 'partner', 'biller_code', 'B00001',
                'account_no', '064720079019')),
        CASE WHEN %(finished)s THEN 'delivered' ELSE 'retrying' END, 1,
        CASE WHEN %(finished)s THEN NULL ELSE at + interval '1 minute' END,
        CASE WHEN %(finished)s THEN 200 ELSE 503 END, '',
        CASE WHEN %(finished)s THEN at END, at, %(partner)s, p.id
    FROM (SELECT i, %(start)s::timestamptz + (i * %(step)s) * interval '1 millisecond' AS at
          FROM generate_series(0, %(count)s - 1) AS i) days
    JOIN billing_payment p ON p.id = i + 1 + %(offset)s
    RETURNING id, created_at, status
)
INSERT INTO api_webhookattempt (attempted_at, status_code, error, duration_ms, manual, delivery_id)
SELECT created_at, CASE WHEN status = 'delivered' THEN 200 ELSE 503 END, '', 40, false, id FROM made
"""

# `count` answered requests of one partner, made one after the other over a day from `start`.
_RECORDS_SQL = """
INSERT INTO api_idempotencyrecord (scope, key, request_hash, status_code, response_body, created_at)
SELECT %(scope)s, 'k' || i::text, md5(i::text) || md5(%(scope)s), 201,
    jsonb_build_object('receipt_no', 'R20260828' || lpad(i::text, 16, '0'), 'amount', '64.00',
        'status', 'posted',
        'bills', jsonb_build_array(jsonb_build_object('period', '2026-08', 'amount', '64.00'))),
    %(start)s::timestamptz + (i * %(step)s) * interval '1 millisecond'
FROM generate_series(0, %(count)s - 1) AS i
"""

# The floors: one statement each, one transaction.
_DELIVERIES_FLOOR_SQL = """
WITH gone AS (
    DELETE FROM api_webhookdelivery WHERE event_id LIKE %(like)s RETURNING id
), attempts AS (
    DELETE FROM api_webhookattempt WHERE delivery_id IN (SELECT id FROM gone)
)
SELECT count(*) FROM gone
"""
_RECORDS_FLOOR_SQL = "DELETE FROM api_idempotencyrecord WHERE scope = %(scope)s"


def _run(sql: str, **params) -> int:
    """Run one statement; its first value when it answers a row, else the rows it touched."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0] if cursor.description else cursor.rowcount


def _count(sql: str, **params) -> int:
    return _run(f"SELECT count(*) FROM {sql}", **params)


def _timed(label: str, config: dict, call) -> tuple[int, float]:
    """Run `call` (returns rows deleted) with its WAL measured; print and return (rows, seconds)."""
    wal = WalMeter(config).start()
    started = time.perf_counter()
    rows = call()
    seconds = time.perf_counter() - started
    wal.stop()
    print(
        f"{label:<22} {rows:,} rows in {seconds:.2f} s, {rows / seconds:,.0f} rows/s; "
        f"WAL {wal.per(rows, 'row')}"
    )
    return rows, seconds


def _until_nothing(purge) -> int:
    """Call a purge (at most 100 batches a call, as beat's task) again until it deletes nothing."""
    total = 0
    while deleted := purge():
        total += deleted
    return total


def _ratio(purge: tuple[int, float], floor: tuple[int, float]) -> str:
    return f"the purge at {(purge[0] / purge[1]) / (floor[0] / floor[1]):.2f}× the floor's rows a second"


def main(argv: list[str]) -> int:
    args = province_purge_args(argv, __doc__, rows="rows", what="old rows of each set (2 sets a table)")
    config = setup_django_on_province(allow_any_name=None)
    province = require_province()
    from django.conf import settings
    from django.utils import timezone

    from api import idempotency, webhooks
    from api.models import Partner

    days, hours = settings.WEBHOOK_RETENTION_DAYS, settings.API_IDEMPOTENCY_RETENTION_HOURS
    if days <= 0:
        print("WEBHOOK_RETENTION_DAYS is 0 (keep every delivery): nothing to measure.", file=sys.stderr)
        return 2
    partner = Partner.objects.order_by("pk").values_list("pk", flat=True).first()
    payments = _count("billing_payment")
    if partner is None or payments < 2 * args.rows + 2 * KEPT:
        print(f"The province needs a partner and {2 * args.rows + 2 * KEPT:,} payments.", file=sys.stderr)
        return 2
    now = timezone.now()
    stamp = f"bench-ret-{now:%Y%m%d%H%M%S}"
    older, younger = now - datetime.timedelta(days=days + 11), now - datetime.timedelta(days=days + 10)
    print(
        f"retention purge benchmark on the province at scale {province['scale']} ({config['NAME']}): "
        f"2 × {args.rows:,} webhook deliveries (with an attempt each) and 2 × {args.rows:,} Idempotency-Key "
        f"records past their retention, WEBHOOK_RETENTION_DAYS={days}, "
        f"API_IDEMPOTENCY_RETENTION_HOURS={hours}"
    )

    started = time.perf_counter()
    tags = {name: f"{stamp}-{name}-" for name in ("purge", "floor", "retrying", "recent")}
    sets = {
        "purge": (older, args.rows, 0, True),
        "floor": (younger, args.rows, args.rows, True),
        "retrying": (older, KEPT, 2 * args.rows, False),
        "recent": (now - datetime.timedelta(days=1), KEPT, 2 * args.rows + KEPT, True),
    }
    for name, (start, count, offset, finished) in sets.items():
        _run(
            _DELIVERIES_SQL,
            tag=tags[name],
            start=start,
            step=86_400_000 // count,
            count=count,
            offset=offset,
            finished=finished,
            partner=partner,
        )
    scopes = {name: f"bench:{stamp}:{name}" for name in ("purge", "floor", "recent")}
    record_hours = {"purge": hours + 48, "floor": hours + 24, "recent": 1}
    for name, scope in scopes.items():
        count = KEPT if name == "recent" else args.rows
        start = now - datetime.timedelta(hours=record_hours[name])
        _run(_RECORDS_SQL, scope=scope, start=start, step=3_600_000 // count, count=count)  # over an hour
    for table in TABLES:
        _run(f"VACUUM ANALYZE {table}")
    print(f"setup: {time.perf_counter() - started:.1f} s (untimed)")

    # Each purge is run as if on the day (hour) its cutoff falls between its two old sets.
    delivery_purge = _timed(
        "purge_finished",
        config,
        lambda: _until_nothing(lambda: webhooks.purge_finished(now=younger + datetime.timedelta(days=days))),
    )
    delivery_floor = _timed(
        "  floor: one DELETE", config, lambda: _run(_DELIVERIES_FLOOR_SQL, like=f"{tags['floor']}%")
    )
    print(f"  ratio                {_ratio(delivery_purge, delivery_floor)}")
    # Its cutoff (36 h + the retention ago) falls 12 h before the younger set and 11 h after the older.
    purge_at = now - datetime.timedelta(hours=36)
    record_purge = _timed(
        "purge_expired", config, lambda: _until_nothing(lambda: idempotency.purge_expired(purge_at))
    )
    record_floor = _timed(
        "  floor: one DELETE", config, lambda: _run(_RECORDS_FLOOR_SQL, scope=scopes["floor"])
    )
    print(f"  ratio                {_ratio(record_purge, record_floor)}")

    def deliveries(name: str) -> int:
        return _count("api_webhookdelivery WHERE event_id LIKE %(like)s", like=f"{tags[name]}%")

    def records(name: str) -> int:
        return _count("api_idempotencyrecord WHERE scope = %(scope)s", scope=scopes[name])

    orphans = _count(
        "api_webhookattempt a WHERE a.attempted_at < %(before)s AND NOT EXISTS "
        "(SELECT 1 FROM api_webhookdelivery d WHERE d.id = a.delivery_id)",
        before=now,
    )
    checks = [
        ("old delivered deliveries gone", deliveries("purge") == 0, f"{deliveries('purge')} left"),
        ("the purge deleted exactly them", delivery_purge[0] == args.rows, f"{delivery_purge[0]:,} deleted"),
        ("the floor's deliveries gone", deliveries("floor") == 0, f"{delivery_floor[0]:,} deleted"),
        ("no attempt left without its delivery", orphans == 0, f"{orphans} orphans"),
        (
            "old retrying deliveries stay",
            deliveries("retrying") == KEPT,
            f"{deliveries('retrying')} of {KEPT}",
        ),
        ("recent deliveries stay", deliveries("recent") == KEPT, f"{deliveries('recent')} of {KEPT}"),
        ("expired records gone", records("purge") == 0, f"{records('purge')} left"),
        ("the purge deleted exactly them", record_purge[0] == args.rows, f"{record_purge[0]:,} deleted"),
        ("the floor's records gone", records("floor") == 0, f"{record_floor[0]:,} deleted"),
        ("recent records stay", records("recent") == KEPT, f"{records('recent')} of {KEPT}"),
    ]
    for name in ("retrying", "recent"):  # leave the province as found
        _run(_DELIVERIES_FLOOR_SQL, like=f"{tags[name]}%")
    _run(_RECORDS_FLOOR_SQL, scope=scopes["recent"])
    # Without it the 4 million deleted rows stay behind as dead ones (CI's PostgreSQL runs no autovacuum):
    # the benchmarks after it would find 2 to 3 GB of dead rows in these tables.
    for table in TABLES:
        _run(f"VACUUM ANALYZE {table}")
    print()
    return 0 if print_checks(checks) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
