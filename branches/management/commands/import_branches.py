from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing.exceptions import BillingError
from branches.imports import import_branches, load_dataset


class Command(BaseCommand):
    help = "Import or update branches from a CSV or XLSX file (columns as the admin's export)."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="Check every row and store nothing.")

    def handle(self, *args, path: Path, dry_run: bool, **options):
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        try:
            dataset = load_dataset(path)
        except BillingError as refused:
            raise CommandError(f"{refused.code}: {refused.message}") from None
        report = import_branches(dataset, actor=None, dry_run=dry_run)
        for row, message in report.errors:
            self.stderr.write(f"row {row}: {message}")
        if not report.ok:
            raise CommandError(f"{len(report.errors)} rows have errors; nothing was imported")
        verb = "would import" if dry_run else "imported"
        self.stdout.write(f"{verb} {report.total_rows} rows: {report.new} new, {report.updated} updated")
