"""The demo's embedded PostgreSQL (scripts/demo_db.py) where pgserver cannot be installed: pgserver ships
no build for Python 3.13 or newer, so `make install` leaves it out there and `make run` must say why."""

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from tests.support import load_file_module

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "demo_db.py"


def _demo_db():
    return load_file_module(SCRIPT, "demo_db")


def test_on_a_python_pgserver_has_no_build_for_the_message_names_one_it_has():
    message = _demo_db().pgserver_missing((3, 13, 0, "final", 0))

    assert "no build for Python 3.13" in message
    assert "make run PYTHON=python3.12" in message
    assert "`make test` needs no pgserver" in message


def test_where_pgserver_has_a_build_the_message_asks_for_make_install():
    assert "run `make install`" in _demo_db().pgserver_missing((3, 12, 7, "final", 0))


def test_the_demo_extra_leaves_pgserver_out_exactly_where_the_script_says_it_has_no_build():
    demo_db = _demo_db()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (pgserver,) = [Requirement(line) for line in extras["demo"] if line.startswith("pgserver")]
    below = ".".join(map(str, demo_db.PGSERVER_PYTHON_BELOW))
    last = f"{demo_db.PGSERVER_PYTHON_BELOW[0]}.{demo_db.PGSERVER_PYTHON_BELOW[1] - 1}"

    assert not pgserver.marker.evaluate({"python_version": below})
    assert pgserver.marker.evaluate({"python_version": last})


def test_the_script_refuses_clearly_and_starts_nothing_when_pgserver_cannot_be_imported(tmp_path):
    # The running Python, with pgserver made unimportable (as on a Python it has no build for).
    blocked = (
        "import sys, runpy; sys.modules['pgserver'] = None; sys.argv = sys.argv[1:]; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocked, str(SCRIPT), "--data-dir", str(tmp_path / "pgdata"), "uri"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert _demo_db().pgserver_missing(sys.version_info) in result.stderr
    assert not (tmp_path / "pgdata").exists()
