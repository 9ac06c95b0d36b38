"""A cluster on one machine, under faults (issue 15, item 5). Run as root:

    python deploy/cluster.py check           # the long form: 5 minutes of load (make cluster)
    python deploy/cluster.py check --short   # the short form CI runs: 75 s of load (make cluster-short)

Hosts are network namespaces (`ip netns`, veth pairs on one bridge, Debian's iproute2):

    billpay-lb       10.77.0.10  nginx (deploy/nginx/billpay.conf, TLS) balancing over both app hosts
    billpay-app1/2   10.77.0.11/12  gunicorn (deploy/systemd/billpay-web.service)
    billpay-worker1/2  10.77.0.21/22  Celery workers of the io and default queues (their units); worker1
                     also runs the batch worker and the one beat

PostgreSQL and Redis stay the machine's own, on 127.0.0.1: the hosts reach them at the bridge's address
10.77.0.1 through a forwarder this script owns (socat), a database billpay_cluster and Redis db 12. The
run's webhook receiver (docs/examples/webhook_receiver.py's Store) listens on 10.77.0.1 as the water
company's endpoint. A locust load (deploy/cluster_load.py, in var/locust-venv) drives lookups, guest
payments through the sandbox bank, counter payments and signed partner payments; meanwhile:

    * app1's gunicorn (master and workers) is killed with SIGKILL, and started again 5 s later
      (Restart=on-failure, RestartSec=5);
    * the posting desk (worker2, deploy/systemd/billpay-posting-desk.service) is killed with SIGKILL and
      started again 5 s later: the partner payments it held are posted by their web workers;
    * a Celery worker process is killed with SIGKILL in the middle of a task (acks late, rejected on
      worker lost: the task runs again) while the webhook receiver answers slowly;
    * Redis becomes unreachable for 10 s (the forwarder stops: connections cut, new ones refused), and
      signed partner calls made meanwhile must be refused with a clear error, never accepted unchecked.

Then it waits for the queues to drain and checks: every answered payment present exactly once, no bill
overpaid, the ledger balanced (billing.ledger_alerts.check_ledger), every bank notification applied,
every webhook event delivered at least once and de-duplicated by id, and prints throughput and p99 per
request kind and `lost 0 · duplicated 0 · overpaid 0`; the exit status is 0 only if all of it held.
Everything it made (namespaces, bridge, processes) is removed on the way out, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.server
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "deploy"))

import stack  # noqa: E402
from units import Unit, stop  # noqa: E402

BRIDGE = "billpay-br0"
NET = "10.77.0"
GATEWAY = f"{NET}.1"
HOSTS = {"lb": 10, "app1": 11, "app2": 12, "worker1": 21, "worker2": 22}
LB = f"{NET}.{HOSTS['lb']}"
RECEIVER_PORT = 8099
DATABASE = "billpay_cluster"
REDIS_DB = int(os.environ.get("CLUSTER_REDIS_DB", "10"))
LOCUST_VENV = REPO / "var" / "locust-venv"
# The environment this script was started with: the cluster's own (its self-signed certificate in
# SSL_CERT_FILE, among others) is put into os.environ for Django, and pip must not see it.
STARTED_WITH = dict(os.environ)
LOCUST_REQUIREMENT = "locust>=2.40,<3"
SHORT = {"seconds": 75, "users": 8, "accounts": 1500, "clerks": 2}
LONG = {"seconds": 300, "users": 12, "accounts": 6000, "clerks": 3}
DRAIN_SECONDS = 360


def step(text: str) -> None:
    print(f"== {text}", flush=True)


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result


def ns(host: str) -> str:
    return f"billpay-{host}"


class Network:
    """The bridge and one namespace per host, each with a veth into the bridge."""

    def up(self) -> None:
        self.down()  # what an earlier run left behind (it is ours: the names are)
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        for host, last in HOSTS.items():
            name, outside = ns(host), f"bp-{host}"
            sh("ip", "netns", "add", name)
            sh("ip", "link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", name)
            sh("ip", "link", "set", outside, "master", BRIDGE, "up")
            sh("ip", "-n", name, "addr", "add", f"{NET}.{last}/24", "dev", "eth0")
            sh("ip", "-n", name, "link", "set", "eth0", "up")
            sh("ip", "-n", name, "link", "set", "lo", "up")
            sh("ip", "-n", name, "route", "add", "default", "via", GATEWAY)
        print(
            f"  bridge {BRIDGE} {GATEWAY}/24; hosts " + ", ".join(f"{h} {NET}.{n}" for h, n in HOSTS.items())
        )

    def down(self) -> None:
        for host in HOSTS:
            if sh("ip", "netns", "pids", ns(host), check=False).stdout.strip():
                for pid in sh("ip", "netns", "pids", ns(host), check=False).stdout.split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
            sh("ip", "netns", "del", ns(host), check=False)
            sh("ip", "link", "del", f"bp-{host}", check=False)
        sh("ip", "link", "del", BRIDGE, check=False)


class Processes:
    """Every process the run started, by name: stopped (process group) on the way out."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen] = {}

    def add(self, name: str, process: subprocess.Popen) -> subprocess.Popen:
        self.running[name] = process
        return process

    def spawn(self, name: str, argv: list[str], env=None) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        log.close()
        return self.add(name, process)

    def kill(self, name: str, *, forget: bool = True) -> None:
        """SIGKILL to the whole process group: the fault, not a stop. Unless forgotten, the supervisor
        finds it dead and starts it again (Restart=on-failure)."""
        process = self.running.pop(name) if forget else self.running[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            process = self.running.pop(name)
            if process.poll() is None:
                stop(process.pid, timeout=15, name=name)
            with contextlib.suppress(Exception):
                process.wait(timeout=5)


def forwarder(processes: Processes, name: str, port: int) -> subprocess.Popen:
    """socat on the bridge's address to the machine's own service on the loopback, one child a connection."""
    return processes.spawn(
        name,
        ["socat", f"TCP-LISTEN:{port},bind={GATEWAY},fork,reuseaddr,backlog=256", f"TCP:127.0.0.1:{port}"],
    )


class Receiver:
    """The water company's webhook endpoint: docs/examples/webhook_receiver.py (signature, timestamp,
    de-duplication by event id in its Store), counting every delivery per id; it can be made slow."""

    def __init__(self, secret: str):
        spec = importlib.util.spec_from_file_location(
            "webhook_receiver", REPO / "docs/examples/webhook_receiver.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.store = module.Store()
        self.deliveries: dict[str, int] = {}
        self.slow_until = 0.0
        receiver = self
        base = module.make_handler(secret, self.store)

        class Handler(base):
            def do_POST(self):
                if time.time() < receiver.slow_until:
                    time.sleep(3)
                event_id = self.headers.get("X-BillPay-Event-Id", "")
                with receiver.store.lock:
                    receiver.deliveries[event_id] = receiver.deliveries.get(event_id, 0) + 1
                super().do_POST()

        self.server = http.server.ThreadingHTTPServer((GATEWAY, RECEIVER_PORT), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handled(self) -> dict[str, int]:
        ids = {event_id for event_id, _event, _receipt in self.store.handled()}
        return {event_id: count for event_id, count in self.deliveries.items() if event_id in ids}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def host_environment(env_file: Path) -> dict[str, str]:
    """The cluster's settings as this process (on the machine itself) uses them: loopback services."""
    from units import read_environment_file

    env = read_environment_file(env_file)
    env["DATABASE_URL"] = env["DATABASE_URL"].replace(GATEWAY, "127.0.0.1")
    for key in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CACHE_URL"):
        env[key] = env[key].replace(GATEWAY, "127.0.0.1")
    return env


def setup_django(env: dict[str, str]) -> None:
    sys.path[:0] = [str(REPO)]
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()


def locust_binary() -> Path:
    binary = LOCUST_VENV / "bin" / "locust"
    if not binary.exists():
        step(f"locust into {LOCUST_VENV} (its own venv: it pins pytest<10)")
        subprocess.run([sys.executable, "-m", "venv", str(LOCUST_VENV)], check=True, env=STARTED_WITH)
        pip = [str(LOCUST_VENV / "bin" / "pip"), "install", "-q", LOCUST_REQUIREMENT]
        subprocess.run(pip, check=True, env=STARTED_WITH)
    return binary


class Cluster:
    def __init__(self, state: Path, shape: dict):
        self.state = state
        self.shape = shape
        self.network = Network()
        self.processes = Processes(state / "log")
        self.receiver: Receiver | None = None
        self.faults: list[dict] = []
        self.units: dict[str, Unit] = {}
        self.restarts: dict = {}
        self.stopping = threading.Event()

    # --- bringing it up ---------------------------------------------------------------------------
    def up(self) -> None:
        state = self.state
        step(f"state directory {state}")
        stack.fresh_state(state)
        cert = stack.make_certificate(state / "tls", ("DNS:localhost", f"IP:{LB}"))
        site = f"https://{LB}"
        self.env_file = stack.write_env_file(
            state,
            {"https": 443, "http": 80, "web": 8000},
            cert,
            {
                "DATABASE_URL": f"postgres://postgres@{GATEWAY}:5432/{DATABASE}",
                "CELERY_BROKER_URL": f"redis://{GATEWAY}:6379/{REDIS_DB}",
                "CELERY_RESULT_BACKEND": f"redis://{GATEWAY}:6379/{REDIS_DB}",
                "CACHE_URL": f"redis://{GATEWAY}:6379/{REDIS_DB}",
                "POSTING_DESK_URL": f"redis://{GATEWAY}:6379/{REDIS_DB}",
                "ALLOWED_HOSTS": LB,
                "CSRF_TRUSTED_ORIGINS": site,
                "SITE_URL": site,
                "TRUSTED_PROXIES": f"{LB}/32",
                "GUNICORN_BIND": "0.0.0.0:8000",
                "GUNICORN_WORKERS": "2",
                "GUNICORN_FORWARDED_ALLOW_IPS": LB,
                # The whole load comes from one address (the bridge's): the per-address limits of the
                # portal would throttle the run itself, not a guest.
                "PORTAL_LOOKUP_LIMIT": "1000000",
                "PORTAL_VERIFY_LIMIT": "1000000",
                "API_DEFAULT_RATE_LIMIT_PER_MINUTE": "100000",
                # A webhook sender that died is taken over after this (above the io time limit).
                "CELERY_IO_SOFT_TIME_LIMIT": "20",
                "CELERY_IO_TIME_LIMIT": "30",
                "WEBHOOK_LEASE_SECONDS": "40",
                "OPS_ALERT_EMAILS": "ops@billpay.invalid",
                # A notification the bank's task lost (a worker's prefetched messages when Redis went
                # away wait for the visibility timeout, hours) is fetched by the trade query after this.
                "PORTAL_QUERY_PENDING_AFTER_MINUTES": "1",
            },
        )
        self.cert = cert
        step("network: a bridge and a namespace per host")
        self.network.up()
        step(f"forwarders: PostgreSQL and Redis on {GATEWAY}")
        forwarder(self.processes, "forward-postgres", 5432)
        forwarder(self.processes, "forward-redis", 6379)
        time.sleep(0.5)
        step(f"database {DATABASE} (recreated), Redis db {REDIS_DB} (flushed)")
        stack.recreate_database(f"postgres://postgres@127.0.0.1:5432/{DATABASE}")
        stack.flush_redis(f"redis://127.0.0.1:6379/{REDIS_DB}")
        base_env = {"PATH": stack.SYSTEM_PATH, "LANG": "C.UTF-8"}
        self.base_env = base_env
        paths = stack.path_map(state)
        for name in (*stack.RELEASE_STEPS, *stack.SERVICES):
            self.units[name] = Unit(stack.UNITS / name, paths)
        step("release steps: migrate, collectstatic")
        for name in stack.RELEASE_STEPS:
            self.units[name].run(state / "log" / f"{name}.log", base_env)
        step("hosts: gunicorn on app1 and app2; Celery on worker1 and worker2; one beat")
        for host in ("app1", "app2"):
            self.start_web(host)
        for host in ("worker1", "worker2"):
            self.start_worker(host, "billpay-worker-io.service", "io", concurrency=2)
            self.start_worker(host, "billpay-worker-default.service", "default", concurrency=1)
        self.start_worker("worker1", "billpay-worker-batch.service", "batch", concurrency=1)
        self.start_beat()
        self.start_desk()
        for host in ("app1", "app2"):
            self.wait(f"gunicorn on {host}", lambda h=host: self.listening(f"{NET}.{HOSTS[h]}", 8000))
        step("load balancer: nginx on lb")
        conf = stack.write_nginx_conf(
            state,
            {"https": 443, "http": 80},
            address=LB,
            upstreams=(f"{NET}.{HOSTS['app1']}:8000", f"{NET}.{HOSTS['app2']}:8000"),
            server_name=LB,
        )
        prefix = ["-p", f"{state}/nginx/", "-e", f"{state}/log/nginx-error.log", "-c", str(conf)]
        binary = stack.nginx_binary()
        test = sh("ip", "netns", "exec", ns("lb"), binary, *prefix, "-t", check=False)
        if test.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{test.stderr}")
        self.processes.spawn("lb-nginx", ["ip", "netns", "exec", ns("lb"), binary, *prefix])
        self.wait("https://10.77.0.10/healthz through nginx", lambda: self.answers(f"{site}/healthz"))
        threading.Thread(target=self.supervise, daemon=True).start()

    def start_beat(self) -> None:
        beat = self.units["billpay-beat.service"]
        log = self.state / "log" / "worker1-beat.log"
        self.processes.add(
            "worker1-beat", beat.start(log, self.base_env, wrap=("ip", "netns", "exec", ns("worker1")))
        )
        self.restarts["worker1-beat"] = self.start_beat

    def start_desk(self) -> None:
        unit = self.units[stack.DESK]
        log = self.state / "log" / "worker2-posting-desk.log"
        wrap = ("ip", "netns", "exec", ns("worker2"))
        self.processes.add("worker2-posting-desk", unit.start(log, self.base_env, wrap=wrap))
        self.restarts["worker2-posting-desk"] = self.start_desk

    def start_web(self, host: str) -> None:
        unit = self.units["billpay-web.service"]
        name = f"{host}-gunicorn"
        log = self.state / "log" / f"{name}.log"
        self.processes.add(name, unit.start(log, self.base_env, wrap=("ip", "netns", "exec", ns(host))))
        self.restarts[name] = lambda: self.start_web(host)

    def start_worker(self, host: str, unit_name: str, queue: str, *, concurrency: int) -> None:
        """The queue's unit as written, with fewer slots (two cores for the whole cluster) and a node name
        of the host's (the namespaces share the machine's host name, which %H would give every one)."""

        def edit(argv: list[str]) -> list[str]:
            argv = list(argv)
            argv[argv.index("--concurrency") + 1] = str(concurrency)
            argv[argv.index("--hostname") + 1] = f"{queue}@{host}"
            if queue == "io":  # the run's shorter io limits (CELERY_IO_*_TIME_LIMIT in its environment)
                argv[argv.index("--soft-time-limit") + 1] = "20"
                argv[argv.index("--time-limit") + 1] = "30"
            return argv

        name = f"{host}-{queue}"
        log = self.state / "log" / f"{name}.log"
        unit = self.units[unit_name]
        self.processes.add(
            name, unit.start(log, self.base_env, wrap=("ip", "netns", "exec", ns(host)), edit=edit)
        )
        self.restarts[name] = lambda: self.start_worker(host, unit_name, queue, concurrency=concurrency)

    def listening(self, address: str, port: int) -> bool:
        with socket.create_connection((address, port), timeout=1):
            return True

    def answers(self, url: str) -> bool:
        import ssl

        context = ssl.create_default_context(cafile=str(self.cert))
        with urllib.request.urlopen(url, context=context, timeout=3) as response:
            return response.status == 200

    def wait(self, what: str, probe, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.running.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited ({process.returncode}) while waiting for {what}")
            with contextlib.suppress(OSError):
                if probe():
                    print(f"  {what}: answers", flush=True)
                    return
            time.sleep(0.5)
        raise RuntimeError(f"{what} did not answer within {timeout:.0f} s")

    # --- the faults ---------------------------------------------------------------------------------
    def fault(self, kind: str, **detail) -> dict:
        row = {"fault": kind, "at": time.time(), **detail}
        self.faults.append(row)
        print(f"  !! {kind} {detail}", flush=True)
        return row

    def kill_app(self) -> None:
        pid = self.processes.running["app1-gunicorn"].pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        self.processes.kill("app1-gunicorn", forget=False)
        self.fault("SIGKILL app1 gunicorn (master and workers)", master=pid, workers=children)

    def supervise(self) -> None:
        """systemd's Restart=on-failure, RestartSec=5 of the units: a service that exits is started again
        5 s later (gunicorn killed by the fault; anything else that dies is reported as well)."""
        while not self.stopping.is_set():
            for name, restart in list(self.restarts.items()):
                process = self.processes.running.get(name)
                if process is None or process.poll() is None:
                    continue
                self.fault(f"{name} exited ({process.returncode}): started again in 5 s (Restart=on-failure)")
                if self.stopping.wait(5):
                    return
                restart()
            self.stopping.wait(1)

    def kill_worker_mid_task(self) -> None:
        """Slow the receiver so webhook sends are in flight, find a pool process of io@worker1 running a
        task (Celery's own inspect), SIGKILL it; its master starts another and the task comes back."""
        from config.celery import app

        self.receiver.slow_until = time.time() + 15
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            active = app.control.inspect(destination=["io@worker1", "io@worker2"], timeout=1.5).active() or {}
            for node, tasks in active.items():
                for running in tasks:
                    pid = running.get("worker_pid")
                    if pid:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                            self.fault(
                                "SIGKILL a Celery worker process mid-task",
                                node=node,
                                pid=pid,
                                task=running["name"],
                                task_id=running["id"],
                            )
                            return
            time.sleep(0.3)
        self.fault("no io task was caught running within 20 s: no worker killed")

    def redis_away(self, seconds: float = 10) -> None:
        self.processes.kill("forward-redis")
        started = time.time()
        self.fault("Redis unreachable", seconds=seconds)
        probes = []
        partner = self.data["partner"]
        spec = importlib.util.spec_from_file_location(
            "partner_client", REPO / "docs/examples/partner_client.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        import ssl

        context = ssl.create_default_context(cafile=str(self.cert))
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
        client = module.PartnerClient(f"https://{LB}", partner["key_id"], partner["secret"], timeout=8)
        account = sorted(self.data["accounts"])[0]
        time.sleep(1)
        while time.time() - started < seconds - 2:
            path = f"/api/v1/partner/billers/{self.data['biller']}/accounts/{account}"
            headers = client._headers("GET", path, "", b"")
            request = urllib.request.Request(f"https://{LB}{path}", headers=headers)
            t0 = time.time()
            try:
                with opener.open(request, timeout=8) as response:
                    probes.append({"status": response.status, "code": "", "t0": t0})
            except urllib.error.HTTPError as error:
                body = error.read()
                try:
                    code = json.loads(body)["error"]["code"]
                except Exception:
                    code = ""
                probes.append({"status": error.code, "code": code, "t0": t0})
            except OSError as error:
                probes.append({"status": 0, "code": str(error), "t0": t0})
            time.sleep(1)
        time.sleep(max(0.0, seconds - (time.time() - started)))
        forwarder(self.processes, "forward-redis", 6379)
        self.redis_window = (started, time.time())
        self.fault("Redis reachable again", probes=probes)
        self.redis_probes = probes

    def kill_desk(self) -> None:
        """The posting desk killed mid-run: the partner payments in its hands are posted by their web workers
        after POSTING_DESK_WAIT, and a late copy the restarted desk finds is dropped or replayed."""
        pid = self.processes.running["worker2-posting-desk"].pid
        self.processes.kill("worker2-posting-desk", forget=False)
        self.fault("SIGKILL the posting desk", pid=pid)

    def run_faults(self, seconds: float) -> None:
        plan = [
            (0.25, self.kill_app),
            (0.35, self.kill_desk),
            (0.45, self.kill_worker_mid_task),
            (0.65, self.redis_away),
        ]
        started = time.monotonic()
        for share, action in plan:
            time.sleep(max(0.0, started + share * seconds - time.monotonic()))
            try:
                action()
            except Exception as error:  # a fault that could not be made is reported, and fails the run
                self.fault(f"{action.__name__} failed: {error!r}", failed=True)

    # --- the load -------------------------------------------------------------------------------------
    def seed(self) -> None:
        from cluster_data import seed

        step("seeding: accounts with open bills, clerks, the partner, the webhook")
        self.data = seed(
            accounts=self.shape["accounts"],
            clerks=self.shape["clerks"],
            webhook_url=f"http://{GATEWAY}:{RECEIVER_PORT}/billpay/webhook",
        )
        (self.state / "run" / "data.json").write_text(json.dumps(self.data))
        self.receiver = Receiver(self.data["webhook_secret"])
        print(f"  {len(self.data['accounts'])} accounts, {len(self.data['clerks'])} clerks")

    def load(self) -> None:
        seconds, users = self.shape["seconds"], self.shape["users"]
        binary = locust_binary()
        answers = self.state / "run" / "answers.jsonl"
        answers.touch()
        env = {
            **os.environ,
            "CLUSTER_DATA": str(self.state / "run" / "data.json"),
            "CLUSTER_ANSWERS": str(answers),
            "CLUSTER_CERT": str(self.cert),
            "CLUSTER_COUNTER_USERS": str(self.shape["clerks"]),
        }
        step(f"load: {users} locust users for {seconds} s, faults during it")
        csv_prefix = self.state / "run" / "locust"
        self.load_started = time.time()
        locust = self.processes.spawn(
            "locust",
            [
                str(binary),
                "-f",
                str(REPO / "deploy" / "cluster_load.py"),
                "--headless",
                "--host",
                f"https://{LB}",
                "-u",
                str(users),
                "-r",
                str(max(1, users // 4)),
                "--run-time",
                f"{seconds}s",
                "--csv",
                str(csv_prefix),
                "--only-summary",
                "--stop-timeout",
                "20",
            ],
            env=env,
        )
        faults = threading.Thread(target=self.run_faults, args=(seconds,), daemon=True)
        faults.start()
        locust.wait(timeout=seconds + 120)
        self.processes.running.pop("locust", None)
        self.load_seconds = time.time() - self.load_started
        faults.join(timeout=60)

    def drain(self) -> dict:
        from cluster_data import quiet

        step("draining: bank notifications, the outbox, webhooks")
        deadline = time.monotonic() + DRAIN_SECONDS
        started = time.monotonic()
        while True:
            left = quiet(since=self.load_started)
            if not any(left.values()) or time.monotonic() > deadline:
                break
            time.sleep(3)
        print(f"  after {time.monotonic() - started:.0f} s: {left}")
        return left

    # --- the verdict ----------------------------------------------------------------------------------
    def figures(self) -> list[dict]:
        rows = []
        with (self.state / "run" / "locust_stats.csv").open() as stats:
            for row in csv.DictReader(stats):
                rows.append(
                    {
                        "name": row["Name"],
                        "requests": int(row["Request Count"]),
                        "failures": int(row["Failure Count"]),
                        "rps": float(row["Requests/s"]),
                        "median_ms": row["50%"],
                        "p99_ms": row["99%"],
                    }
                )
        return rows

    def judge(self) -> int:
        from cluster_data import verify

        lines = (self.state / "run" / "answers.jsonl").read_text().splitlines()
        answers = [json.loads(line) for line in lines if line.strip()]
        answered = [a for a in answers if a.get("ok")]
        report = verify(answered, self.receiver.handled())
        problems = list(report.pop("problems"))
        for fault in self.faults:
            if fault.get("failed"):
                problems.append(f"fault not made: {fault['fault']}")
        # Requests refused while Redis was away: a clear error, and no signed call accepted unchecked.
        start, end = getattr(self, "redis_window", (0, 0))
        during = [a for a in answers if a["t0"] > start + 0.5 and a["t1"] < end]
        probes = getattr(self, "redis_probes", [])
        accepted = [p for p in probes if 200 <= p["status"] < 300]
        unclear = [p for p in probes if p["status"] != 503 or not p["code"]]
        unclear += [a for a in during if not a.get("ok") and (a["status"] != 503 or not a.get("code"))]
        partner_ok = [a for a in during if a["kind"] == "partner" and a.get("ok")]
        if not probes:
            problems.append("no signed call was made while Redis was away")
        if accepted or partner_ok:
            problems.append(
                f"signed API calls accepted while Redis (the nonce store) was away: {accepted or partner_ok}"
            )
        if unclear:
            problems.append(f"refusals while Redis was away without a clear error: {unclear[:5]}")
        # The task whose worker process was killed ran again (acks late, rejected on worker lost).
        for fault in self.faults:
            if fault.get("task_id"):
                again = [
                    line
                    for log in sorted((self.state / "log").glob("worker*-io.log"))
                    for line in log.read_text(errors="replace").splitlines()
                    if fault["task_id"] in line and '"task.finished"' in line
                ]
                fault["ran_again"] = bool(again)
                if not again:
                    problems.append(f"the task killed mid-run ({fault['task_id']}) never finished afterwards")
        codes = sorted({p["code"] for p in probes} | {a.get("code", "") for a in during if not a.get("ok")})
        print("\n== faults")
        for fault in self.faults:
            at = fault["at"] - self.load_started
            detail = {k: v for k, v in fault.items() if k not in ("fault", "at", "probes")}
            print(f"  t+{at:5.1f} s  {fault['fault']} {detail if detail else ''}")
        print(
            f"  while Redis was away: {len(probes)} signed probes → "
            + ", ".join(f"{p['status']} {p['code']}" for p in probes)
            + f"; {len(during)} load answers in the window, error codes {codes}"
        )
        print("\n== figures (locust: requests, failures, requests/s, median and p99 in ms)")
        print(f"  {'kind':<20} {'requests':>8} {'failed':>7} {'req/s':>7} {'p50':>6} {'p99':>6}")
        for row in self.figures():
            print(
                f"  {row['name']:<20} {row['requests']:>8} {row['failures']:>7} {row['rps']:>7.2f} "
                f"{row['median_ms']:>6} {row['p99_ms']:>6}"
            )
        print(f"  load {self.load_seconds:.0f} s; machine load average {os.getloadavg()}")
        print("\n== checks")
        for key, value in report.items():
            print(f"  {key}: {value}")
        for problem in problems:
            print(f"  PROBLEM: {problem}")
        print(f"\nlost {report['lost']} · duplicated {report['duplicated']} · overpaid {report['overpaid']}")
        (self.state / "run" / "report.json").write_text(
            json.dumps(
                {**report, "problems": problems, "faults": self.faults, "figures": self.figures()},
                default=str,
            )
        )
        ok = not problems and report["lost"] == 0 and report["duplicated"] == 0 and report["overpaid"] == 0
        return 0 if ok else 1

    def down(self) -> None:
        step("down: processes, namespaces, bridge")
        self.stopping.set()
        if self.receiver:
            self.receiver.close()
        self.processes.stop_all()
        self.network.down()
        left = sh("ip", "netns", "list", check=False).stdout
        print("  nothing of the cluster is left" if "billpay-" not in left else f"  LEFT: {left}")


def check(short: bool) -> int:
    if os.getuid() != 0:
        print("the cluster needs root (ip netns)", file=sys.stderr)
        return 2
    state = Path(os.environ.get("CLUSTER_STATE_DIR") or f"/tmp/billpay-cluster-{os.getuid()}")
    cluster = Cluster(state, SHORT if short else LONG)

    def terminated(signum, frame):  # a CI timeout or `kill`: clean up as on Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminated)
    started = time.monotonic()
    status = 1
    try:
        cluster.up()
        setup_django(host_environment(cluster.env_file))
        cluster.seed()
        cluster.load()
        cluster.drain()
        status = cluster.judge()
    except KeyboardInterrupt:
        print("interrupted")
    except Exception:
        import traceback

        traceback.print_exc()
        stack.print_logs(state)
    finally:
        if status != 0:
            stack.print_logs(state, lines=15)
        cluster.down()
    print(f"== cluster check {'PASSED' if status == 0 else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return status


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check", "down"])
    parser.add_argument("--short", action="store_true", help="the short form (CI)")
    args = parser.parse_args(argv)
    if args.command == "down":
        Network().down()
        return 0
    return check(args.short)


if __name__ == "__main__":
    sys.exit(main())
