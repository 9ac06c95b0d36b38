"""The programs the benchmarks run besides Python (wrk, pgbench): found on the PATH (or, for pgbench, in
Debian's /usr/lib/postgresql/*/bin), else installed from Debian the way `.ci/run` installs what the tests
need (deploy/install-packages.sh, as root, services kept stopped), else a message that says what to
install. `make bench` on a fresh machine once stopped with FileNotFoundError: 'wrk' (issue 16)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTALLER = PROJECT_ROOT / "deploy" / "install-packages.sh"
# program → the Debian package that ships it (pgbench comes with the server package).
DEBIAN_PACKAGES = {"wrk": "wrk", "pgbench": "postgresql"}


class ToolMissing(RuntimeError):
    """The program is not there and could not be installed; the message says what to do."""


def find_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    if name == "pgbench":
        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)
        return str(candidates[0]) if candidates else None
    return None


def ensure_tool(name: str, *, install: bool = True) -> str:
    """The path of `name`, installing its Debian package first if it is missing and `install` allows."""
    found = find_tool(name)
    if found:
        return found
    package = DEBIAN_PACKAGES[name]
    if install:
        print(
            f"{name} is not installed: installing the Debian package {package} (deploy/install-packages.sh)"
        )
        result = subprocess.run([str(INSTALLER), package], capture_output=True, text=True)
        found = find_tool(name)
        if found:
            return found
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        reason = f"installing {package} failed: {detail[0]}"
    else:
        reason = "not installing (--no-install)"
    raise ToolMissing(
        f"{name} is needed and missing ({reason}). Install it as root with "
        f"`apt-get install {package}` (or `deploy/install-packages.sh {package}`), or put {name} on the PATH."
    )


def require_tool(name: str, *, install: bool = True) -> str:
    """`ensure_tool` for a benchmark that cannot run without the program: exit 2 with the message."""
    try:
        return ensure_tool(name, install=install)
    except ToolMissing as missing:
        print(f"refused: {missing}", file=sys.stderr)
        raise SystemExit(2) from None


def wrk_figures(out: str) -> dict:
    """What a plain wrk run printed (`out`, its stdout): requests/s, requests, the answers that were not
    2xx, its socket errors ("" if none) and, when run with --latency, p50 and p99 in ms."""
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    figures = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
    }
    for percent in (50, 99):
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)", out, re.M)
        if match:
            value, unit = float(match.group(1)), match.group(2)
            figures[f"p{percent}"] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    return figures
