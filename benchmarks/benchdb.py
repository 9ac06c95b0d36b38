"""The benchmarks' own PostgreSQL databases: each benchmark has one (`billpay_bench*`) and makes it on first
use, so `make bench` runs on a fresh machine."""

import psycopg


def ensure_database(config: dict) -> None:
    """Create the database a Django DATABASES entry names, unless it exists."""
    with psycopg.connect(
        host=config["HOST"] or "127.0.0.1",
        port=config["PORT"] or 5432,
        user=config["USER"] or "postgres",
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{config["NAME"]}"')
