"""`manage.py run_posting_desk [--batch N]`: the posting desk (billing/posting_desk.py), until SIGTERM.

Run by deploy/systemd/billpay-posting-desk.service; without it, every payment is posted by its own request.
"""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from billing import posting_desk
from billing.services import MAX_BATCH


class Command(BaseCommand):
    help = "Post the single payments that arrive together as one batch (the posting desk)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch",
            type=int,
            default=posting_desk.DESK_BATCH,
            help=f"requests posted together at most (default {posting_desk.DESK_BATCH}, at most {MAX_BATCH})",
        )

    def handle(self, *args, batch, **options):
        if not settings.POSTING_DESK_URL:
            raise CommandError("POSTING_DESK_URL is not set: there is no queue to serve.")
        if not 1 <= batch <= MAX_BATCH:
            raise CommandError(f"--batch must be between 1 and {MAX_BATCH}.")
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"posting desk: serving {settings.POSTING_DESK_URL} in batches of up to {batch}")
        taken = posting_desk.serve(batch=batch, stop=stop)
        self.stdout.write(
            f"posting desk: stopped after {taken['requests']} requests in {taken['batches']} batches"
        )
