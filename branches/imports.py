"""Importing a branch file: every row checked first, errors reported with their row numbers, and the
file applied only when no row has an error (all or nothing)."""

from dataclasses import dataclass, field
from pathlib import Path

import tablib
from django.db import transaction

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
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("xlsx", "xls"):
        return tablib.Dataset().load(path.read_bytes(), format=suffix)
    return tablib.Dataset().load(path.read_text(encoding="utf-8-sig"), format=suffix or "csv")


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
