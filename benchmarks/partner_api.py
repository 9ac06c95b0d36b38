"""Payment creation through the partner API under gunicorn (2 workers) next to `post_payment` called
directly, in the same run, on the same PostgreSQL: payments/s and p50/p99 latency for both.

Run with `make bench`, or directly:

    BENCH_API_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench_api \
        .venv/bin/python benchmarks/partner_api.py [--payments 2000] [--clients 4]

The bench database (its name must contain "bench": its billing and api tables are TRUNCATEd) is created if
missing and migrated. One active biller gets 2 × N accounts with one open bill each. Then:

1. direct: 2 worker processes (as many as gunicorn's workers) call `billing.services.post_payment` for N
   accounts, channel "partner", each call timed;
2. API: gunicorn serves the project with 2 sync workers on 127.0.0.1, DEBUG off, the cache in Redis; C client
   processes sign and POST /api/v1/partner/payments (Idempotency-Key, HMAC signature, fresh nonce) for the
   other N accounts, each request timed end to end (new TCP connection each, as a sync worker closes it).

Both paths post to the same kind of bill with the same amount; the books are checked afterwards (every bill
paid once, every journal entry balanced). Exit status 0 when every check passed, 1 otherwise, 2 on a refused
configuration.
"""

import argparse
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
import time
from decimal import Decimal
from pathlib import Path

from benchdb import setup_django_on

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/billpay_bench_api"
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
ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "benchmark-only-not-a-secret",
    "API_CREDENTIAL_KEY": "benchmark-only-api-credential-key",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "LOG_LEVEL": "WARNING",
    "CONN_MAX_AGE": "60",
    "API_DEFAULT_RATE_LIMIT_PER_MINUTE": "1000000",
}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=2000, help="payments per path (default 2000)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent API client processes (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers and direct processes (2)")
    args = parser.parse_args(argv)
    if args.payments < 10 or args.clients < 1 or args.workers < 1:
        parser.error("--payments must be at least 10, --clients and --workers at least 1")
    return args


def configure(url: str) -> dict:
    return setup_django_on(
        url,
        setting="BENCH_API_DATABASE_URL",
        environment={**ENV, "CACHE_URL": os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/4")},
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
    return numbers[:payments], numbers[payments:], credential.key_id, credentials.secret_for(credential)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# --- direct ---------------------------------------------------------------------------------------------


def direct_worker(numbers: list[str], results) -> None:
    import django

    django.setup()
    from billing.services import post_payment

    latencies = []
    for number in numbers:
        started = time.perf_counter()
        post_payment(
            channel="partner",
            idempotency_key=f"DIRECT:{number}",
            biller_code=BILLER,
            account_no=number,
            amount=AMOUNT,
            channel_ref=f"D-{number}",
        )
        latencies.append(time.perf_counter() - started)
    results.put(latencies)


def run_processes(target, chunks: list[list[str]], extra=()) -> tuple[float, list[float]]:
    from django.db import connections

    connections.close_all()
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=target, args=(chunk, results, *extra)) for chunk in chunks]
    started = time.perf_counter()
    for process in processes:
        process.start()
    latencies = [value for _ in processes for value in results.get()]
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    if any(process.exitcode for process in processes):
        raise SystemExit("a worker process failed")
    return elapsed, latencies


# --- API ------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, workers: int) -> subprocess.Popen:
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    process = subprocess.Popen(
        [
            gunicorn,
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--log-level",
            "warning",
        ],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


def api_client(numbers: list[str], results, port: int, key_id: str, secret: str) -> None:
    from api import signing

    latencies = []
    failures = 0
    path = "/api/v1/partner/payments"
    for number in numbers:
        body = json.dumps(
            {"biller_code": BILLER, "account_no": number, "amount": AMOUNT, "partner_ref": f"A-{number}"}
        ).encode()
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        signature = signing.sign(
            secret, method="POST", path=path, query="", timestamp=timestamp, nonce=nonce, body=body
        )
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"pay-{number}",
            "X-BillPay-Key": key_id,
            "X-BillPay-Timestamp": timestamp,
            "X-BillPay-Nonce": nonce,
            "X-BillPay-Signature": signature,
        }
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        latencies.append(time.perf_counter() - started)
        failures += response.status != 201
    results.put(latencies if not failures else [float("nan")] * len(latencies))


def report(name: str, count: int, elapsed: float, latencies: list[float]) -> str:
    return (
        f"  {name:<34}{count / elapsed:>10.1f}/s  p50 {percentile(latencies, 0.50) * 1000:>7.1f} ms"
        f"  p99 {percentile(latencies, 0.99) * 1000:>7.1f} ms  ({count} in {elapsed:.1f} s)"
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


def main(argv=None) -> int:
    args = parse_args(argv)
    configure(os.environ.get("BENCH_API_DATABASE_URL", DEFAULT_URL))
    direct_numbers, api_numbers, key_id, secret = seed(args.payments)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"Partner API benchmark: {args.payments} payments per path, {os.cpu_count()} CPUs, "
        f"load average {load}"
    )

    chunks = [direct_numbers[i :: args.workers] for i in range(args.workers)]
    direct_elapsed, direct_latencies = run_processes(direct_worker, chunks)

    port = free_port()
    server = start_gunicorn(port, args.workers)
    try:
        chunks = [api_numbers[i :: args.clients] for i in range(args.clients)]
        api_elapsed, api_latencies = run_processes(api_client, chunks, (port, key_id, secret))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    print(
        report(f"post_payment direct ({args.workers} procs)", args.payments, direct_elapsed, direct_latencies)
    )
    print(
        report(
            f"API, gunicorn {args.workers} workers, {args.clients} clients",
            args.payments,
            api_elapsed,
            api_latencies,
        )
    )
    problems = check_books(2 * args.payments)
    if any(value != value for value in api_latencies):
        problems.append("some API requests did not answer 201")
    for problem in problems:
        print(f"  CHECK FAILED: {problem}")
    print("  books: every bill paid once, every entry balanced" if not problems else "")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
