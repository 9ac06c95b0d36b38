"""One database engine: the settings name no database of their own and refuse any engine but PostgreSQL,
so a process that lost its DATABASE_URL stops at start instead of writing somewhere else."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_settings(**env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.DATABASES['default']['HOST'], settings.DATABASES['default']['NAME'])",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_a_database_url_the_platform_stops_and_says_how_to_set_one():
    result = load_settings()
    assert result.returncode != 0
    assert "ImproperlyConfigured: DATABASE_URL is not set. `make run` starts the demo" in result.stderr


def test_a_sqlite_database_url_is_refused_naming_the_engine():
    result = load_settings(DATABASE_URL="sqlite:///db.sqlite3")
    assert result.returncode != 0
    assert "DATABASE_URL must name a PostgreSQL server" in result.stderr
    assert "django.db.backends.sqlite3" in result.stderr


def test_the_embedded_servers_socket_url_names_its_directory_as_the_host():
    result = load_settings(DATABASE_URL="postgres://postgres@%2Fsrv%2Fbillpay%2Fvar%2Fpgdata/billpay")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["/srv/billpay/var/pgdata", "billpay"]
