import datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing import untrusted_files
from billing.exceptions import BillingError
from reconciliation import selectors, services
from reconciliation.choices import StatementFormat


class Command(BaseCommand):
    help = "Import a channel's statement for a business day and reconcile it (idempotent, restartable)."

    def add_arguments(self, parser):
        parser.add_argument("--channel", required=True, help="ONLINE:<gateway> or PARTNER:<code>")
        parser.add_argument("--date", required=True, type=datetime.date.fromisoformat, help="YYYY-MM-DD")
        parser.add_argument(
            "--file", type=Path, help="the statement (not for COUNTER:<branch>, the cash channel)"
        )
        parser.add_argument("--format", choices=StatementFormat.values, default=None)

    def handle(self, *args, channel, date, file, format, **options):
        if channel.upper().startswith("COUNTER:"):
            return self.cash(channel.split(":", 1)[1], date)
        if file is None:
            raise CommandError("--file is required for a channel statement")
        try:
            data = untrusted_files.read_path(file, "statement")
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        except BillingError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        try:
            run = services.reconcile_file(
                channel_code=channel, business_date=date, data=data, file_name=file.name, fmt=format
            )
        except BillingError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(
            f"{run.channel_code} {run.business_date}: {run.get_status_display()} ({run.percent}%)"
        )
        for klass, value in run.counts.items():
            self.stdout.write(f"  {klass:18} {value['count']:>9} {value['amount']:>16}")

    def cash(self, branch_code, date):
        from branches.models import Branch

        branch = Branch.objects.filter(code=branch_code.strip()).first()
        if branch is None:
            raise CommandError(f"no branch {branch_code}")
        try:
            run = services.reconcile_cash(branch=branch, day=date)
        except BillingError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.report(run)

    def report(self, run):
        self.stdout.write(
            f"{run.channel_code} {run.business_date}: {run.get_status_display()} ({run.percent}%)"
        )
        for klass, value in run.counts.items():
            self.stdout.write(f"  {klass:18} {value['count']:>9} {value['amount']:>16}")
        for difference in selectors.till_differences(run):
            self.stdout.write(f"  {difference.till}: {difference.describe()}")
