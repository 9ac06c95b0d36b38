"""Importing a branch file: every row checked first, errors reported with their row numbers, and the
file applied only when no row has an error (all or nothing)."""

from dataclasses import dataclass, field
from pathlib import Path

import tablib
from django.db import transaction

from billing import untrusted_files
from billing.models import AuditEvent
from branches.resources import BranchResource


@dataclass
class ImportReport:
    total_rows: int = 0
    new: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def load_dataset(path: Path) -> tablib.Dataset:
    """A branch file (CSV or XLSX) read within the bounds of billing.untrusted_files: its size, an XLSX
    workbook's archive caps, CSV line and field lengths. A refusal is a FileRefused (nothing read further).
    """
    suffix = path.suffix.lower().lstrip(".") or "csv"
    data = untrusted_files.read_path(path, "branch_file")
    if suffix == "xlsx":
        untrusted_files.check_zip_container(data)
        return _load(data, "xlsx")
    if suffix != "csv":
        raise untrusted_files.FileRefused("file_format_unsupported", formats="CSV, XLSX")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise untrusted_files.FileRefused("text_encoding_invalid") from None
    for _row in untrusted_files.csv_rows(text):  # every line and field within the caps, before tablib
        pass
    return _load(text, "csv")


def _load(content, fmt: str) -> tablib.Dataset:
    try:
        return tablib.Dataset().load(content, format=fmt)
    except Exception as exc:  # tablib and openpyxl raise many kinds for a ragged or damaged file
        raise untrusted_files.FileRefused(
            "file_unreadable_as", format=fmt.upper(), detail=str(exc)[:200]
        ) from None


def import_branches(dataset: tablib.Dataset, *, actor, dry_run: bool = False) -> ImportReport:
    """Import (or update, by code) branches. Row numbers count the header as row 1, as a spreadsheet
    shows them."""
    resource = BranchResource()
    report = ImportReport(total_rows=len(dataset))
    with transaction.atomic():
        result = resource.import_data(
            dataset, dry_run=False, raise_errors=False, use_transactions=True, collect_failed_rows=True
        )
        for invalid in result.invalid_rows:
            messages = "; ".join(
                f"{name}: {' '.join(str(m) for m in errs)}" for name, errs in invalid.error_dict.items()
            )
            report.errors.append((invalid.number + 1, messages))
        for number, errors in result.row_errors():
            report.errors.append((number + 1, "; ".join(str(error.error) for error in errors)))
        report.errors.sort()
        if not report.ok or dry_run:
            transaction.set_rollback(True)
            return report
        report.new = result.totals.get("new", 0)
        report.updated = result.totals.get("update", 0)
        AuditEvent.objects.create(
            actor=actor if getattr(actor, "pk", None) else None,
            action="branch.imported",
            target_type="branches.branch",
            target_id="*",
            target_repr=f"{report.total_rows} rows",
            data={"rows": report.total_rows, "new": report.new, "updated": report.updated},
        )
    return report
