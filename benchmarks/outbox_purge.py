"""The outbox's retention on a province (issue 16, item 3): how fast `billing.outbox.purge_published`
deletes published events, beside one plain DELETE of as many in the same run.

    BENCH_PROVINCE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench_province \\
        .venv/bin/python benchmarks/outbox_purge.py --province

Runs on the province benchmarks/province.py built (`benchdb.require_province`), emptying nothing. Untimed,
it gives the outbox two days of published `payment.posted` events made OUTBOX_RETENTION_DAYS + 10 days ago
(`--events` each, 1,000,000 by default: a fifth of a day at two billion payments a year; ids in time order
as `outbox.new_event_id` makes them, a payload of about 300 bytes, inserted by SQL), and beside them what
must stay: 1,000 events as old but never published, and 1,000 published yesterday.

Timed:
- the purge: `purge_published` as beat's hourly `billing.tasks.purge_outbox` calls it (10,000 events a
  transaction), over the first day's events, called again until it deletes nothing;
- the floor, the machine's own limit for the same work: one `DELETE … WHERE id < … AND published_at < …`
  of the second day's events (one statement, one transaction: what the purge's batches split up).
Each with the WAL it wrote and its events a second. The purge's ratio to the floor is printed.

The checks: every event of the two old days is gone; the old unpublished and the recent events all stay,
and are then deleted and the outbox vacuumed (the province is left as found).

Exit status: 0 when every check passed, 1 when a check failed, 2 on a refused configuration.
"""

import datetime
import sys
import time

from benchdb import WalMeter, print_checks, province_purge_args, require_province, setup_django_on_province

KEPT = 1_000  # old unpublished, and recent published: each as many


# A version 7 id made at `made` (as outbox.new_event_id): its millisecond, then version 7 and the random bits
# of a version 4 id. The payload is a posted payment's, about 300 bytes.
_INSERT_SQL = """
INSERT INTO billing_outboxevent (id, type, aggregate_type, aggregate_id, payload, created_at, published_at)
SELECT (substr(ms, 1, 8) || '-' || substr(ms, 9, 4) || '-7' || substr(r, 16))::uuid,
    'payment.posted', 'payment', %(tag)s || i::text,
    jsonb_build_object('bills', jsonb_build_array(jsonb_build_object('amount', '64.00', 'period', '2026-08')),
        'amount', '64.00', 'status', 'posted', 'channel', 'online', 'posted_at', made,
        'account_no', '064720079019', 'receipt_no', 'R20260828' || lpad(i::text, 16, '0'),
        'biller_code', 'B00001', 'reversed_at', null, 'business_date', made::date),
    made, CASE WHEN %(published)s THEN made END
FROM (
    SELECT i, made, lpad(to_hex((extract(epoch FROM made) * 1000)::bigint), 12, '0') AS ms,
        gen_random_uuid()::text AS r
    FROM (SELECT i, %(start)s::timestamptz + (i * %(step)s) * interval '1 millisecond' AS made
          FROM generate_series(0, %(count)s - 1) AS i) days
) ids
"""


def add_events(tag: str, start: datetime.datetime, count: int, *, published: bool = True) -> None:
    from django.db import connection

    params = {"tag": tag, "start": start, "step": 86_400_000 // count, "count": count, "published": published}
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, params)


def remaining(tag: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM billing_outboxevent WHERE aggregate_id LIKE %s", [f"{tag}%"])
        return cursor.fetchone()[0]


def main(argv: list[str]) -> int:
    args = province_purge_args(argv, __doc__, rows="events", what="old published events a day (2 days)")
    config = setup_django_on_province(allow_any_name=None)
    province = require_province()
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from billing import outbox

    days = settings.OUTBOX_RETENTION_DAYS
    if days <= 0:
        print("OUTBOX_RETENTION_DAYS is 0 (keep every event): nothing to measure.", file=sys.stderr)
        return 2
    now = timezone.now()
    stamp = f"{now:%Y%m%d%H%M%S}"
    purged_day, floor_day = now - datetime.timedelta(days=days + 11), now - datetime.timedelta(days=days + 10)
    tags = {name: f"bench-purge-{stamp}-{name}-" for name in ("purge", "floor", "unpublished", "recent")}
    print(
        f"outbox purge benchmark on the province at scale {province['scale']} ({config['NAME']}): "
        f"2 × {args.events:,} published events made {days + 11} and {days + 10} days ago, "
        f"OUTBOX_RETENTION_DAYS={days}"
    )
    started = time.perf_counter()
    add_events(tags["purge"], purged_day, args.events)
    add_events(tags["floor"], floor_day, args.events)
    add_events(tags["unpublished"], purged_day, KEPT, published=False)
    add_events(tags["recent"], now - datetime.timedelta(days=1), KEPT)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE billing_outboxevent")
        cursor.execute("SELECT count(*) FROM billing_outboxevent")
        total = cursor.fetchone()[0]
    print(f"setup: {total:,} events in the outbox after {time.perf_counter() - started:.1f} s (untimed)")

    # The purge would take both old days at once: it is run as if on the day its cutoff falls between them.
    # (Each event is published the moment it was made, so a day's events are one range of ids and of times.)
    purge_now = floor_day + datetime.timedelta(days=days)
    wal = WalMeter(config).start()
    started, calls, purged = time.perf_counter(), 0, 0
    while True:
        calls += 1
        deleted = outbox.purge_published(now=purge_now)
        purged += deleted
        if not deleted:
            break
    purge_seconds = time.perf_counter() - started
    wal.stop()
    print(
        f"purge_published  {purged:,} events in {purge_seconds:.2f} s ({calls} calls), "
        f"{purged / purge_seconds:,.0f} events/s; WAL {wal.per(purged, 'event')}"
    )

    floor_wal = WalMeter(config).start()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM billing_outboxevent WHERE id >= %s AND id < %s AND published_at < %s",
            [
                outbox.event_id_floor(floor_day),
                outbox.event_id_floor(floor_day + datetime.timedelta(days=1)),
                now - datetime.timedelta(days=days),
            ],
        )
        floor_deleted = cursor.rowcount
    floor_seconds = time.perf_counter() - started
    floor_wal.stop()
    print(
        f"floor            one DELETE of {floor_deleted:,} events in {floor_seconds:.2f} s, "
        f"{floor_deleted / floor_seconds:,.0f} events/s; WAL {floor_wal.per(floor_deleted, 'event')}"
    )
    ratio = (purged / purge_seconds) / (floor_deleted / floor_seconds)
    print(f"ratio            the purge at {ratio:.2f}× the floor's events a second")

    left = {name: remaining(tag) for name, tag in tags.items()}
    checks = [
        ("the purged day is gone", left["purge"] == 0, f"{left['purge']} left"),
        ("the purge deleted exactly that day", purged == args.events, f"{purged:,} deleted"),
        ("the floor's day is gone", left["floor"] == 0, f"{left['floor']} left, {floor_deleted:,} deleted"),
        ("old unpublished events stay", left["unpublished"] == KEPT, f"{left['unpublished']} of {KEPT}"),
        ("recent events stay", left["recent"] == KEPT, f"{left['recent']} of {KEPT}"),
    ]
    with connection.cursor() as cursor:  # leave the province as found
        for tag in tags.values():
            cursor.execute("DELETE FROM billing_outboxevent WHERE aggregate_id LIKE %s", [f"{tag}%"])
        cursor.execute("VACUUM ANALYZE billing_outboxevent")  # no dead rows left behind either
    print()
    return 0 if print_checks(checks) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
