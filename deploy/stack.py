"""The production stack of docs/deploy.md on ONE machine, for the deploy walk (deploy/up.sh calls this).

    python deploy/stack.py check   # up, walk (deploy/walk.py), down; exit status 0 only if all passed
    python deploy/stack.py up      # up and leave it running (prints the address); then:
    python deploy/stack.py down    # stop everything `up` started

`up` makes a state directory (DEPLOY_STATE_DIR, default /tmp/billpay-deploy-<uid>) holding everything it
writes: generated secrets, a self-signed certificate, the environment file, the units with their paths
mapped, logs, pid files, nginx's configuration and temporary files. It uses PostgreSQL and Redis as the
machine runs them, with a database of its own (DEPLOY_DATABASE_URL, recreated on each `up`) and a Redis
database of its own (DEPLOY_REDIS_URL, flushed on each `up`). Then, as the release steps of docs/deploy.md:
billpay-migrate, billpay-collectstatic; then billpay-web, the workers of the io, batch and default
queues (billpay-worker-<queue>) and one billpay-beat, each started
from its unit file (deploy/units.py); then nginx with deploy/nginx/billpay.conf in a generated nginx.conf,
as a process of its own (its own pid, logs and temporary paths, listening on free loopback ports).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "deploy"))

from units import Unit, UnitError, stop  # noqa: E402

UNITS = REPO / "deploy" / "systemd"
SITE = REPO / "deploy" / "nginx" / "billpay.conf"
RELEASE_STEPS = ("billpay-migrate.service", "billpay-collectstatic.service")
WORKERS = ("billpay-worker-io.service", "billpay-worker-batch.service", "billpay-worker-default.service")
DESK = "billpay-posting-desk.service"
SERVICES = ("billpay-web.service", DESK, *WORKERS, "billpay-beat.service")
MARKER = ".billpay-deploy-state"
# Every staff role that moves money or sees personal data (billing/roles.py); the walk's clerk enrols TOTP.
MFA_ROLES = "platform_admin,branch_supervisor,branch_clerk,reconciliation_officer,auditor,biller_operator"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def state_dir() -> Path:
    return Path(os.environ.get("DEPLOY_STATE_DIR") or f"/tmp/billpay-deploy-{os.getuid()}")


def step(text: str) -> None:
    print(f"== {text}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def path_map(state: Path) -> dict[str, str]:
    """The production paths of the units (docs/deploy.md) → where this walk keeps them."""
    return {
        "/srv/billpay/app": str(REPO),
        "/srv/billpay/venv": sys.prefix,
        "/etc/billpay": str(state / "etc"),
        "/var/lib/billpay": str(state / "lib"),
        "/var/log/billpay": str(state / "log"),
        "/run/billpay": str(state / "run"),
    }


def fresh_state(state: Path) -> None:
    if state.exists():
        if not (state / MARKER).exists():
            raise SystemExit(f"{state} exists and was not made by this script: refusing to touch it")
        if (state / "run" / "stack.json").exists():
            down(state)
        shutil.rmtree(state)
    for sub in (
        "etc/secrets",
        "tls",
        "lib/static",
        "lib/mail",
        "lib/sms",
        "lib/statements",
        "log",
        "run",
        "units",
        "nginx/tmp",
    ):
        (state / sub).mkdir(parents=True, exist_ok=True)
    state.chmod(0o711)  # nginx's workers (www-data) must reach nginx/tmp; secrets stay 0700
    (state / "etc").chmod(0o700)
    (state / MARKER).write_text("made by deploy/stack.py\n")


def write_secret(path: Path) -> str:
    path.write_text(secrets.token_urlsafe(48) + "\n")
    path.chmod(0o600)
    return str(path)


def make_certificate(tls: Path, names: tuple[str, ...] = ("DNS:localhost", "IP:127.0.0.1")) -> Path:
    """A self-signed certificate for localhost and 127.0.0.1 (or `names`; openssl), valid for a week."""
    cert, key = tls / "fullchain.pem", tls / "privkey.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "7",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=" + ",".join(names),
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)
    return cert


def file_sms_backend() -> str:
    """payers.sms.FileSMSBackend once it exists (helper "hardening"); until then the default backend."""
    text = (REPO / "payers" / "sms.py").read_text(encoding="utf-8")
    return "payers.sms.FileSMSBackend" if "class FileSMSBackend" in text else ""


def database_url() -> str:
    return os.environ.get("DEPLOY_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/billpay_deploy")


def redis_url() -> str:
    return os.environ.get("DEPLOY_REDIS_URL", "redis://127.0.0.1:6379/6")


def write_env_file(
    state: Path, ports: dict[str, int], cert: Path, overrides: dict[str, str] | None = None
) -> Path:
    """The environment file of the units (/etc/billpay/billpay.env in production, the variable names of
    deploy/billpay.env.example), with generated secrets kept in files beside it (*_FILE). `overrides`
    replaces or adds values (deploy/cluster.py: addresses on its bridge)."""
    secrets_dir = state / "etc" / "secrets"
    site = f"https://localhost:{ports['https']}"
    values = {
        "DEBUG": "false",
        "SECRET_KEY_FILE": write_secret(secrets_dir / "secret_key"),
        "API_CREDENTIAL_KEY_FILE": write_secret(secrets_dir / "api_credential_key"),
        "SANDBOX_BANK_KEY_FILE": write_secret(secrets_dir / "sandbox_bank_key"),
        # The walk pays through the sandbox bank: allowed explicitly, as a real site never would.
        "SANDBOX_BANK_ENABLED": "true",
        "ALLOW_SANDBOX_IN_PRODUCTION": "true",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": redis_url(),
        "CELERY_RESULT_BACKEND": redis_url(),
        "CACHE_URL": redis_url(),
        "POSTING_DESK_URL": redis_url(),
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": site,
        "SITE_URL": site,
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "SECURE_SSL_REDIRECT": "true",
        "STAFF_MFA_REQUIRED_ROLES": MFA_ROLES,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(state / "lib" / "mail"),
        "SMS_BACKEND": file_sms_backend(),
        "SMS_FILE_PATH": str(state / "lib" / "sms"),
        "STATIC_ROOT": str(state / "lib" / "static"),
        "RECON_INBOX_DIR": str(state / "lib" / "statements"),
        "GUNICORN_BIND": f"127.0.0.1:{ports['web']}",
        "GUNICORN_WORKERS": os.environ.get("DEPLOY_GUNICORN_WORKERS", "2"),
        # The sandbox bank's notification task (in the worker) posts to SITE_URL through nginx: it must
        # trust the self-signed certificate. A real site leaves these unset (the system's CA bundle).
        "SSL_CERT_FILE": str(cert),
        "REQUESTS_CA_BUNDLE": str(cert),
    }
    values.update(overrides or {})
    path = state / "etc" / "billpay.env"
    lines = ["# Written by deploy/stack.py for the deploy walk; see deploy/billpay.env.example."]
    lines += [f"{key}={value}" for key, value in values.items() if value]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def load_units(state: Path, names) -> list[Unit]:
    """Each unit with its production paths mapped; a copy goes to state/units for systemd-analyze."""
    units = [Unit(UNITS / name, path_map(state)) for name in names]
    for unit in units:
        (state / "units" / unit.name).write_text(unit.text)
    return units


def verify_units(state: Path) -> None:
    """`systemd-analyze verify` on the mapped units, when the tool is there. It needs no running systemd."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        print("  systemd-analyze is not installed: units not verified")
        return
    files = sorted(str(path) for path in (state / "units").glob("*.service"))
    result = subprocess.run(
        [tool, "verify", *files], capture_output=True, text=True, check=False, env=dict(os.environ)
    )
    # Without a running systemd (a container) it may also complain about the machine itself: not the units.
    noise = re.compile(
        r"Failed to (connect to|setup|initialize)|/run/systemd|D-Bus|not been booted with systemd"
    )
    output = (result.stdout + result.stderr).splitlines()
    problems = [line for line in output if line.strip() and not noise.search(line)]
    if problems:
        raise UnitError("systemd-analyze verify:\n" + "\n".join(problems))
    print(f"  systemd-analyze verify: {len(files)} units, nothing to report")


def recreate_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    if not re.fullmatch(r"billpay_[a-z0-9_]+", name):
        raise SystemExit(f"DEPLOY_DATABASE_URL names {name!r}: the walk only recreates billpay_* databases")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def flush_redis(url: str) -> None:
    import redis

    if url.rstrip("/").endswith(("/0", ":6379")):
        raise SystemExit("DEPLOY_REDIS_URL must name a Redis database of the walk's own, not 0")
    redis.Redis.from_url(url).flushdb()


def nginx_binary() -> str:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        raise SystemExit(
            "nginx is not installed: run deploy/up.sh as root (it installs it) or apt-get install nginx"
        )
    return binary


def write_nginx_conf(
    state: Path,
    ports: dict[str, int],
    *,
    address: str = "127.0.0.1",
    upstreams: tuple[str, ...] = (),
    server_name: str = "localhost",
) -> Path:
    """deploy/nginx/billpay.conf with this walk's ports and paths, inside an nginx.conf of its own. The
    cluster (deploy/cluster.py) listens on its load balancer's address and names several gunicorns."""
    site = SITE.read_text(encoding="utf-8")
    upstreams = upstreams or (f"127.0.0.1:{ports['web']}",)
    # One gunicorn: never marked down (fail_timeout=0). Several: one that fails is left out for 5 s.
    tail = "max_fails=1 fail_timeout=5s;" if len(upstreams) > 1 else "fail_timeout=0;"
    servers = "\n    ".join(f"server {upstream} {tail}" for upstream in upstreams)
    replacements = {
        "listen 443 ssl http2;": f"listen {address}:{ports['https']} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "listen 80;": f"listen {address}:{ports['http']};",
        "listen [::]:80;": "",
        "return 301 https://$host$request_uri;": f"return 301 https://$host:{ports['https']}$request_uri;",
        "server 127.0.0.1:8000 fail_timeout=0;": servers,
        "server_name billpay.example.org;": f"server_name {server_name};",
        "/etc/ssl/billpay/": f"{state}/tls/",
        "/var/log/nginx/billpay.": f"{state}/log/nginx-billpay.",
    }
    for old, new in replacements.items():
        if old not in site:
            raise SystemExit(f"deploy/nginx/billpay.conf no longer contains {old!r}: update deploy/stack.py")
        site = site.replace(old, new)
    (state / "nginx" / "billpay.conf").write_text(site)
    tmp = state / "nginx" / "tmp"
    if os.getuid() == 0:
        with contextlib.suppress(LookupError, PermissionError):  # Debian's nginx workers: www-data
            shutil.chown(tmp, "www-data", "www-data")
    conf = state / "nginx" / "nginx.conf"
    conf.write_text(
        f"""# Generated by deploy/stack.py: only the walk's site, with its own pid, logs and temporary paths.
daemon off;
worker_processes 1;
pid {state}/run/nginx.pid;
error_log {state}/log/nginx-error.log;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {state}/log/nginx-access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    sendfile on;
    include {state}/nginx/billpay.conf;
}}
"""
    )
    return conf


def started_at(pid: int) -> str | None:
    """When the process started (clock ticks since boot, /proc/<pid>/stat field 22): with the pid, it names
    one process for good, so `down` never signals a process that merely got a recycled number."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def wait_for(what: str, probe, timeout: float, processes: dict[str, subprocess.Popen]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise UnitError(f"{name} exited with status {process.returncode} while waiting for {what}")
        try:
            if probe():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise UnitError(f"{what} did not answer within {timeout:.0f} s")


def up(state: Path) -> dict:
    started = time.monotonic()
    timings: dict[str, float] = {}

    def mark(name: str, since: float) -> float:
        now = time.monotonic()
        timings[name] = round(now - since, 1)
        return now

    step(f"state directory {state}")
    fresh_state(state)
    ports = {"https": free_port(), "http": free_port(), "web": free_port()}
    cert = make_certificate(state / "tls")
    env_file = write_env_file(state, ports, cert)
    print(f"  environment file {env_file}; certificate {cert}")
    step("units")
    release = load_units(state, RELEASE_STEPS)
    services = load_units(state, SERVICES)
    if sum("beat" in unit.name for unit in services) != 1:
        raise UnitError("exactly one beat must run")
    for unit in release + services:
        if unit.unsupported():
            print(f"  {unit.name}: not applied here (systemd only): {', '.join(unit.unsupported())}")
    verify_units(state)
    t = mark("prepare", started)

    step(f"database {database_url()} (recreated), Redis {redis_url()} (flushed)")
    recreate_database(database_url())
    flush_redis(redis_url())
    base_env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
    step("release steps: migrate, collectstatic")
    for unit in release:
        unit.run(state / "log" / f"{unit.name}.log", base_env)
    t = mark("migrate+collectstatic", t)

    step("services: web, posting desk, workers (io, batch, default), beat")
    record = {
        "state": str(state),
        "ports": ports,
        "cert": str(cert),
        "env_file": str(env_file),
        "pids": {},
        "started": {},
    }
    processes: dict[str, subprocess.Popen] = {}
    run_file = state / "run" / "stack.json"
    try:
        for unit in services:
            process = unit.start(state / "log" / f"{unit.name}.log", base_env)
            processes[unit.name] = process
            record["pids"][unit.name] = process.pid
            record["started"][unit.name] = started_at(process.pid)
            run_file.write_text(json.dumps(record, indent=2))

        def gunicorn_answers() -> bool:
            with socket.create_connection(("127.0.0.1", ports["web"]), timeout=1):
                return True

        wait_for("gunicorn", gunicorn_answers, 90, processes)
        t = mark("services", t)

        step("nginx")
        binary = nginx_binary()
        conf = write_nginx_conf(state, ports)
        prefix = ["-p", f"{state}/nginx/", "-e", f"{state}/log/nginx-error.log", "-c", str(conf)]
        test = subprocess.run([binary, *prefix, "-t"], capture_output=True, text=True, check=False)
        if test.returncode != 0:
            raise UnitError(f"nginx -t failed:\n{test.stderr}")
        with (state / "log" / "nginx.out").open("ab") as out:
            nginx = subprocess.Popen(
                [binary, *prefix],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes["nginx"] = nginx
        record["pids"]["nginx"] = nginx.pid
        record["started"]["nginx"] = started_at(nginx.pid)
        run_file.write_text(json.dumps(record, indent=2))
        context = ssl.create_default_context(cafile=str(cert))

        def healthz() -> bool:
            url = f"https://localhost:{ports['https']}/healthz"
            with urllib.request.urlopen(url, context=context, timeout=5) as response:
                return response.status == 200

        wait_for("https://localhost/healthz through nginx", healthz, 60, processes)
        mark("nginx", t)
    except BaseException:
        print_logs(state)
        down(state)
        raise
    record["timings"] = timings
    run_file.write_text(json.dumps(record, indent=2))
    print(f"  up in {time.monotonic() - started:.1f} s: https://localhost:{ports['https']}/ ({timings})")
    return record


def print_logs(state: Path, lines: int = 40) -> None:
    for log in sorted((state / "log").glob("*")):
        text = log.read_text(encoding="utf-8", errors="replace").splitlines()
        if text:
            print(f"--- {log.name} (last {lines} lines)")
            print("\n".join(text[-lines:]))


def down(state: Path) -> list[str]:
    """Stop what `up` started, nginx first, and prove nothing is left: returns what survived (nothing)."""
    run_file = state / "run" / "stack.json"
    if not run_file.exists():
        return []
    record = json.loads(run_file.read_text())
    step("stopping " + ", ".join(record["pids"]))
    order = ["nginx", "billpay-web.service", DESK, "billpay-beat.service", *WORKERS]
    for name in sorted(record["pids"], key=lambda n: order.index(n) if n in order else 99):
        pid = record["pids"][name]
        if started_at(pid) != record["started"].get(name):  # gone, or the number now belongs to another
            print(f"  {name}: process {pid} is no longer the one the stack started; left alone")
            continue
        stop(pid, timeout=60, name=name)
    survivors = []
    for name, pid in record["pids"].items():
        try:
            os.killpg(pid, 0)
        except (ProcessLookupError, PermissionError):
            continue
        if started_at(pid) == record["started"].get(name):
            survivors.append(f"{name} (process group {pid})")
    run_file.unlink()
    if survivors:
        print("  still running: " + ", ".join(survivors))
    else:
        print("  every process the stack started has exited")
    return survivors


def desk_posted(state: Path) -> bool:
    """The posting desk took the walk's partner payment: its last line, written as it stopped, counts it."""
    log = state / "log" / f"{DESK}.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    taken = re.findall(r"posting desk: stopped after (\d+) requests", text)
    if taken and int(taken[-1]) >= 1:
        print(f"  the posting desk posted {taken[-1]} of the walk's payments")
        return True
    print(f"  the posting desk posted none of the walk's payments (expected the partner's): see {log}")
    return False


def check(state: Path) -> int:
    started = time.monotonic()
    record = up(state)
    status = 1
    try:
        step("walk")
        walk_started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(REPO / "deploy" / "walk.py"), "--stack", str(state / "run" / "stack.json")],
            cwd=REPO,
            check=False,
        )
        record["timings"]["walk"] = round(time.monotonic() - walk_started, 1)
        status = result.returncode
    finally:
        if status != 0:
            print_logs(state)
        survivors = down(state)
    if survivors:
        status = status or 1
    if status == 0 and not desk_posted(state):
        status = 1
    total = time.monotonic() - started
    print(f"== deploy check {'PASSED' if status == 0 else 'FAILED'} in {total:.1f} s {record['timings']}")
    if status == 0 and not os.environ.get("DEPLOY_KEEP_STATE"):
        shutil.rmtree(state, ignore_errors=True)
    return status


def main(argv: list[str]) -> int:
    state = state_dir()
    command = argv[0] if argv else "check"
    if command == "check":
        return check(state)
    if command == "up":
        up(state)
        return 0
    if command == "down":
        return 1 if down(state) else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
