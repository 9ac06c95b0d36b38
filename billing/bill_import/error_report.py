"""The downloadable error report of an import: row, column, code, reason."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from billing.bill_import.records import RowError

ERROR_REPORT_HEADER = ["row", "column", "code", "reason"]


def error_report_csv_row(error: RowError) -> list:
    from billing.exports import safe_cell

    return [error.row, safe_cell(error.column), error.code, safe_cell(error.message)]


def error_report_csv(errors: Iterable[RowError]) -> str:
    """The downloadable error report: row, column, code, reason; cells made safe for spreadsheets."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ERROR_REPORT_HEADER)
    writer.writerows(error_report_csv_row(error) for error in errors)
    return buffer.getvalue()
