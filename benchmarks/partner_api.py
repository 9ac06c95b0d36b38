"""Payment creation through the partner API under gunicorn (2 workers) next to `post_payment` called
directly, in the same run, on the same PostgreSQL: payments/s and p50/p99 latency for both.

Run with `make bench`, or directly:

    BENCH_API_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench_api \
        .venv/bin/python benchmarks/partner_api.py [--payments 2000] [--clients 4]

The bench database (its name must contain "bench": its billing and api tables are TRUNCATEd) is created if
missing and migrated. One active biller gets 2 × N accounts with one open bill each. Then:

1. direct: 2 worker processes (as many as gunicorn's workers) call `billing.services.post_payment` for N
   accounts, channel "partner", each call timed;
2. API: gunicorn serves the project with 2 sync workers on 127.0.0.1, DEBUG off, the cache in Redis (with
   --desks D, D posting desks beside it, their CPU counted as the API's); the
   other N accounts are paid with POST /api/v1/partner/payments (Idempotency-Key, HMAC signature, fresh
   nonce), C at a time, each request timed (new TCP connection each, as a sync worker closes it).

After the payments the same gunicorn answers GET /healthz/live, a request that asks nothing, for 3 s over
new connections (wrk only): its workers' CPU a request is printed as gunicorn's own floor, and the API's own
work a payment as what is left of the workers' CPU past that floor and the direct processes' posting.

Each round also prints how busy the machine was on each path and the API's machine time a payment over the
direct posting's: on a machine kept busy on both, the rates' ratio is its inverse (the floor asks at most
2.0), and a path that left the machine idle shows (granian's kept connections all on one worker).

With --rounds R (`make bench-province` gives 5, and 3 to its granian what-if) the two paths take turns R
times, N payments each a round on accounts of their own, under the one gunicorn; each round's figures are
printed, and the floor takes the median round's ratio. A machine that is slower for a few seconds (another
tenant's load: on the 2-core machines the same direct posting has cost 38 % more CPU a payment from one run
to the next) then weighs on one round, not on one path.

Before the first round each path pays --warmup accounts (200) uncounted, as a round does. A worker's first
requests read its partner's key and grants, prepare its statements and take the code's first paths: on the
twenty-fourth machine the first hundred API payments of a run took 5.7 ms each against 3.3 ms later, which
weighed on the first round only, the API's only (the direct processes are new every round, the server's
are not). Production's workers have long been warm.

Both paths post to the same kind of bill with the same amount; the books are checked afterwards (every bill
paid once, every journal entry balanced). Exit status 0 when every check passed, 1 otherwise, 2 on a refused
configuration; with --strict, 3 when the API's rate is below 0.5× the direct one.

With --province (issue 16) it measures on the province benchmarks/province.py loaded
(BENCH_PROVINCE_DATABASE_URL, default billpay_bench_province), empties nothing and seeds nothing: 2 × N
accounts with an unpaid bill of the last period are picked at random (others on each run), each path pays N
of them (the oldest payable bill at today's amount), the API through a partner BENCH and its key (made if
missing, granted the billers it pays):

    BENCH_PROVINCE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench_province \
        .venv/bin/python benchmarks/partner_api.py --province [--payments 2000 --strict]

In both modes gunicorn runs with the production configuration (deploy/gunicorn.conf.py: sync workers, access
log, metrics; --workers of them), DEBUG off, CONN_MAX_AGE=60, behind no nginx: the clients send the
X-Forwarded-Proto header nginx sets. Every request is signed before the clock starts. wrk sends them (one
thread, C connections, a Lua script that hands out each pre-built request once and stops at the last answer):
the clients share the 2 cores with the server, and C Python processes with http.client cost about 0.8 ms of
CPU a payment, taken from the server being measured while the direct path has no load generator at all.
Without wrk (not installed and not installable; or --client python) C http.client processes send them.

With --server granian (a what-if; `make bench-province` runs it after the production figure) granian's WSGI
server serves the same application with the same settings, its HTTP read and written in Rust, and each of
wrk's connections kept open between requests, as nginx keeps its upstream connections (`keepalive` in
deploy/nginx/billpay.conf) with a server that allows it; gunicorn's sync worker closes every connection. Its
figure is printed and recorded without a verdict: the floor is production's. docs/benchmarks.md ("A server
that keeps its connections") gives what moving the web unit to it would take.
"""

import argparse
import datetime
import http.client
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import figures
from benchdb import (
    bench_cache_url,
    open_bills_of_province,
    require_province,
    setup_django_on,
    setup_django_on_province,
)
from procstat import children_cpu_seconds, machine_busy_seconds, proc_cpu_seconds
from tools import ToolMissing, ensure_tool, wrk_figures

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/billpay_bench_api"
PATH = "/api/v1/partner/payments"
FLOOR_RATIO = 0.5  # issue 16: an API payment at least half as fast as post_payment called directly
PARTNER = "BENCH"  # --province: the benchmark's own partner, beside the province's P01…P50
TABLES = (
    "api_webhookattempt",
    "api_webhookdelivery",
    "api_partnerreversal",
    "api_idempotencyrecord",
    "api_apicredential",
    "api_partnercommission",
    "api_partner_allowed_billers",
    "api_partner_allowed_categories",
    "api_partner",
    "api_billerapiaccess",
    "billing_journalline",
    "billing_journalentry",
    "billing_paymentallocation",
    "billing_payment",
    "billing_bill",
    "billing_customeraccount",
    "billing_billerstaff",
    "billing_ledgeraccount",
    "billing_auditevent",
    "billing_feeschedule",
    "billing_biller",
)
BILLER = "BENCHAPI"
AMOUNT = "100.00"
SCRATCH = Path(os.environ.get("TMPDIR", "/tmp")) / "billpay-bench-api"
ENV = {
    "DEBUG": "false",
    # What a production start requires (config/checks.py refuses the demo's values with DEBUG off).
    "SECRET_KEY": "benchmark-only-not-a-secret-but-long-enough-0123456789",
    "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
    "EMAIL_FILE_PATH": str(SCRATCH / "mail"),
    "SMS_BACKEND": "payers.sms.FileSMSBackend",
    "SMS_FILE_PATH": str(SCRATCH / "sms"),
    # As behind deploy/nginx: TLS ends there, which says so in X-Forwarded-Proto.
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    "TRUSTED_PROXIES": "127.0.0.1",
    "API_CREDENTIAL_KEY": "benchmark-only-api-credential-key",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "LOG_LEVEL": "WARNING",
    "CONN_MAX_AGE": "60",
    "API_DEFAULT_RATE_LIMIT_PER_MINUTE": "1000000",
}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=2000, help="payments per path (default 2000)")
    parser.add_argument(
        "--clients", type=int, default=4, help="API requests at a time: wrk connections or processes (4)"
    )
    parser.add_argument(
        "--client",
        choices=("wrk", "python"),
        default="wrk",
        help="what sends the API requests: wrk (default; http.client processes when it is missing) or python",
    )
    parser.add_argument("--workers", type=int, default=2, help="server workers and direct processes (2)")
    parser.add_argument(
        "--server",
        choices=SERVERS,
        default="gunicorn",
        help="what serves the API: gunicorn as deploy/gunicorn.conf.py runs it (default, production), or "
        "granian, a what-if: the same application, each connection kept alive between requests",
    )
    parser.add_argument(
        "--desks",
        type=int,
        default=0,
        help="posting desks beside gunicorn (billing/posting_desk.py, where POSTING_DESK_URL is set): the "
        "API's payments that arrive together are posted as one batch; their CPU counts as the API's "
        "(default 0: each request posts its own, as without POSTING_DESK_URL)",
    )
    parser.add_argument(
        "--province",
        action="store_true",
        help="measure on the province in BENCH_PROVINCE_DATABASE_URL: pay its open bills, empty nothing",
    )
    parser.add_argument("--allow-any-database-name", action="store_true", help="with --province")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="the server's output on this console, not in var/partner_api.log",
    )
    parser.add_argument("--strict", action="store_true", help=f"exit 3 below {FLOOR_RATIO}x the direct rate")
    parser.add_argument(
        "--warmup",
        type=int,
        default=200,
        help="payments a path before the first round, not counted: the server's workers fill their caches "
        "and prepare their statements, as they have long done in production (default 200)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds of N direct payments then N API payments, each on accounts of its own; the floor takes "
        "the median round's ratio (default 1)",
    )
    args = parser.parse_args(argv)
    if args.payments < 10 or args.clients < 1 or args.workers < 1 or args.desks < 0 or args.rounds < 1:
        parser.error("--payments must be at least 10, --clients, --workers and --rounds at least 1")
    if args.warmup < 0:
        parser.error("--warmup must be 0 or more")
    return args


DESK_URL = "redis://127.0.0.1:6379/13"  # --desks: their queue (BENCH_DESK_URL), a Redis database of its own


def configure(args) -> dict:
    environment = {**ENV, "CACHE_URL": bench_cache_url()}
    if args.desks:
        environment["POSTING_DESK_URL"] = os.environ.get("BENCH_DESK_URL", DESK_URL)
    for directory in ("mail", "sms"):
        (SCRATCH / directory).mkdir(parents=True, exist_ok=True)
    if args.province:
        return setup_django_on_province(allow_any_name=args.allow_any_database_name, environment=environment)
    return setup_django_on(
        os.environ.get("BENCH_API_DATABASE_URL", DEFAULT_URL),
        setting="BENCH_API_DATABASE_URL",
        environment=environment,
    )


def seed(payments: int) -> tuple[list[str], list[str], str, str]:
    """Fresh tables: one biller, 2 × N accounts with one open bill each, a partner and its key."""
    import datetime

    from django.apps import apps
    from django.core.management import call_command
    from django.db import connection, transaction

    from api import credentials
    from api.models import ApiCredential, Partner
    from billing import ledger, reference_data
    from billing.choices import AmountRule, BillerStatus, PaymentMode
    from billing.models import Bill, Biller, BillerCategory, CustomerAccount

    call_command("migrate", interactive=False, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    reference_data.install(apps)
    with transaction.atomic():
        water = BillerCategory.objects.get(code="water")
        biller = Biller.objects.create(
            code=BILLER,
            name="压测水务",
            category=water,
            status=BillerStatus.ACTIVE,
            payment_mode=PaymentMode.STATEMENT,
            amount_rule=AmountRule.EXACT,
            account_pattern=r"^\d{8}$",
        )
        ledger.payable_account(biller)
        numbers = [f"{10_000_000 + n}" for n in range(2 * payments)]
        accounts = CustomerAccount.objects.bulk_create(
            [CustomerAccount(biller=biller, account_no=number, holder_name="压测用户") for number in numbers]
        )
        Bill.objects.bulk_create(
            [
                Bill(
                    biller=biller,
                    account=account,
                    period="2026-10",
                    amount_due=Decimal(AMOUNT),
                    due_date=datetime.date(2026, 11, 20),
                )
                for account in accounts
            ]
        )
        partner = Partner.objects.create(code="BENCH", name="Bench", rate_limit_per_minute=1_000_000)
        partner.allowed_categories.add(water)
        credential = ApiCredential.objects.create(partner=partner)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    requests = [(BILLER, number, Decimal(AMOUNT)) for number in numbers]
    return requests[:payments], requests[payments:], credential.key_id, credentials.secret_for(credential)


def province_setup(payments: int, salt: str) -> tuple[list, list, str, str]:
    """--province: 2 × N of the province's open bills, and the BENCH partner's key, granted their billers."""
    from api import credentials
    from api.choices import CredentialStatus, PartnerStatus
    from api.models import ApiCredential, Partner
    from billing.models import Biller

    province = require_province()
    requests = open_bills_of_province(2 * payments, salt=salt)
    if len(requests) < 2 * payments:
        raise SystemExit(f"only {len(requests)} open bills found for 2 x {payments} payments: use --payments")
    partner, _created = Partner.objects.get_or_create(
        code=PARTNER, defaults={"name": "Benchmark partner", "rate_limit_per_minute": 100_000}
    )
    if partner.status != PartnerStatus.ACTIVE or partner.ip_allowlist:
        raise SystemExit(f"partner {PARTNER} is not active or has an IP allow-list: fix it in the admin")
    codes = {code for code, _number, _amount in requests}
    partner.allowed_billers.add(*Biller.objects.filter(code__in=codes))
    credential = ApiCredential.objects.filter(
        partner=partner, status=CredentialStatus.ACTIVE, expires_at__isnull=True
    ).first() or ApiCredential.objects.create(partner=partner, label="benchmarks/partner_api.py")
    grid = sum(1 for code, _number, _amount in requests if code == "PROVGRID")
    print(
        f"province scale {province['scale']}: {len(requests)} open bills at {len(codes)} billers "
        f"({grid} at the grid), partner {PARTNER} key {credential.key_id}"
    )
    return requests[:payments], requests[payments:], credential.key_id, credentials.secret_for(credential)


# --- direct ---------------------------------------------------------------------------------------------


def direct_worker(requests: list, results, barrier, salt: str) -> None:
    from django.db import connection, connections

    connections.close_all()
    from billing.services import post_payment

    connection.ensure_connection()  # connect before the clock starts, as a gunicorn worker has
    latencies = []
    barrier.wait(timeout=120)
    cpu = time.process_time()
    for biller_code, number, amount in requests:
        started = time.perf_counter()
        post_payment(
            channel="partner",
            idempotency_key=f"DIRECT:{salt}{number}",
            biller_code=biller_code,
            account_no=number,
            amount=amount,
            channel_ref=f"D-{salt}{number}",
        )
        latencies.append(time.perf_counter() - started)
    results.put((latencies, time.process_time() - cpu))


def run_processes(target, chunks: list[list], extra=()) -> tuple[float, list[float], float]:
    """Start one process per chunk, release them together, and return the wall time from the release to
    the last answer, every latency, and the CPU the processes say they used."""
    from django.db import connections

    connections.close_all()
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    barrier = context.Barrier(len(chunks) + 1)
    processes = [context.Process(target=target, args=(chunk, results, barrier, *extra)) for chunk in chunks]
    for process in processes:
        process.start()
    barrier.wait(timeout=120)
    started = time.perf_counter()
    answers = [results.get() for _ in processes]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    if any(process.exitcode for process in processes):
        raise SystemExit("a worker process failed")
    return elapsed, [value for latencies, _cpu in answers for value in latencies], sum(c for _l, c in answers)


# --- API ------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SERVER_LOG = PROJECT_ROOT / "var" / "partner_api.log"
DESK_LOG = PROJECT_ROOT / "var" / "posting_desk.log"


def production_environment() -> dict[str, str]:
    """This process's environment with the settings a production start requires set to the benchmark's own,
    whatever the caller's shell has: for the processes it starts (gunicorn, the desks)."""
    required = ("SECRET_KEY", "EMAIL_BACKEND", "EMAIL_FILE_PATH", "SMS_BACKEND", "SMS_FILE_PATH", "DEBUG")
    return dict(os.environ, **{name: ENV[name] for name in required})


@dataclass(frozen=True)
class Server:
    """What can serve the API here, and the two facts the run reads of it."""

    production: bool  # what deploy/ runs: only its figure carries the floor's verdict (and figures.window's)
    keeps_connections: bool  # wrk's connections stay open between requests (and the healthz floor's too)


SERVERS = {
    "gunicorn": Server(production=True, keeps_connections=False),
    "granian": Server(production=False, keeps_connections=True),
}
# --server granian's access line: gunicorn's atoms that granian has, and the request id nginx sends.
GRANIAN_ACCESS_FORMAT = (
    '%(addr)s - [%(time)s] "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).3f %(header{x-request-id})s'
)


def server_command(server: str, port: int, workers: int) -> list[str]:
    """The command that serves the project on 127.0.0.1:`port` with `workers` worker processes: gunicorn as
    the web unit runs it (deploy/gunicorn.conf.py: sync workers, one request a connection), or, for
    --server granian, granian's WSGI server, whose connections stay open between requests (HTTP/1.1
    keep-alive, as nginx's upstream block in deploy/nginx/billpay.conf asks of the server behind it) and
    whose HTTP is read and written in Rust, one Python thread a worker running the application."""
    bin_dir = str(Path(sys.executable).parent)
    if server == "gunicorn":
        gunicorn = shutil.which("gunicorn", path=bin_dir) or "gunicorn"
        return [gunicorn, "-c", str(PROJECT_ROOT / "deploy" / "gunicorn.conf.py"), "config.wsgi:application"]
    granian = shutil.which("granian", path=bin_dir) or "granian"
    return [
        granian,
        "--interface",
        "wsgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        "1",
        "--runtime-threads",
        "1",
        "--no-ws",
        "--log-level",
        "warning",
        "--access-log",
        "--access-log-fmt",
        GRANIAN_ACCESS_FORMAT,
        "config.wsgi:application",
    ]


def start_server(server: str, port: int, workers: int, *, verbose: bool = False) -> subprocess.Popen:
    """The server (`server_command`) with production's settings (DEBUG off), with `workers` workers on
    `port`; its output (an access line a request, on stderr as journald would take it) goes to SERVER_LOG
    unless `verbose`, which leaves it on this console."""
    env = dict(
        production_environment(),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS=str(workers),
        GUNICORN_LOG_LEVEL="warning",
        PROMETHEUS_MULTIPROC_DIR=str(SCRATCH / "prometheus"),
    )
    (SCRATCH / "prometheus").mkdir(parents=True, exist_ok=True)
    if verbose:
        output = None
    else:
        SERVER_LOG.parent.mkdir(parents=True, exist_ok=True)
        output = SERVER_LOG.open("wb")
    process = subprocess.Popen(
        server_command(server, port, workers),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL if verbose else output,
        stderr=output,
    )
    if output is not None:
        output.close()  # the server has its own copy
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{server} did not start" + ("" if verbose else f": see {SERVER_LOG}"))


def start_desks(count: int) -> list[subprocess.Popen]:
    """`count` posting desks as their unit runs them (manage.py run_posting_desk), alive before the clock
    starts; their output goes to SERVER_LOG's neighbour var/posting_desk.log."""
    from billing import posting_desk

    posting_desk.empty_queue()
    with DESK_LOG.open("wb") as output:
        desks = [
            subprocess.Popen(
                [sys.executable, str(PROJECT_ROOT / "manage.py"), "run_posting_desk"],
                cwd=PROJECT_ROOT,
                env=production_environment(),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            for _ in range(count)
        ]
    if not posting_desk.wait_until_serving(30, given_up=lambda: any(d.poll() is not None for d in desks)):
        for desk in desks:
            desk.kill()
        raise SystemExit(f"the posting desk did not start: see {DESK_LOG}")
    return desks


def sign_requests(requests: list, key_id: str, secret: str, salt: str) -> list[tuple[str, bytes, dict]]:
    """Each payment's body and headers, signed as a partner's client signs them (a distinct nonce,
    Idempotency-Key and partner_ref each), with its partner_ref to find its answer by."""
    from api import signing

    signed = []
    for biller_code, number, amount in requests:
        partner_ref = f"A-{salt}{number}"
        body = json.dumps(
            {
                "biller_code": biller_code,
                "account_no": number,
                "amount": f"{amount:.2f}",
                "partner_ref": partner_ref,
            }
        ).encode()
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        signature = signing.sign(
            secret, method="POST", path=PATH, query="", timestamp=timestamp, nonce=nonce, body=body
        )
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"pay-{salt}{number}",
            "X-BillPay-Key": key_id,
            "X-BillPay-Timestamp": timestamp,
            "X-BillPay-Nonce": nonce,
            "X-BillPay-Signature": signature,
            "X-Forwarded-Proto": "https",
        }
        signed.append((partner_ref, body, headers))
    return signed


def api_client(requests: list, results, barrier, port: int, key_id: str, secret: str, salt: str) -> None:
    """One http.client process (without wrk): its share of the payments, one request at a time."""
    latencies = []
    failures = 0
    signed = sign_requests(requests, key_id, secret, salt)
    barrier.wait(timeout=120)
    cpu = time.process_time()
    for _ref, body, headers in signed:
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", PATH, body=body, headers=headers)
        response = conn.getresponse()
        answer = response.read()
        conn.close()
        latencies.append(time.perf_counter() - started)
        if response.status != 201:
            failures += 1
            if failures <= 3:
                print(f"API answered {response.status}: {answer[:300]!r}", file=sys.stderr)
    latencies = latencies if not failures else [float("nan")] * len(latencies)
    results.put((latencies, time.process_time() - cpu))


def raw_request(body: bytes, headers: dict, port: int) -> bytes:
    """The bytes http.client sends for this request (Host, Accept-Encoding, Content-Length, then ours)."""
    lines = [
        f"POST {PATH} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Accept-Encoding: identity",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# wrk's Lua: hands out each pre-built request once, times it by the partner_ref its answer carries, and on
# the last answer stops wrk (its -d is only a bound). One thread: its connections are accepted by gunicorn in
# the order they were given requests, so the connections wrk reopens after the last request (a sync worker
# closes each one; they send nothing) queue behind every real one and never hold a worker a request waits for.
WRK_SCRIPT = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec_t;
int clock_gettime(int clock, bench_timespec_t *tp);
int kill(int pid, int sig);
int getpid(void);
]]
local clock = ffi.new("bench_timespec_t")
local function now()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) / 1e9
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

signed, tags, sent_at = {}, {}, {}
sent, answered, created, first, last, cpu_first, cpu_last = 0, 0, 0, 0, 0, 0, 0
latencies, refused, verifying = {}, "", false

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local data = file:read("*a")
  file:close()
  local at = 1
  while at <= #data do  -- "<partner_ref> <length>\n<request>", one after the other
    local newline = data:find("\n", at, true)
    local tag, length = data:sub(at, newline - 1):match("^(%S+) (%d+)$")
    signed[#signed + 1], tags[#tags + 1] = data:sub(newline + 1, newline + length), tag
    at = newline + length + 1
  end
  verifying = true  -- wrk asks thread 1 for a request once before it starts, to check it parses
end

function request()
  if verifying then
    verifying = false
    return signed[1]
  end
  if sent == #signed then
    return ""  -- all sent: this reopened connection stays idle until wrk stops
  end
  sent = sent + 1
  local at = now()
  if sent == 1 then
    first, cpu_first = at, os.clock()
  end
  sent_at[tags[sent]] = at
  return signed[sent]
end

function response(status, headers, body)
  local at = now()
  answered, last, cpu_last = answered + 1, at, os.clock()
  local tag = body:match('"partner_ref"%s*:%s*"([^"]+)"')
  if status == 201 and tag and sent_at[tag] then
    created = created + 1
    latencies[#latencies + 1] = at - sent_at[tag]
  elseif #refused < 1000 then
    refused = refused .. status .. " " .. body:sub(1, 300):gsub("%s+", " ") .. "\n"
  end
  if answered == #signed then
    wrk.thread:stop()
    ffi.C.kill(ffi.C.getpid(), 2)  -- SIGINT: wrk stops sleeping out its -d and reports
  end
end

function done(summary, latency, requests)
  local t = threads[1]
  local e = summary.errors
  io.write(string.format(
    "partner-api-wrk sent=%d answered=%d created=%d elapsed=%.6f cpu=%.6f connect=%d read=%d write=%d\n",
    t:get("sent"), t:get("answered"), t:get("created"), t:get("last") - t:get("first"),
    t:get("cpu_last") - t:get("cpu_first"), e.connect, e.read, e.write))
  io.write("partner-api-wrk-latencies " .. table.concat(t:get("latencies"), " ") .. "\n")
  for line in t:get("refused"):gmatch("[^\n]+") do
    io.write("partner-api-wrk-refused " .. line .. "\n")
  end
end
"""


def api_by_wrk(wrk: str, port: int, signed: list, connections: int) -> dict:
    """Send every signed request once through wrk (`connections` at a time); its wall time from the first
    request to the last answer, the latencies of the 201 answers, wrk's CPU over that time, and what went
    wrong (requests unanswered or answered otherwise)."""
    with tempfile.TemporaryDirectory(prefix="billpay-bench-wrk-") as scratch:
        data, script = Path(scratch) / "requests", Path(scratch) / "partner_api.lua"
        with data.open("wb") as out:
            for ref, body, headers in signed:
                raw = raw_request(body, headers, port)
                out.write(f"{ref} {len(raw)}\n".encode() + raw)
        script.write_text(WRK_SCRIPT)
        duration = 60 + len(signed) // 5  # only a bound: the script stops wrk at the last answer
        command = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(script)]
        out = subprocess.run(
            [*command, f"http://127.0.0.1:{port}", "--", str(data)], capture_output=True, text=True
        )
    ours = [line.split(" ", 1) for line in out.stdout.splitlines() if line.startswith("partner-api-wrk")]
    lines = {label: rest for label, rest in ours}
    if out.returncode or "partner-api-wrk" not in lines:
        raise SystemExit(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    figures = dict(field.split("=") for field in lines["partner-api-wrk"].split())
    latencies = [float(value) for value in lines["partner-api-wrk-latencies"].split()]
    refused = [rest for label, rest in ours if label == "partner-api-wrk-refused"]
    problems = [f"API answered {line[:300]}" for line in refused[:3]]
    sent, answered, created = (int(figures[name]) for name in ("sent", "answered", "created"))
    if sent != len(signed) or answered != sent:
        problems.append(f"wrk sent {sent} of {len(signed)} requests, {answered} answered")
    if created != len(signed):
        problems.append(f"{len(signed) - created} API requests not answered 201 Created")
    errors = {name: int(figures[name]) for name in ("connect", "read", "write") if int(figures[name])}
    if errors:
        problems.append(f"wrk's socket errors: {errors}")
    return {
        "elapsed": float(figures["elapsed"]),
        "latencies": latencies or [float("nan")],
        "cpu": float(figures["cpu"]),
        "problems": problems,
    }


def http_floor(
    wrk: str, port: int, server_pid: int, connections: int, seconds: int = 3, *, keep_alive: bool = False
) -> dict | None:
    """What a request costs the server's workers before any of the API's own work: GET /healthz/live (no
    database, cache or broker asked) sent by wrk for `seconds`, over connections as the payments came (a new
    one each; kept open with `keep_alive`, as granian keeps them): the rate, and the workers' CPU per
    request (None when it could not be read, or a request was not answered 2xx: a refusal is no floor)."""
    before = children_cpu_seconds(server_pid)
    close = [] if keep_alive else ["-H", "Connection: close"]
    out = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "-H",
            "X-Forwarded-Proto: https",
            *close,
            f"http://127.0.0.1:{port}/healthz/live",
        ],
        capture_output=True,
        text=True,
    )
    after = children_cpu_seconds(server_pid)
    if out.returncode or before is None or after is None:
        return None
    figures = wrk_figures(out.stdout)
    if figures["non2xx"] or figures["socket_errors"] or not figures["requests"]:
        return None
    return {"rate": figures["rps"], "cpu_ms": 1000 * (after - before) / figures["requests"]}


def report(name: str, count: int, elapsed: float, latencies: list[float]) -> str:
    return (
        f"  {name:<34}{count / elapsed:>10.1f}/s  p50 {figures.percentile(latencies, 0.50) * 1000:>7.1f} ms"
        f"  p99 {figures.percentile(latencies, 0.99) * 1000:>7.1f} ms  ({count} in {elapsed:.1f} s)"
    )


def check_books(expected: int) -> list[str]:
    from billing.choices import BillStatus
    from billing.models import Bill, Payment
    from billing.selectors import unbalanced_entry_ids

    problems = []
    if Payment.objects.count() != expected:
        problems.append(f"{Payment.objects.count()} payments, expected {expected}")
    if Bill.objects.exclude(status=BillStatus.PAID).exists():
        problems.append("some bills are not paid")
    if unbalanced_entry_ids():
        problems.append("unbalanced journal entries")
    return problems


def check_province_books(requests: list, salt: str) -> list[str]:
    """--province: this run's payments are there once each, balanced, and paid the bills asked."""
    from django.db.models import Q, Sum

    from billing.choices import BillStatus
    from billing.models import Bill, JournalLine, Payment

    keys = [f"DIRECT:{salt}", f"{PARTNER}:pay-{salt}"]
    ours = Payment.objects.filter(
        Q(idempotency_key__startswith=keys[0]) | Q(idempotency_key__startswith=keys[1])
    )
    problems = []
    if ours.count() != len(requests):
        problems.append(f"{ours.count()} payments, expected {len(requests)}")
    paid = Bill.objects.filter(allocations__payment__in=ours, status=BillStatus.PAID).distinct().count()
    if paid != len(requests):
        problems.append(f"{paid} bills paid, expected {len(requests)}")
    unbalanced = (
        JournalLine.objects.filter(entry__payment__in=ours)
        .values("entry_id")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
    )
    if unbalanced.exists():
        problems.append("unbalanced journal entries")
    return problems


def main(argv=None) -> int:
    args = parse_args(argv)
    configure(args)
    salt = f"{datetime.datetime.now(datetime.UTC):%Y%m%d%H%M%S}-" if args.province else ""
    payments = args.warmup + args.payments * args.rounds
    if args.province:
        direct_requests, api_requests, key_id, secret = province_setup(payments, salt)
    else:
        direct_requests, api_requests, key_id, secret = seed(payments)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"Partner API benchmark: {args.payments} payments per path"
        + (f" in each of {args.rounds} rounds" if args.rounds > 1 else "")
        + (f" after {args.warmup} uncounted" if args.warmup else "")
        + f", {os.cpu_count()} CPUs, load average {load}"
    )

    wrk = None
    if args.client == "wrk":
        try:
            wrk = ensure_tool("wrk")
        except ToolMissing as missing:
            print(f"  {missing}\n  The API requests are sent by {args.clients} http.client processes.")
    port = free_port()
    server = start_server(args.server, port, args.workers, verbose=args.verbose)
    desks = start_desks(args.desks) if args.desks else []
    rounds, api_problems = [], []
    try:
        for _ in range(2 * args.workers):  # each worker loads the application before the clock starts
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/healthz/live", headers={"X-Forwarded-Proto": "https"})
            conn.getresponse().read()
            conn.close()
        live = dict(wrk=wrk, server=server, desks=desks, port=port, key_id=key_id, secret=secret, salt=salt)
        warmup, counted = round_slices(args.warmup, args.payments, args.rounds)
        if args.warmup:
            warmed = measure_round(args, live, direct_requests[warmup], api_requests[warmup])
            api_problems += warmed["problems"]
        for mine in counted:
            measured = measure_round(args, live, direct_requests[mine], api_requests[mine])
            api_problems += measured.pop("problems")
            rounds.append(measured)
        keep_alive = SERVERS[args.server].keeps_connections
        floor = http_floor(wrk, port, server.pid, args.clients, keep_alive=keep_alive) if wrk else None
    finally:
        for process in (server, *desks):
            process.send_signal(signal.SIGTERM)
        for process in (server, *desks):
            process.wait(timeout=30)

    for number, measured in enumerate(rounds, 1):
        if args.rounds > 1:
            print(f"  round {number} of {args.rounds}:")
        print_round(args, wrk, desks, measured, floor)
    # The verdict: the median round's ratio (one round: its own). Alternating the two paths in rounds keeps
    # a machine that is slower for a few seconds (another tenant's load) from landing on one path only.
    middle = sorted(rounds, key=lambda measured: measured["ratio"])[(len(rounds) - 1) // 2]
    ratio = middle["ratio"]
    met = ratio >= FLOOR_RATIO
    each = ", ".join(f"{measured['ratio']:.2f}x" for measured in rounds)
    which = f" (the median of {args.rounds} rounds: {each})" if args.rounds > 1 else ""
    verdict = "MET" if met else "NOT MET"
    production = SERVERS[args.server].production
    what_if = "" if production else f" (what-if: {args.server}, not what deploy/ runs)"
    print(f"  floor: API >= {FLOOR_RATIO}x post_payment direct: {ratio:.2f}x{which}, {verdict}{what_if}")
    if args.province:
        count = args.payments
        # The floor is production's (gunicorn); another server's figure is shown beside it, without a verdict
        # (and figures.window reads production's).
        figures.record(
            "partner_api" + ("" if production else f" --server {args.server}"),
            "partner API ÷ post_payment direct" + ("" if production else f", under {args.server} (what-if)"),
            f"{count / middle['api_elapsed']:.1f}/s ÷ {count / middle['direct_elapsed']:.1f}/s = {ratio:.2f}x"
            + (f", the median of {args.rounds} rounds" if args.rounds > 1 else ""),
            f">= {FLOOR_RATIO}x" if production else f"(informative; the floor is {FLOOR_RATIO}x)",
            met=met if production else None,
            direct_machine_ms=1000 * middle["direct_busy"] / count,
            api_machine_ms=1000 * middle["api_busy"] / count,
        )
        problems = check_province_books(direct_requests + api_requests, salt)
    else:
        problems = check_books(2 * payments)
    problems += api_problems
    for problem in problems:
        print(f"  CHECK FAILED: {problem}")
    print("  books: every bill paid once, every entry balanced" if not problems else "")
    if not args.verbose:
        print(f"  {args.server}'s output (access lines, errors): {SERVER_LOG.relative_to(PROJECT_ROOT)}")
    if problems:
        return 1
    return 3 if args.strict and production and not met else 0


def round_slices(warmup: int, payments: int, rounds: int) -> tuple[slice, list[slice]]:
    """Where each path's requests go: the first `warmup` to the uncounted warm-up, then `payments` to each
    round, every account paid once."""
    starts = [warmup + number * payments for number in range(rounds)]
    return slice(0, warmup), [slice(start, start + payments) for start in starts]


def measure_round(args, live: dict, direct_requests: list, api_requests: list) -> dict:
    """One round: the direct processes pay their accounts, then the API its own (gunicorn idle meanwhile).
    `live`: the running server and its clients' means (wrk, server, desks, port, key_id, secret, salt)."""
    wrk, server, desks, port = live["wrk"], live["server"], live["desks"], live["port"]
    key_id, secret, salt = live["key_id"], live["secret"], live["salt"]
    chunks = [direct_requests[i :: args.workers] for i in range(args.workers)]
    busy = machine_busy_seconds()
    direct_elapsed, direct_latencies, direct_cpu = run_processes(direct_worker, chunks, (salt,))
    direct_busy = machine_busy_seconds() - busy

    signed = sign_requests(api_requests, key_id, secret, salt) if wrk else None
    server_cpu, busy = children_cpu_seconds(server.pid), machine_busy_seconds()
    desk_cpu = sum(proc_cpu_seconds(desk.pid) or 0.0 for desk in desks)
    if wrk:
        sent = api_by_wrk(wrk, port, signed, args.clients)
        api_elapsed, api_latencies, client_cpu = sent["elapsed"], sent["latencies"], sent["cpu"]
        problems = sent["problems"]
    else:
        chunks = [api_requests[i :: args.clients] for i in range(args.clients)]
        api_elapsed, api_latencies, client_cpu = run_processes(
            api_client, chunks, (port, key_id, secret, salt)
        )
        nan = any(value != value for value in api_latencies)
        problems = ["some API requests did not answer 201"] if nan else []
    api_busy = machine_busy_seconds() - busy
    after = children_cpu_seconds(server.pid)
    server_cpu = None if server_cpu is None or after is None else after - server_cpu
    desk_cpu = sum(proc_cpu_seconds(desk.pid) or 0.0 for desk in desks) - desk_cpu
    return {
        "direct_elapsed": direct_elapsed,
        "direct_latencies": direct_latencies,
        "direct_cpu": direct_cpu,
        "direct_busy": direct_busy,
        "api_elapsed": api_elapsed,
        "api_latencies": api_latencies,
        "client_cpu": client_cpu,
        "server_cpu": server_cpu,
        "desk_cpu": desk_cpu,
        "api_busy": api_busy,
        "ratio": direct_elapsed / api_elapsed,  # the rates' ratio: the same count of payments each
        "problems": problems,
    }


def print_round(args, wrk, desks, measured: dict, floor: dict | None) -> None:
    count = args.payments
    client_name = f"wrk -c{args.clients}" if wrk else f"{args.clients} clients"
    direct_name = f"post_payment direct ({args.workers} procs)"
    print(report(direct_name, count, measured["direct_elapsed"], measured["direct_latencies"]))
    with_desks = f", {args.desks} posting desk{'s' if args.desks > 1 else ''}" if args.desks else ""
    kept_by_wrk = SERVERS[args.server].keeps_connections and wrk  # http.client's processes: new each
    kept = ", connections kept alive" if kept_by_wrk else ""
    api_name = f"API, {args.server} {args.workers} workers{kept}{with_desks}, {client_name}"
    print(report(api_name, count, measured["api_elapsed"], measured["api_latencies"]))
    server_cpu, direct_cpu = measured["server_cpu"], measured["direct_cpu"]
    print(
        f"  CPU per payment: direct processes {1000 * direct_cpu / count:.2f} ms; {args.server} workers "
        + (f"{1000 * server_cpu / count:.2f} ms" if server_cpu is not None else "not measured")
        + (f", posting desks {1000 * measured['desk_cpu'] / count:.2f} ms" if desks else "")
        + f", API {'client (wrk)' if wrk else 'clients'} {1000 * measured['client_cpu'] / count:.2f} ms; "
        f"whole machine {1000 * measured['direct_busy'] / count:.2f} ms (direct) and "
        f"{1000 * measured['api_busy'] / count:.2f} ms (API)"
    )
    if floor is not None and server_cpu is not None and not desks:
        own = 1000 * (server_cpu - direct_cpu) / count - floor["cpu_ms"]
        print(
            f"  {args.server}'s own floor: GET /healthz/live, a request that asks nothing, "
            f"{floor['rate']:.0f}/s, {floor['cpu_ms']:.2f} ms of worker CPU each; so the API's own work is "
            f"{own:.2f} ms a payment ({args.server}'s CPU less the direct processes' and the floor's)"
        )
    print(machine_line(measured, os.cpu_count() or 1))
    print(f"  ratio: {measured['ratio']:.2f}x")


def machine_line(measured: dict, cpus: int) -> str:
    """How busy the machine was on each path, and the API's machine time a payment over the direct posting's.
    On a machine kept busy on both paths the rates' ratio is the inverse of the second figure (so the floor
    of 0.5x asks it at most 2.0); a path that left the machine idle (a server whose kept connections all went
    to one worker) shows in the first."""
    direct = measured["direct_busy"] / (measured["direct_elapsed"] * cpus)
    api = measured["api_busy"] / (measured["api_elapsed"] * cpus)
    over = measured["api_busy"] / measured["direct_busy"]  # the same count of payments on each path
    return (
        f"  machine busy: direct {direct:.0%}, API {api:.0%}; the API's machine time a payment over the "
        f"direct posting's: {over:.2f} (at most {1 / FLOOR_RATIO:.1f} for the floor on a machine kept busy)"
    )


if __name__ == "__main__":
    sys.exit(main())
