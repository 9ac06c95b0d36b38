"""The benchmarks' own PostgreSQL databases: each benchmark has one (`billpay_bench*`), refuses any other (it
empties tables), makes it on first use so that `make bench` runs on a fresh machine, and sets Django up on it
as production runs (DEBUG off, warnings only in the log)."""

import os
import sys
from pathlib import Path

import psycopg

PROJECT_ROOT = Path(__file__).resolve().parent.parent
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


def require_province() -> dict:
    """The province that benchmarks/province.py loaded into the database Django is set up on (`--province`
    runs of the other benchmarks measure on it and add their own rows beside it, never emptying a table),
    or refuse (exit 2) with the command that builds one. Returns its scale and the grid biller's id."""
    from billing.models import Biller

    grid = Biller.objects.filter(code="PROVGRID").values("id").first()
    if grid is None:
        _refuse(
            "No province in this database: build one first with `make bench-province` or "
            "`benchmarks/province.py --scale S` on the same BENCH_PROVINCE_DATABASE_URL."
        )
    billers = Biller.objects.count()
    return {"scale": round(billers / 20_000, 4), "billers": billers, "grid_id": grid["id"]}


def rough_rows_sql(table: str) -> str:
    """SQL for about how many rows `table` holds, without a count(*) of 24 million bills: the larger of
    the last ANALYZE's estimate and the statistics' live rows (reset by a crash, empty in a copied
    database)."""
    return (
        f"GREATEST((SELECT reltuples::bigint FROM pg_class WHERE oid = '{table}'::regclass), "
        f"(SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = '{table}'))"
    )
