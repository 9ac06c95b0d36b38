"""The whole import: a file or a batch checked, then written (or nothing written when it has errors,
unless `partial`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from billing.bill_import.reading import Table
from billing.bill_import.records import ImportReport
from billing.bill_import.upsert import upsert_bills
from billing.bill_import.validation import (
    check_biller_takes_bills,
    check_headers,
    sort_errors,
    validate_rows,
    validate_table,
)
from billing.models import Biller


def import_bills(
    biller: Biller, table: Table, *, actor, partial: bool = False, source: str = "import"
) -> ImportReport:
    """Check a whole file and write it: nothing when it has errors, unless `partial`. A header row with
    errors stops the file in either mode: no row can be read right."""
    check_biller_takes_bills(biller)
    valid, errors, count = validate_table(biller, table)
    report = ImportReport(rows=count)
    if errors and (not partial or errors[0].row == 1):
        report.errors, report.error_count = errors, len(errors)
        return report
    written = upsert_bills(biller, valid, actor=actor, partial=partial, source=source)
    written.rows = count
    written.errors = sort_errors(errors + written.errors)
    written.error_count = len(written.errors)
    return written


def import_rows(
    biller: Biller, rows: Sequence[Mapping[str, object]], *, actor, partial: bool = False, source: str = "api"
) -> ImportReport:
    """A batch of rows given as {column: value} (the biller API's "push bills"): numbered from 1, unknown
    keys reported as the file's unknown headers are."""
    check_biller_takes_bills(biller)
    keys: list[str] = []
    for row in rows:
        for key in row:
            if key not in keys:
                keys.append(key)
    positions, header_errors = check_headers(keys)
    header_errors = [e for e in header_errors if e.code != "header_missing"]
    if header_errors:
        return ImportReport(rows=len(rows), errors=header_errors, error_count=len(header_errors))
    mapped = [
        {positions_key: row.get(key) for key, positions_key in ((keys[p], c) for p, c in positions.items())}
        for row in rows
    ]
    valid, errors = validate_rows(biller, mapped, first_row=1)
    if errors and not partial:
        return ImportReport(rows=len(rows), errors=errors, error_count=len(errors))
    report = upsert_bills(biller, valid, actor=actor, partial=partial, source=source)
    report.rows = len(rows)
    report.errors = sort_errors(errors + report.errors)
    report.error_count = len(report.errors)
    return report
