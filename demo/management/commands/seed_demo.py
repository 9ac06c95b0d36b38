"""`manage.py seed_demo`: fill the database with the 滨江市 demo region (see the `demo` package). Idempotent.
Refuses to run with DEBUG off."""

import time

from django.core.management.base import CommandError

from demo import data, seed
from demo.management.base import DemoCommand


class Command(DemoCommand):
    help = "Create the demo region: billers, branches, customer accounts, a year of bills, payments, logins."

    def add_arguments(self, parser):
        parser.add_argument(
            "--accounts",
            type=int,
            default=data.DEFAULT_ACCOUNTS,
            help=f"Statement customer accounts across the billers (default {data.DEFAULT_ACCOUNTS}).",
        )

    def handle(self, *args, accounts: int, **options):
        if not 1 <= accounts <= data.MAX_ACCOUNTS:
            # Account numbers are unique by construction only up to this many (see demo/data.py).
            raise CommandError(f"--accounts must be between 1 and {data.MAX_ACCOUNTS}")
        started = time.monotonic()
        summary = seed.seed_demo(accounts=accounts)
        elapsed = time.monotonic() - started
        created = ", ".join(f"{name} {count}" for name, count in summary.created.items())
        totals = ", ".join(f"{name} {count}" for name, count in summary.totals.items())
        self.stdout.write(f"Demo data as of {summary.anchor}, seeded in {elapsed:.1f} s.")
        self.stdout.write(f"  created now: {created}; payments replayed {summary.payments_replayed}")
        self.stdout.write(f"  in the database: {totals}")
        for line in summary.payments_refused[:10]:
            self.stderr.write(f"  payment refused: {line}")
        if len(summary.payments_refused) > 10:
            self.stderr.write(f"  … and {len(summary.payments_refused) - 10} more refused")
