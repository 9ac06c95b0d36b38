"""The benchmarks' own PostgreSQL databases: each benchmark has one (`billpay_bench*`), refuses any other (it
empties tables), makes it on first use so that `make bench` runs on a fresh machine, and sets Django up on it
as production runs (DEBUG off, warnings only in the log)."""

import argparse
import os
import sys
from pathlib import Path

import psycopg
from province import GRID_CODE, OWN_BILLER_CODES

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The benchmarks' cache, in Redis as production's (CACHE_URL overrides it): `bench_cache_url()`.
CACHE_URL_DEFAULT = "redis://127.0.0.1:6379/4"


def bench_cache_url() -> str:
    return os.environ.get("CACHE_URL", CACHE_URL_DEFAULT)


# What every benchmark's Django runs with unless the environment says otherwise.
PRODUCTION_LIKE = {
    "DEBUG": "false",
    "SECRET_KEY": "benchmark-only-not-a-secret",
    "API_CREDENTIAL_KEY": "benchmark-only-not-a-secret",
    "LOG_LEVEL": "WARNING",
}


def connect(config: dict, dbname: str):
    """A plain psycopg connection (autocommit) to `dbname` on the benchmark's server, outside Django."""
    return psycopg.connect(
        host=config["HOST"] or "127.0.0.1",
        port=config["PORT"] or 5432,
        user=config["USER"] or "postgres",
        password=config["PASSWORD"] or None,
        dbname=dbname,
        autocommit=True,
        connect_timeout=5,
    )


def ensure_database(config: dict) -> None:
    """Create the database a Django DATABASES entry names, unless it exists."""
    with connect(config, "postgres") as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{config["NAME"]}"')


class WalMeter:
    """What the server wrote to its WAL between `start` and `stop` (pg_stat_wal, PostgreSQL 14+: the whole
    server's, so whatever else runs meanwhile is counted too), and how many checkpoints began: a page's first
    change after a checkpoint writes the whole page to the WAL, so the same work costs more right after one.
    """

    _SQL = (
        "SELECT wal_records, wal_fpi, wal_bytes, "
        "(SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter) FROM pg_stat_wal"
    )

    def __init__(self, config: dict):
        self.config = config
        self.before = self.after = None

    def _read(self):
        try:
            with connect(self.config, "postgres") as conn:
                return conn.execute(self._SQL).fetchone()
        except psycopg.Error:
            return None  # a server before 14, or no right to read it: the figure is left out

    def start(self) -> "WalMeter":
        self.before = self._read()
        return self

    def stop(self) -> "WalMeter":
        self.after = self._read()
        return self

    def per(self, count: int, unit: str) -> str:
        """ "WAL 12.3 records, 4.1 full-page images, 18.2 kB a payment (0 checkpoints)", or why not."""
        if self.before is None or self.after is None or not count:
            return "not read (pg_stat_wal needs PostgreSQL 14)"
        records, fpi, size, checkpoints = (a - b for a, b in zip(self.after, self.before, strict=True))
        return (
            f"{records / count:.1f} records, {fpi / count:.2f} full-page images, "
            f"{size / count / 1024:.1f} kB a {unit} "
            f"({checkpoints} checkpoint{'s' if checkpoints != 1 else ''} began meanwhile)"
        )


def _refuse(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(2)  # every benchmark's "refused configuration"


def setup_django_on(
    url: str,
    *,
    setting: str,
    allow_any_name: bool | None = None,
    name_words: tuple[str, ...] = ("bench",),
    environment: dict[str, str] | None = None,
) -> dict:
    """Refuse a database that is not PostgreSQL or whose name has none of `name_words` (unless
    `allow_any_name`: the flag --allow-any-database-name, None where a benchmark has no such flag), make it
    if missing, set Django up on it and return its DATABASES entry. `setting` names the variable the URL
    came from, for the refusal's message."""
    import dj_database_url

    config = dj_database_url.parse(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        _refuse(f"{setting} must be a PostgreSQL database, not {url!r}.")
    if not any(word in config["NAME"] for word in name_words) and not allow_any_name:
        hint = (
            " Pass --allow-any-database-name if it really is a scratch database."
            if allow_any_name is False
            else ""
        )
        _refuse(
            f"Refusing to empty the platform's tables of {config['NAME']!r} ({setting}): its name has "
            f"none of {', '.join(name_words)}.{hint}"
        )
    ensure_database(config)
    for name, value in {**PRODUCTION_LIKE, **(environment or {})}.items():
        os.environ.setdefault(name, value)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    for path in (str(PROJECT_ROOT), str(Path(__file__).resolve().parent)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import django

    django.setup()
    return config


PROVINCE_DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/billpay_bench_province"


def setup_django_on_province(
    *, allow_any_name: bool | None, environment: dict[str, str] | None = None
) -> dict:
    """`setup_django_on` the province of a --province run (BENCH_PROVINCE_DATABASE_URL)."""
    return setup_django_on(
        os.environ.get("BENCH_PROVINCE_DATABASE_URL", PROVINCE_DEFAULT_URL),
        setting="BENCH_PROVINCE_DATABASE_URL",
        allow_any_name=allow_any_name,
        name_words=("province", "bench"),
        environment=environment,
    )


def require_province() -> dict:
    """The province that benchmarks/province.py loaded into the database Django is set up on (`--province`
    runs of the other benchmarks measure on it and add their own rows beside it, never emptying a table),
    or refuse (exit 2) with the command that builds one. Returns its scale and the grid biller's id."""
    from billing.models import Biller

    grid = Biller.objects.filter(code=GRID_CODE).values("id").first()
    if grid is None:
        _refuse(
            "No province in this database: build one first with `make bench-province` or "
            "`benchmarks/province.py --scale S` on the same BENCH_PROVINCE_DATABASE_URL."
        )
    billers = Biller.objects.count()
    return {"scale": round(billers / 20_000, 4), "billers": billers, "grid_id": grid["id"]}


def province_purge_args(argv: list[str], doc: str, *, rows: str, what: str) -> argparse.Namespace:
    """The arguments of a purge benchmark (benchmarks/outbox_purge.py, retention_purge.py): --province, which
    is required (a purge measures on a province only), and `--<rows>`, how many old rows a set, at least 1."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--province", action="store_true", help="measure on the province (required)")
    parser.add_argument(f"--{rows}", type=int, default=1_000_000, help=what)
    args = parser.parse_args(argv)
    if not args.province:
        parser.error("--province is required: this benchmark measures on a province (benchmarks/province.py)")
    if getattr(args, rows) < 1:
        parser.error(f"--{rows} must be at least 1")
    return args


def print_checks(checks: list[tuple[str, bool, str]]) -> bool:
    """Print a benchmark's checks, (name, ok, detail) each, one line a check; whether all of them passed."""
    for name, ok, detail in checks:
        print(f"check  {'ok  ' if ok else 'FAIL'}  {name}: {detail}")
    return all(ok for _name, ok, _detail in checks)


def rough_rows_sql(table: str) -> str:
    """SQL for about how many rows `table` holds, without a count(*) of 24 million bills: the larger of
    the last ANALYZE's estimate and the statistics' live rows (reset by a crash, empty in a copied
    database)."""
    return (
        f"GREATEST((SELECT reltuples::bigint FROM pg_class WHERE oid = '{table}'::regclass), "
        f"(SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = '{table}'))"
    )


def open_bills_of_province(count: int, *, salt: str) -> list[tuple]:
    """Up to `count` payment requests against the province's open bills, one per customer account: accounts
    holding an unpaid bill of the last period, at active billers whose bills are not live, picked at random
    (`salt` varies the pick, so a rerun on the same database takes other accounts; a bill paid by an
    earlier run is no longer open). Each pays the account's oldest payable bill, at today's amount.
    Returns (biller code, account no, amount) in random order."""
    from django.db import connection

    from billing import amounts
    from billing.choices import PAYABLE_BILL_STATUSES, BillerStatus
    from billing.models import Bill

    statuses = list(PAYABLE_BILL_STATUSES)
    with connection.cursor() as cursor:
        # The province's own billers only: the import benchmark's BENCHIMPORT, run beside it, has later
        # periods with a million bills of one biller, which would make this a one-biller run.
        cursor.execute(
            "SELECT max(b.period) FROM billing_bill b WHERE b.biller_id = "
            "(SELECT id FROM billing_biller WHERE code = %s)",
            [GRID_CODE],
        )
        (period,) = cursor.fetchone()
        cursor.execute(
            """
            SELECT oldest.id FROM (
                SELECT b.account_id FROM billing_bill b JOIN billing_biller br ON br.id = b.biller_id
                WHERE b.period = %s AND b.status = ANY(%s) AND br.status = %s
                  AND br.code ~ %s
                  AND NOT EXISTS (
                      SELECT 1 FROM billing_billerlink l WHERE l.biller_id = br.id AND l.mode <> 'pushed'
                  )
                ORDER BY md5(b.account_id::text || %s) LIMIT %s
            ) picked
            CROSS JOIN LATERAL (
                SELECT o.id FROM billing_bill o WHERE o.account_id = picked.account_id AND o.status = ANY(%s)
                ORDER BY o.due_date, o.period, o.id LIMIT 1
            ) oldest
            """,
            [period, statuses, BillerStatus.ACTIVE, OWN_BILLER_CODES, salt, count, statuses],
        )
        ids = [row[0] for row in cursor.fetchall()]
    requests = {}
    for bill in Bill.objects.filter(pk__in=ids).select_related("biller", "account"):
        amount = amounts.amount_due(bill).outstanding
        biller = bill.biller
        if amount < biller.min_amount or (biller.max_amount is not None and amount > biller.max_amount):
            continue  # post_payment would refuse it
        requests[bill.pk] = (biller.code, bill.account.account_no, amount)
    return [requests[bill_id] for bill_id in ids if bill_id in requests]
