#!/usr/bin/env python3
"""Restore drill: prove that a base backup plus archived WAL brings the ledger back to a chosen moment.

On this machine, with PostgreSQL 15's own programs (/usr/lib/postgresql/15/bin) and nothing of the system's
server touched, it:

  1. creates a throw-away cluster (own data directory under var/restore-drill/, own port, archive_mode on,
     every WAL segment copied into an archive directory, as docs/operations.md sets up production);
  2. loads a small demo ledger (migrate, `seed_demo --accounts N`) and posts payments through the real
     posting service (billing.services.post_payment, some reversed with reverse_payment);
  3. takes a base backup (pg_basebackup), posts more payments, notes the recovery target time and the
     ledger's counts at that moment, then posts more payments after it;
  4. restores the base backup into a NEW cluster with recovery_target_time, replaying the archive;
  5. verifies the restored ledger: every journal entry balanced, the trial balance zero, and payments,
     entries, lines and allocations exactly as many as the source had at the recovery point (so none of
     the later ones).

It prints the recovery point and the time taken, and exits 1 on any mismatch (2 when a step fails). The
clusters are stopped and their directories removed at the end (--keep leaves them for a look).

    .venv/bin/python deploy/restore_drill.py [--accounts 12] [--payments 15] [--keep]

Run as root it runs PostgreSQL's programs as the `postgres` user (initdb refuses root).
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


class DrillFailed(Exception):
    """A step of the drill itself failed (not a ledger mismatch)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A PostgreSQL cluster of the drill: a data directory and a port, driven by pg_ctl."""

    def __init__(self, name: str, workdir: Path, port: int):
        self.name = name
        self.data = workdir / name
        self.log = workdir / f"{name}.log"
        self.port = port
        self.socket_dir = workdir

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL's programs refuse to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise DrillFailed(f"{args[0]} failed ({self.name}):\n{result.stdout}{result.stderr}")
        return result

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/billpay"

    def configure(self, lines: list[str]) -> None:
        with open(self.data / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
            conf.write("\n".join(lines) + "\n")


def chown_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


# --- The source cluster ------------------------------------------------------------------------------------


def create_source(workdir: Path, archive: Path) -> Cluster:
    source = Cluster("source", workdir, free_port())
    source.run("initdb", "-D", str(source.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
    source.configure(
        [
            f"port = {source.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{source.socket_dir}'",
            "wal_level = replica",
            "archive_mode = on",
            # As in production (docs/operations.md): never overwrite a segment already archived.
            f"archive_command = 'test ! -f {archive}/%f && cp %p {archive}/%f'",
            "max_wal_senders = 4",
            # A throw-away cluster: no need to wait for the disk (the archive is what is being tested).
            "fsync = off",
            "synchronous_commit = off",
            "shared_buffers = 32MB",
        ]
    )
    source.start()
    source.run("createdb", "-h", "127.0.0.1", "-p", str(source.port), "-U", "postgres", "billpay")
    return source


def copy_schema(database_url: str, target: Cluster) -> None:
    """The tables, constraints and ledger triggers of an already migrated database (pg_dump --schema-only):
    what `migrate` builds, in seconds rather than a minute. The reference data is installed afterwards."""
    dump = subprocess.run(
        [str(PG_BIN / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges", database_url],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if dump.returncode != 0:
        raise DrillFailed(f"pg_dump --schema-only {database_url} failed:\n{dump.stderr}")
    load = subprocess.run(
        [str(PG_BIN / "psql"), "-q", "-v", "ON_ERROR_STOP=1", target.url()],
        input=dump.stdout, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if load.returncode != 0:
        raise DrillFailed(f"loading the schema into the drill's cluster failed:\n{load.stderr}")


def point_django_at(cluster: Cluster) -> None:
    from django.db import connection

    connection.close()
    connection.settings_dict["HOST"] = "127.0.0.1"
    connection.settings_dict["PORT"] = cluster.port


def post_batch(batch: int, count: int, *, reverse_every: int = 0) -> int:
    """Bill `count` demo accounts for a new period, then pay what each owes through the posting service
    (an account the biller's rules refuse is skipped); reverse every n-th payment. Returns how many."""
    import datetime

    from django.db.models import F, Sum
    from django.utils import timezone

    from billing.choices import PAYABLE_BILL_STATUSES, BillerStatus, Channel
    from billing.exceptions import PaymentRefused
    from billing.models import Bill, CustomerAccount
    from billing.services import post_payment, reverse_payment

    accounts = list(
        CustomerAccount.objects.filter(biller__status=BillerStatus.ACTIVE)
        .select_related("biller")
        .order_by("id")[: count * 2]
    )
    period = f"2099-{batch:02d}"  # a period of the drill's own: never one of the demo's bills
    Bill.objects.bulk_create(
        [
            Bill(
                biller=account.biller,
                account=account,
                period=period,
                amount_due=Decimal("100.00") + index,
                due_date=datetime.date(2099, batch, 28),
                created_at=timezone.now(),
            )
            for index, account in enumerate(accounts)
        ],
        ignore_conflicts=True,
    )
    posted = 0
    for account in accounts:
        if posted == count:
            break
        owed = Bill.objects.filter(
            account=account, status__in=PAYABLE_BILL_STATUSES, amount_due__gt=F("amount_paid")
        ).aggregate(total=Sum(F("amount_due") - F("amount_paid")))["total"]
        if not owed:
            continue
        try:
            result = post_payment(
                channel=Channel.ONLINE,
                idempotency_key=f"drill-{batch}-{account.pk}",
                biller_code=account.biller.code,
                account_no=account.account_no,
                amount=owed,
            )
        except PaymentRefused as refused:
            print(f"  batch {batch}: account {account.pk} refused: {refused.code}", flush=True)
            continue
        posted += 1
        if reverse_every and posted % reverse_every == 0:
            reverse_payment(payment=result.payment, actor=None, reason="restore drill")
    if posted < count:
        raise DrillFailed(f"batch {batch}: only {posted} of {count} payments could be posted")
    return posted


def ledger_counts() -> dict[str, int]:
    from billing.models import JournalEntry, JournalLine, Payment, PaymentAllocation

    return {
        "payments": Payment.objects.count(),
        "journal_entries": JournalEntry.objects.count(),
        "journal_lines": JournalLine.objects.count(),
        "allocations": PaymentAllocation.objects.count(),
    }


def server_time() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
        return cursor.fetchone()[0] + "+00"


def archive_current_wal(source: Cluster) -> None:
    """Close the current WAL segment and wait until the archiver has copied it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_walfile_name(pg_switch_wal())")
        segment = cursor.fetchone()[0]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            cursor.execute("SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver")
            archived, failed = cursor.fetchone()
            if archived and archived >= segment:
                return
            if failed and failed >= segment:
                raise DrillFailed(f"archiving {failed} failed: see {source.log}")
            time.sleep(0.1)
    raise DrillFailed(f"WAL segment {segment} was not archived within 30 s: see {source.log}")


# --- The restore -------------------------------------------------------------------------------------------


def restore(workdir: Path, base: Path, archive: Path, target: str) -> Cluster:
    restored = Cluster("restored", workdir, free_port())
    shutil.copytree(base, restored.data, symlinks=True)
    chown_tree(restored.data)
    restored.data.chmod(0o700)
    restored.configure(
        [
            f"port = {restored.port}",
            f"unix_socket_directories = '{restored.socket_dir}'",
            "archive_mode = off",
            f"restore_command = 'cp {archive}/%f %p'",
            f"recovery_target_time = '{target}'",
            "recovery_target_action = 'promote'",
        ]
    )
    signal = restored.data / "recovery.signal"
    signal.touch()
    chown_to_postgres(signal)
    restored.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        result = restored.run(
            "psql", "-h", "127.0.0.1", "-p", str(restored.port), "-U", "postgres", "-d", "billpay",
            "-Atc", "SELECT pg_is_in_recovery()", check=False,
        )  # fmt: skip
        if result.returncode == 0 and result.stdout.strip() == "f":
            return restored
        time.sleep(0.2)
    raise DrillFailed(f"the restored cluster did not finish recovery within 60 s: see {restored.log}")


def chown_tree(root: Path) -> None:
    if os.geteuid() != 0:
        return
    for path in [root, *root.rglob("*")]:
        os.lchown(path, *_postgres_ids())


def _postgres_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def verify(expected: dict[str, int], later: dict[str, int]) -> list[str]:
    """What is wrong with the restored ledger (nothing: an empty list)."""
    from billing.money import ZERO
    from billing.selectors import trial_balance, unbalanced_entry_ids

    problems = []
    unbalanced = unbalanced_entry_ids()
    if unbalanced:
        problems.append(f"{len(unbalanced)} unbalanced journal entries, e.g. {unbalanced[:10]}")
    total = sum(trial_balance().values(), ZERO)
    if total != ZERO:
        problems.append(f"the trial balance sums to {total}, not 0")
    found = ledger_counts()
    for name, count in expected.items():
        if found[name] != count:
            problems.append(f"{name}: {found[name]} restored, {count} in the source at the recovery point")
    if found == later:
        problems.append("the restore includes the payments posted after the recovery point")
    return problems


# --- The drill ---------------------------------------------------------------------------------------------


def drill(workdir: Path, *, accounts: int, payments: int, keep: bool, schema_from: str = "") -> int:
    started = time.monotonic()
    if workdir.exists():
        shutil.rmtree(workdir)
    archive, base = workdir / "wal-archive", workdir / "base"
    archive.mkdir(parents=True)
    workdir.chmod(0o755)
    for path in (workdir, archive):
        chown_to_postgres(path)
    clusters: list[Cluster] = []
    try:
        source = create_source(workdir, archive)
        clusters.append(source)
        os.environ["DATABASE_URL"] = source.url()
        import django

        django.setup()
        from django.core.management import call_command

        if schema_from:
            copy_schema(schema_from, source)
            from django.apps import apps

            from billing import reference_data

            reference_data.install(apps)
        else:
            call_command("migrate", verbosity=0)
        print(f"source: schema in place ({time.monotonic() - started:.1f} s)", flush=True)
        call_command("seed_demo", accounts=accounts, stdout=open(os.devnull, "w"))  # noqa: SIM115
        print(f"source: demo seeded ({time.monotonic() - started:.1f} s)", flush=True)
        post_batch(1, payments, reverse_every=5)
        print(f"source: cluster on port {source.port} loaded, {ledger_counts()}", flush=True)

        base.mkdir()
        chown_to_postgres(base)
        source.run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(source.port), "-U", "postgres",
            "-D", str(base), "-X", "stream", "--checkpoint=fast", "--no-sync",
        )  # fmt: skip
        print(f"base backup taken ({time.monotonic() - started:.1f} s)", flush=True)

        post_batch(2, payments, reverse_every=4)
        expected = ledger_counts()
        time.sleep(0.05)
        target = server_time()
        time.sleep(0.05)
        post_batch(3, payments)
        later = ledger_counts()
        archive_current_wal(source)
        print(f"recovery target {target}: {expected}; the source went on to {later}", flush=True)

        restored = restore(workdir, base, archive, target)
        clusters.append(restored)
        point_django_at(restored)
        problems = verify(expected, later)
        from django.db import connection

        connection.close()
        elapsed = time.monotonic() - started
        print(f"recovery point: {target} (recovery_target_time, restored on port {restored.port})")
        print(f"time taken: {elapsed:.1f} s")
        if problems:
            for problem in problems:
                print(f"MISMATCH: {problem}")
            return 1
        print(f"restored ledger verified: {expected}, every entry balanced, trial balance 0")
        return 0
    finally:
        for cluster in clusters:
            cluster.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=REPO / "var" / "restore-drill")
    parser.add_argument("--accounts", type=int, default=12, help="demo customer accounts (seed_demo)")
    parser.add_argument("--payments", type=int, default=15, help="payments posted in each of three batches")
    parser.add_argument(
        "--schema-from",
        default="",
        metavar="DATABASE_URL",
        help="copy the schema of this migrated database instead of running migrate (fast; the test uses it)",
    )
    parser.add_argument("--keep", action="store_true", help="leave the clusters' directories in --workdir")
    args = parser.parse_args()
    # The drill's own process: the demo's settings (seed_demo needs DEBUG on), tasks in-process, no Redis.
    sys.path.insert(0, str(REPO))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.update(
        DEBUG="true",
        CELERY_TASK_ALWAYS_EAGER="true",
        CACHE_URL="locmem://",
        LOG_LEVEL="WARNING",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    try:
        return drill(
            args.workdir.resolve(),
            accounts=args.accounts,
            payments=args.payments,
            keep=args.keep,
            schema_from=args.schema_from,
        )
    except DrillFailed as failed:
        print(f"DRILL FAILED: {failed}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
