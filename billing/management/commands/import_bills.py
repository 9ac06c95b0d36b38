"""`manage.py import_bills --biller CODE FILE [--encoding ENC] [--partial]`: a biller's bill file.

CSV files go through the streaming COPY path (bounded memory, millions of rows); XLSX files through the
Python core. Both apply the same rules (billing/bill_import.py).
"""

import csv
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from billing.bill_import import (
    ERROR_REPORT_HEADER,
    BillImportError,
    error_report_csv_row,
    import_bills,
    is_xlsx,
    read_table,
)
from billing.bill_import_copy import import_bills_copy
from billing.models import Biller
from billing.rules import normalize_code

SHOWN_ERRORS = 20


class Command(BaseCommand):
    help = "Import a biller's bills from a CSV or XLSX file (upsert by account number and period)."

    def add_arguments(self, parser):
        parser.add_argument("--biller", required=True, help="the biller's code")
        parser.add_argument("file", help="a CSV (UTF-8, UTF-8 with BOM, GBK, GB18030) or XLSX file")
        parser.add_argument("--encoding", help="the CSV file's encoding when it cannot be guessed")
        parser.add_argument("--partial", action="store_true", help="import the valid rows, report the rest")
        parser.add_argument("--errors-csv", help="write every error (row, column, code, reason) to this file")
        parser.add_argument("--actor", help="the staff username recorded in the audit log")
        parser.add_argument(
            "--engine",
            choices=["auto", "copy", "python"],
            default="auto",
            help="auto: COPY for CSV, the Python core for XLSX",
        )

    def handle(self, *args, **options):
        biller = Biller.objects.filter(code=normalize_code(options["biller"])).first()
        if biller is None:
            raise CommandError(f"There is no biller with the code {options['biller']!r}.")
        actor = None
        if options["actor"]:
            actor = get_user_model().objects.filter(username=options["actor"], is_staff=True).first()
            if actor is None:
                raise CommandError(f"There is no staff user {options['actor']!r}.")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        errors_out = None
        if options["errors_csv"]:
            errors_out = open(options["errors_csv"], "w", newline="", encoding="utf-8-sig")  # noqa: SIM115
            errors_out.write(",".join(ERROR_REPORT_HEADER) + "\r\n")
        started = self._started = time.perf_counter()
        try:
            report = self._run(biller, path, options, actor, errors_out)
        except BillImportError as refused:
            raise CommandError(refused.message) from None
        finally:
            if errors_out:
                errors_out.close()
        elapsed = time.perf_counter() - started
        summary = report.summary()
        self.stdout.write(
            "rows={rows} created={created} updated={updated} unchanged={unchanged} "
            "accounts_created={accounts_created} errors={errors} imported={imported}".format(**summary)
            + f" seconds={elapsed:.2f}"
        )
        for error in report.errors[:SHOWN_ERRORS]:
            self.stderr.write(f"row {error.row} {error.column or '-'} [{error.code}] {error.message}")
        if report.error_count > SHOWN_ERRORS:
            self.stderr.write(f"… and {report.error_count - SHOWN_ERRORS} more errors")
        if not report.imported:
            raise CommandError(
                "Nothing was imported: fix the errors, or use --partial to import the valid rows."
            )

    def _run(self, biller, path: Path, options, actor, errors_out):
        with path.open("rb") as stream:
            head = stream.read(4)
        engine = options["engine"]
        if engine == "auto":
            engine = "python" if is_xlsx(head) else "copy"
        if engine == "copy":
            with path.open("rb") as stream:
                return import_bills_copy(
                    biller,
                    stream,
                    actor=actor,
                    encoding=options["encoding"],
                    partial=options["partial"],
                    source="command",
                    error_report=errors_out,
                    progress=self._progress if options["verbosity"] > 1 else None,
                )
        table = read_table(path.read_bytes(), encoding=options["encoding"], filename=path.name)
        report = import_bills(biller, table, actor=actor, partial=options["partial"], source="command")
        if errors_out:
            csv.writer(errors_out).writerows(error_report_csv_row(error) for error in report.errors)
        return report

    def _progress(self, phase: str, rows: int, size: int) -> None:
        elapsed = time.perf_counter() - self._started
        self.stdout.write(f"{elapsed:7.2f}s {phase}: {rows} rows")
