"""Bills from a biller's file or batch: ONE set of rules, used by `manage.py import_bills`, the admin's
import and the biller API's "push bills". One module per layer, each using only those above it:

* `records` — the columns, the errors (`BillImportError`, `RowError`, with their messages), `BillRow`
  and `ImportReport`: what the layers pass on;
* `cells` — one cell: a spreadsheet cell as text, a period, a date (amounts: `billing.money`);
* `reading` — files to rows: `read_table(data, encoding=None)` turns the bytes of a CSV file (UTF-8,
  UTF-8 with BOM as Excel saves it, GBK/GB18030) or an XLSX workbook into header + rows;
* `validation` — rows to errors: `check_headers(headers)` maps the file's headers onto `COLUMNS`,
  reporting missing, misspelt (with the close name), unknown and repeated ones; `validate_rows(biller,
  rows)` checks every row and returns `(valid_rows, errors)`; each error names its row (the
  spreadsheet's: the header is row 1), column, a stable code and a translated reason;
* `upsert` — writing: `upsert_bills(biller, valid_rows, actor=..., partial=...)` writes them by (biller,
  account_no, period): new bills and accounts are created, unpaid bills updated; a bill with payments (or
  a cancelled one) is never changed and the row is reported;
* `pipeline` — `import_bills(...)` does it all and returns an `ImportReport`. By default a file with any
  error imports nothing; `partial=True` imports the valid rows and reports the rest. `import_rows(...)`
  does the same for the biller API's batch;
* `error_report` — the downloadable error report (CSV).

The SQL path for big files on PostgreSQL (`billing.bill_import.sql_path`) applies the same rules in SQL
and is tested against these modules on the same files; it is imported from its module, not from here.

Callers outside the package import the names below from `billing.bill_import`; the modules of the
package import from the module that holds a name.
"""

from billing.bill_import.cells import BLANKS, parse_date_cell, parse_period_cell
from billing.bill_import.error_report import ERROR_REPORT_HEADER, error_report_csv, error_report_csv_row
from billing.bill_import.pipeline import import_bills, import_rows
from billing.bill_import.reading import (
    Table,
    csv_reader,
    is_xlsx,
    normalise_encoding,
    read_csv_stream,
    read_table,
    sniff_encoding,
)
from billing.bill_import.records import (
    COLUMN_LABELS,
    COLUMNS,
    IMPORT_MESSAGES,
    REQUIRED_COLUMNS,
    BillImportError,
    BillRow,
    ImportReport,
    RowError,
)
from billing.bill_import.upsert import lock_biller_for_import, upsert_bills
from billing.bill_import.validation import (
    HEADER_ALIASES,
    MAX_LENGTHS,
    check_biller_takes_bills,
    check_headers,
    sort_errors,
    table_rows,
    validate_row,
    validate_rows,
    validate_table,
)

__all__ = [
    "BLANKS",
    "COLUMNS",
    "COLUMN_LABELS",
    "ERROR_REPORT_HEADER",
    "HEADER_ALIASES",
    "IMPORT_MESSAGES",
    "MAX_LENGTHS",
    "REQUIRED_COLUMNS",
    "BillImportError",
    "BillRow",
    "ImportReport",
    "RowError",
    "Table",
    "check_biller_takes_bills",
    "check_headers",
    "csv_reader",
    "error_report_csv",
    "error_report_csv_row",
    "import_bills",
    "import_rows",
    "is_xlsx",
    "lock_biller_for_import",
    "normalise_encoding",
    "parse_date_cell",
    "parse_period_cell",
    "read_csv_stream",
    "read_table",
    "sniff_encoding",
    "sort_errors",
    "table_rows",
    "upsert_bills",
    "validate_row",
    "validate_rows",
    "validate_table",
]
