"""Before the tests: are PostgreSQL and Redis reachable? If not, say how to start them and stop.

PostgreSQL is the platform's only database engine (the settings refuse any other), and the concurrency
tests need its row locks to prove anything about paying one bill from two counters at once.
"""

import os
import sys

import dj_database_url
import psycopg
import redis

HOW_TO_START_POSTGRES = """\
Start PostgreSQL (Debian): pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
or install it: apt-get install -y postgresql && pg_ctlcluster $(ls /etc/postgresql) main start
or point DATABASE_URL at a server, e.g. postgres://postgres@127.0.0.1:5432/billpay"""

HOW_TO_START_REDIS = """\
Start Redis: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
or install it: apt-get install -y redis-server
or point CELERY_BROKER_URL at a server, e.g. redis://127.0.0.1:6379/0"""


def check_postgres(url: str) -> None:
    config = dj_database_url.parse(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        sys.exit(f"DATABASE_URL must be PostgreSQL for the tests, not {config['ENGINE']} ({url}).")
    params = {
        "host": config["HOST"] or "127.0.0.1",
        "port": config["PORT"] or 5432,
        "user": config["USER"] or "postgres",
        "password": config["PASSWORD"] or None,
        "connect_timeout": 3,
    }
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{config["NAME"]}"')
    except psycopg.OperationalError as exc:
        sys.exit(
            f"PostgreSQL is not reachable at {params['host']}:{params['port']}: {exc}\n"
            f"{HOW_TO_START_POSTGRES}"
        )
    print(f"PostgreSQL ok at {params['host']}:{params['port']} (database {config['NAME']})")


def check_redis(url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        sys.exit(f"Redis is not reachable at {url}: {exc}\n{HOW_TO_START_REDIS}")
    print(f"Redis ok at {url}")


if __name__ == "__main__":
    check_postgres(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/billpay"))
    if "--database-only" not in sys.argv:
        check_redis(os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"))
