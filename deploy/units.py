"""Run the systemd units of deploy/systemd/ on a machine whose PID 1 is not systemd (a container, a CI job).

What is started is what the unit files say: their ExecStart lines, Environment, EnvironmentFile,
WorkingDirectory and User, after the production paths are mapped to local ones (PATHS). Nothing here
knows how to start gunicorn or Celery: change a unit and the walk runs the changed unit.

    python deploy/units.py show deploy/systemd/billpay-web.service   # the parsed unit, as JSON

deploy/stack.py uses `Unit` to start the services of the deploy walk and to stop them again.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

UNIT_DIR = Path(__file__).resolve().parent / "systemd"
# The production layout the units are written for (docs/deploy.md) and nothing else.
PRODUCTION_PATHS = (
    "/srv/billpay/app",
    "/srv/billpay/venv",
    "/etc/billpay",
    "/var/lib/billpay",
    "/var/log/billpay",
    "/run/billpay",
)
SUPPORTED = {
    "Type",
    "User",
    "Group",
    "WorkingDirectory",
    "Environment",
    "EnvironmentFile",
    "ExecStart",
}


class UnitError(Exception):
    """The unit cannot be run as written (a missing key, an unreadable environment file...)."""


def map_paths(text: str, paths: dict[str, str]) -> str:
    """Replace each production path prefix by its local counterpart, longest first."""
    for prefix in sorted(paths, key=len, reverse=True):
        text = text.replace(prefix, paths[prefix])
    return text


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """systemd's unit syntax: [Sections], Key=value lines (a key may repeat), `#`/`;` comments, and
    a trailing backslash continuing a line. An empty assignment resets the key, as systemd does."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if current is None or "=" not in line:
            raise UnitError(f"not a unit line: {line!r}")
        key, value = (part.strip() for part in line.split("=", 1))
        if value == "":
            current[key] = []
        else:
            current.setdefault(key, []).append(value)
    return sections


def read_environment_file(path: Path) -> dict[str, str]:
    """KEY=value lines as systemd reads them: comments, blank lines, optional single or double quotes."""
    values = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if "=" not in line:
            raise UnitError(f"{path}:{number}: not KEY=value")
        key, value = (part.strip() for part in line.split("=", 1))
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


_SPECIFIER = re.compile(r"%(.)")


def expand_specifiers(line: str) -> str:
    """The systemd specifiers the units use: `%H` the host name, `%%` a percent sign."""
    import socket

    return _SPECIFIER.sub(lambda m: {"%": "%", "H": socket.gethostname()}.get(m.group(1), m.group(0)), line)


def expand_command(line: str, env: dict[str, str]) -> tuple[list[str], bool]:
    """An ExecStart line as argv: `${NAME}` is one word, `$NAME` splits on spaces (systemd's rules), `%H`
    and `%%` as systemd expands them; a leading `-` means the exit status is ignored. Returns (argv,
    ignore_failure)."""
    ignore_failure = line.startswith("-")
    line = expand_specifiers(line.lstrip("-@+!:"))

    def word(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        value = env.get(name, "")
        return shlex.quote(value) if match.group(1) else value

    return shlex.split(_VARIABLE.sub(word, line)), ignore_failure


@dataclass
class Unit:
    path: Path
    paths: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        self.text = map_paths(self.path.read_text(encoding="utf-8"), self.paths)
        self.sections = parse_unit(self.text)
        self.service = self.sections.get("Service")
        if self.service is None:
            raise UnitError(f"{self.path.name}: no [Service] section")
        if not self.service.get("ExecStart"):
            raise UnitError(f"{self.path.name}: no ExecStart")

    @property
    def name(self) -> str:
        return self.path.name

    def first(self, key: str, default: str = "") -> str:
        values = self.service.get(key) or [default]
        return values[-1]

    @property
    def oneshot(self) -> bool:
        return self.first("Type", "simple") == "oneshot"

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The process environment systemd would give: a minimal base, Environment= then EnvironmentFile=
        (later wins, as in systemd)."""
        env = dict(base if base is not None else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        for value in self.service.get("Environment", []):
            for assignment in shlex.split(value):
                key, _sep, val = assignment.partition("=")
                env[key] = val
        for value in self.service.get("EnvironmentFile", []):
            optional = value.startswith("-")
            path = Path(value.lstrip("-"))
            if not path.is_file():
                if optional:
                    continue
                raise UnitError(f"{self.name}: EnvironmentFile {path} does not exist")
            env.update(read_environment_file(path))
        return env

    def commands(self, env: dict[str, str]) -> list[tuple[list[str], bool]]:
        return [expand_command(line, env) for line in self.service["ExecStart"]]

    def unsupported(self) -> list[str]:
        """Keys of [Service] this runner does not apply (sandboxing, restart policy): reported, not faked."""
        return sorted(key for key in self.service if key not in SUPPORTED)

    def _demote(self):
        """User=: switch to that user when we are root and it exists; otherwise run as ourselves."""
        user = self.first("User")
        if not user or os.getuid() != 0:
            return None, f"as {pwd.getpwuid(os.getuid()).pw_name}"
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            return None, f"as root (User={user} does not exist on this machine)"

        def demote():
            os.setgid(entry.pw_gid)
            os.initgroups(user, entry.pw_gid)
            os.setuid(entry.pw_uid)

        return demote, f"as {user}"

    def _process_options(self, env: dict[str, str], demote, log) -> dict:
        """What systemd gives the process: its directory, its environment, its user, no terminal, the log."""
        return {
            "cwd": self.first("WorkingDirectory") or None,
            "env": env,
            "stdin": subprocess.DEVNULL,
            "stdout": log,
            "stderr": subprocess.STDOUT,
            "preexec_fn": demote,
        }

    def start(
        self,
        log_path: Path,
        base_env: dict[str, str] | None = None,
        *,
        wrap: tuple[str, ...] = (),
        edit=None,
    ) -> subprocess.Popen:
        """Start a long-running service (Type=simple): its one ExecStart, in a session of its own so that
        stop() reaches every process it forks. `wrap` goes in front of the command (deploy/cluster.py:
        `ip netns exec HOST`, which execs it: the pid stays the service's); `edit(argv)` may change the
        command's arguments first (the cluster's worker hosts: their queues, slots and node names)."""
        if self.oneshot:
            raise UnitError(f"{self.name} is a oneshot: use run()")
        env = self.environment(base_env)
        commands = self.commands(env)
        if len(commands) != 1:
            raise UnitError(f"{self.name}: a simple service has exactly one ExecStart")
        argv, _ignore = commands[0]
        argv = edit(argv) if edit else argv
        demote, who = self._demote()
        if wrap and demote is not None:  # `ip netns exec` needs root: the user is taken after it
            user = self.first("User")
            argv = [
                "setpriv",
                f"--reuid={user}",
                f"--regid={self.first('Group') or user}",
                "--init-groups",
                *argv,
            ]
            demote = None
        argv = [*wrap, *argv]
        log = log_path.open("ab")
        print(f"  start {self.name} {who}: {shlex.join(argv)}", flush=True)
        process = subprocess.Popen(argv, start_new_session=True, **self._process_options(env, demote, log))
        log.close()
        return process

    def run(self, log_path: Path, base_env: dict[str, str] | None = None, timeout: float = 600) -> None:
        """Run a oneshot's ExecStart lines in order; the first failure stops it (unless marked `-`)."""
        env = self.environment(base_env)
        demote, who = self._demote()
        for argv, ignore_failure in self.commands(env):
            print(f"  run {self.name} {who}: {shlex.join(argv)}", flush=True)
            with log_path.open("ab") as log:
                options = self._process_options(env, demote, log)
                result = subprocess.run(argv, timeout=timeout, check=False, **options)
            if result.returncode != 0 and not ignore_failure:
                tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
                raise UnitError(f"{self.name} failed with status {result.returncode}:\n{tail}")


def stop(pid: int, *, timeout: float = 30, name: str = "") -> None:
    """Stop a service started by Unit.start (or nginx's master): SIGTERM to its process group (systemd's
    KillMode=mixed sends SIGTERM to the main process; every process it started dies with it here), then
    SIGKILL after `timeout` seconds."""
    try:
        group = os.getpgid(pid)
    except ProcessLookupError:
        return
    if group != pid:  # not a session leader we started: never signal someone else's group
        raise UnitError(f"pid {pid} ({name}) does not lead its own process group; not stopping it")
    os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):  # reap our own child if it is one
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    print(f"  {name or pid}: still running after {timeout:.0f} s, SIGKILL", flush=True)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "show":
        unit = Unit(Path(argv[1]))
        print(json.dumps(unit.sections, indent=2, ensure_ascii=False))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
