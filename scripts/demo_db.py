"""The demo's database: an embedded PostgreSQL (pgserver, from PyPI) in var/pgdata, no system service.

    python scripts/demo_db.py run -- CMD ARG...   start it, run CMD with DATABASE_URL set, stop it after
    python scripts/demo_db.py uri                 start it (it keeps running) and print DATABASE_URL
    python scripts/demo_db.py stop                stop it

`make run` uses `run`: the server lives exactly as long as the demo's commands (migrate, seed_demo,
runserver). The URI is a Unix socket in the data directory; nothing listens on a TCP port. Run as root,
pgserver creates a system user `pgserver` and runs PostgreSQL as it (PostgreSQL refuses to run as root);
for that user to reach the data directory and the server's binaries in .venv, pgserver opens every
directory above them to other users (g+rx, o+rx).
"""

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import quote

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "var" / "pgdata"
DATABASE = "billpay"
# pgserver has builds for the Pythons below this one only; pyproject.toml's marker on the demo extra agrees.
PGSERVER_PYTHON_BELOW = (3, 13)


def start(data_dir: Path, *, stop_at_exit: bool):
    """The running server (started if need be) with the demo's database created."""
    # As root there is no XDG_RUNTIME_DIR; platformdirs falls back to /tmp/runtime-0 and says so.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    try:
        import pgserver
    except ImportError:
        sys.exit(pgserver_missing(sys.version_info))
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(data_dir)
    server = pgserver.get_server(data_dir, cleanup_mode="stop" if stop_at_exit else None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE};")
    return server


def pgserver_missing(version: tuple) -> str:
    """Why the embedded PostgreSQL cannot start, and what to do: pgserver has no build for Python 3.13 or
    newer, so `make install` leaves it out there (pyproject.toml) and the demo needs an older Python."""
    if tuple(version[:2]) >= PGSERVER_PYTHON_BELOW:
        running = ".".join(str(part) for part in version[:2])
        major, below = PGSERVER_PYTHON_BELOW
        newest = f"{major}.{below - 1}"
        return (
            f"The demo's embedded PostgreSQL (pgserver) has no build for Python {running}: it ships them for "
            f"Python 3.11 to {newest} only. Make the virtual environment with one of those, e.g.\n"
            f"    rm -rf .venv && make run PYTHON=python{newest}\n"
            "`make test` needs no pgserver: it runs with this Python on a PostgreSQL server (DATABASE_URL)."
        )
    return "pgserver is not installed: run `make install` (it is one of the dependencies)."


def _forget_dead_handles(data_dir: Path) -> None:
    """pgserver stops the server when the last process holding it exits, counting the holders in a file;
    a holder that was killed outright stays in it and would keep the server running forever after."""
    import psutil

    handles = data_dir / ".handle_pids.json"
    if handles.exists():
        alive = [pid for pid in json.loads(handles.read_text() or "[]") if psutil.pid_exists(pid)]
        handles.write_text(json.dumps(alive))


def database_url(server) -> str:
    """The socket directory as the URL's host, percent-encoded: dj-database-url makes it Django's HOST
    (pgserver's own URI puts it in the query string, which ends up in OPTIONS instead)."""
    socket_dir = server.get_postmaster_info().socket_dir
    return f"postgres://postgres@{quote(str(socket_dir), safe='')}/{DATABASE}"


def run(data_dir: Path, command: list[str]) -> int:
    if not command:
        sys.exit("demo_db.py run: give the command to run, e.g. `run -- python manage.py runserver`")
    server = start(data_dir, stop_at_exit=True)
    url = database_url(server)
    print(f"Embedded PostgreSQL in {data_dir}: DATABASE_URL={url}", flush=True)
    # The commands run in a process group of their own, so that a signal meant for the demo reaches all
    # of them (runserver's autoreloader runs the server in a second process) and none of them outlives
    # the database. Ctrl-C, SIGTERM and SIGHUP are passed on; once the commands have ended, pgserver's
    # exit handler stops the server. (The handlers go in first: a signal this process ignored, as a
    # background job ignores Ctrl-C, would otherwise stay ignored in the commands.)
    children: list[subprocess.Popen] = []

    def pass_on(signum, _frame):
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, pass_on)
    children.append(subprocess.Popen(command, env={**os.environ, "DATABASE_URL": url}, process_group=0))
    return children[0].wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("action", choices=["run", "uri", "stop"])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.action == "run":
        return run(data_dir, command)
    if args.action == "uri":
        print(database_url(start(data_dir, stop_at_exit=False)))
        return 0
    if not (data_dir / "postmaster.pid").exists():
        print(f"No embedded PostgreSQL is running in {data_dir}.")
        return 0
    start(data_dir, stop_at_exit=True)  # the last handle to exit stops it
    print(f"Stopped the embedded PostgreSQL in {data_dir}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
