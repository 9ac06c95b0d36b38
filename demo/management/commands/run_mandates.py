"""`manage.py run_mandates [--date YYYY-MM-DD] [--issue-next-bills]`: beat's hourly run of the auto-pay
mandates, on a simulated date, for the demo. Refuses to run with DEBUG off."""

import datetime

from django.core.management.base import CommandError
from django.utils import timezone

from demo import mandates as mandates_demo
from demo.management.base import DemoCommand


class Command(DemoCommand):
    help = "Run the auto-pay mandates (notices and due debits) as on the given day."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="the simulated day, YYYY-MM-DD (default: today)")
        parser.add_argument(
            "--issue-next-bills",
            action="store_true",
            help="first issue next month's bill for each account with an active mandate",
        )

    def handle(self, *args, **options):
        try:
            day = datetime.date.fromisoformat(options["date"]) if options["date"] else timezone.localdate()
        except ValueError:
            raise CommandError("--date must be YYYY-MM-DD") from None
        counts = mandates_demo.run_on(day, issue_bills=options["issue_next_bills"])
        self.stdout.write(f"{day}: {counts}")
