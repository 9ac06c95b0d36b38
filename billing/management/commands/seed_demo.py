"""`manage.py seed_demo`: fill the database with the 滨江市 demo region (see billing/demo.py). Idempotent."""

import time

from django.core.management.base import BaseCommand, CommandError

from billing import demo


class Command(BaseCommand):
    help = "Create the demo region: billers, branches, customer accounts, a year of bills, payments, logins."

    def add_arguments(self, parser):
        parser.add_argument(
            "--accounts",
            type=int,
            default=demo.DEFAULT_ACCOUNTS,
            help=f"Statement customer accounts across the billers (default {demo.DEFAULT_ACCOUNTS}).",
        )

    def handle(self, *args, accounts: int, **options):
        if not 1 <= accounts <= demo.MAX_ACCOUNTS:
            # Account numbers are unique by construction only up to this many (see billing/demo.py).
            raise CommandError(f"--accounts must be between 1 and {demo.MAX_ACCOUNTS}")
        started = time.monotonic()
        summary = demo.seed_demo(accounts=accounts)
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
