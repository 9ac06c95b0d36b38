"""The SQL path for big bill files on PostgreSQL: the rules of `billing.bill_import`, set-based.

Python reads the file as a stream (its encoding sniffed the same way), checks the header row with
`check_headers` and sends every data row to PostgreSQL with psycopg 3's COPY through Django's own
connection, into a temporary staging table. Every check then runs once over the whole table in SQL, and
accounts and bills are upserted with `INSERT … ON CONFLICT`. Memory stays bounded whatever the size of the
file: Python holds one row at a time and at most `error_limit` errors (the full error report is streamed
to a file on request).

`tests/billing/test_bill_import_sql_path.py` runs the same files through both paths and expects the same
errors, counts and rows.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import BinaryIO

from django.db import DatabaseError, connection, transaction

from billing.account_patterns import sql_account_pattern
from billing.audit import record_audit
from billing.bill_import.cells import BLANKS
from billing.bill_import.error_report import error_report_csv_row
from billing.bill_import.reading import csv_reader
from billing.bill_import.records import ROW_BY_ROW_COLUMNS, BillImportError, ImportReport, RowError
from billing.bill_import.upsert import lock_biller_for_import
from billing.bill_import.validation import MAX_LENGTHS, check_biller_takes_bills, check_headers
from billing.choices import BillStatus, CheckDigit
from billing.exceptions import PaymentRefused
from billing.models import Biller
from billing.money import MAX_WHOLE_DIGITS, MONEY_DECIMAL_PLACES, MONEY_TEXT, MONEY_TEXT_DECORATIONS
from billing.rules import ACCOUNT_SEPARATORS, account_rule
from billing.untrusted_files import check_size, refusals_as

Progress = Callable[[str, int, int], None]  # (phase, rows read, bytes read)

STAGE_COLUMNS = ("account_no", "customer_name", "period", "amount_due", "due_date", "late_fee", "reference")

_FUNCTIONS_SQL = r"""
-- The check digits of `billing.rules` (luhn_is_valid, mod11_2_is_valid) in PL/pgSQL, for the set-based
-- checks; tests/billing/test_import_differential.py holds them to the Python functions on generated numbers.
CREATE OR REPLACE FUNCTION pg_temp.billpay_luhn(s text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE total int := 0; d int; i int;
BEGIN
  IF s !~ '^[0-9]+$' THEN RETURN false; END IF;
  FOR i IN 1..length(s) LOOP
    d := substr(s, length(s) - i + 1, 1)::int;
    IF i % 2 = 0 THEN d := d * 2; IF d > 9 THEN d := d - 9; END IF; END IF;
    total := total + d;
  END LOOP;
  RETURN total % 10 = 0;
END $$;
CREATE OR REPLACE FUNCTION pg_temp.billpay_mod11_2(s text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE total int := 0; i int; c int;
BEGIN
  IF length(s) < 2 OR left(s, -1) !~ '^[0-9]+$' OR right(s, 1) !~ '^[0-9X]$' THEN RETURN false; END IF;
  FOR i IN 1..length(s) - 1 LOOP
    total := (total + substr(s, i, 1)::int) * 2 % 11;
  END LOOP;
  c := (12 - total) % 11;
  RETURN right(s, 1) = CASE WHEN c = 10 THEN 'X' ELSE c::text END;
END $$;
"""

_STAGE_SQL = """
DROP TABLE IF EXISTS billpay_import_stage;
DROP TABLE IF EXISTS billpay_import_norm;
CREATE TEMP TABLE billpay_import_stage (
    rownum integer NOT NULL, extra boolean NOT NULL, plain boolean NOT NULL, account_ok boolean,
    account_no text, customer_name text, period text, amount_due text, due_date text, late_fee text,
    reference text
);
"""

# NFKC only where a cell has a character outside ASCII: the same result, a fraction of the work.
_NFKC = "(CASE WHEN {0} ~ '[^\\x01-\\x7f]' THEN normalize({0}, NFKC) ELSE {0} END)"
# The rules' own texts, from the one Python definition of each (`billing.rules`, `billing.money`).
_MONEY_CHARS = f"'{MONEY_TEXT_DECORATIONS}'"

# Most rows of a billing system's file are already in the plain form: account_no|period|amount_due|
# due_date|late_fee match this pattern, which admits only values the full rules accept unchanged (dates up
# to the 28th, so always real). The reader marks them while streaming (Python's regex engine is far
# faster than PostgreSQL's), and SQL checks them on a short path; every other row takes the general one.
PLAIN_ROW_RE = re.compile(
    r"[0-9A-Z]+\|(19[0-9][0-9]|2[0-9][0-9][0-9])-(0[1-9]|1[0-2])\|[0-9]{1,12}(\.[0-9]{1,2})?"
    r"\|(19[0-9][0-9]|2[0-9][0-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])\|([0-9]{1,12}(\.[0-9]{1,2})?)?"
)

# Two other spellings billing systems export, of values the general route reads as plain ones: an amount
# with a yen sign or thousands separators ("¥1,234.50", which the rules read without them) and a date
# with slashes, dots or no separators ("2026/12/5", "20261205"). ASCII digits only, so that both engines
# read them alike. The reader writes them in the plain form when that makes the whole row plain (and the
# amount is above zero, so no error would quote the cell): the row then takes the plain route, with the
# values the general route would have given it.
_DECORATED_AMOUNT_RE = re.compile(r"¥?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]{1,2})?|¥[0-9]+(?:\.[0-9]{1,2})?")
_SPELLED_DATE_RE = re.compile(r"([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})|([0-9]{4})([0-9]{2})([0-9]{2})")


def _undecorated_amount(text: str | None) -> str | None:
    if text and _DECORATED_AMOUNT_RE.fullmatch(text):
        return text.replace(",", "").replace("¥", "")
    return text


def plain_spelling(cells: list) -> list | None:
    """The staged cells (`STAGE_COLUMNS`) with the amount, late fee and due date in the plain form, when
    that makes the row plain and its amount is above zero; else None (the row keeps its cells)."""
    amount, due, fee = _undecorated_amount(cells[3]), cells[4], _undecorated_amount(cells[5])
    date = _SPELLED_DATE_RE.fullmatch(due) if due else None
    if date:
        year, month, day = date.groups()[:3] if date[1] else date.groups()[3:]
        due = f"{year}-{month:0>2}-{day:0>2}"
    if amount is None or not amount.strip("0."):
        return None
    key = f"{cells[0] or ''}|{cells[2] or ''}|{amount}|{due or ''}|{fee or ''}"
    if not PLAIN_ROW_RE.fullmatch(key):
        return None
    return [cells[0], cells[1], cells[2], amount, due, fee, cells[6]]


# Each step of the general route is MATERIALIZED: PostgreSQL would otherwise inline the steps and
# evaluate a cell's expression again wherever a later step uses it (that cost 400 µs a row). The plain
# route's casts are cheap enough to inline (materialising its rows cost more: 3.5 s instead of 4.1 s for
# the whole statement on the benchmark's file). Cheap pattern tests (`~`) pick the branch; parts are cut
# out by position rather than with regexp_match's arrays.
_NORMALISE_SQL = (
    r"""
CREATE TEMP TABLE billpay_import_norm AS
WITH plain AS (
    SELECT rownum, extra, account_no AS a_raw, btrim(coalesce(customer_name, ''), %(blanks)s) AS name,
           period AS p_raw, amount_due AS amt_raw, due_date AS d_raw, coalesce(late_fee, '') AS fee_raw,
           btrim(coalesce(reference, ''), %(blanks)s) AS reference,
           account_no AS account, period AS period_norm, due_date::date AS due,
           round(amount_due::numeric, 2) AS amt_value,
           CASE WHEN coalesce(late_fee, '') <> '' THEN round(late_fee::numeric, 2) END AS fee_value,
           true AS amt_ok, coalesce(late_fee, '') <> '' AS fee_ok, account_ok
    FROM billpay_import_stage WHERE plain
), t AS MATERIALIZED (
    SELECT rownum, extra,
           btrim(coalesce(account_no, ''), %(blanks)s) AS a_raw,
           btrim(coalesce(customer_name, ''), %(blanks)s) AS name,
           btrim(coalesce(period, ''), %(blanks)s) AS p_raw,
           btrim(coalesce(amount_due, ''), %(blanks)s) AS amt_raw,
           btrim(coalesce(due_date, ''), %(blanks)s) AS d_raw,
           btrim(coalesce(late_fee, ''), %(blanks)s) AS fee_raw,
           btrim(coalesce(reference, ''), %(blanks)s) AS reference
    FROM billpay_import_stage WHERE NOT plain
), n AS MATERIALIZED (
    SELECT t.*,
           CASE WHEN a_raw ~ '^[0-9A-Z]+$' THEN a_raw
                ELSE upper(regexp_replace(__NFKC_a_raw__, '__ACCOUNT_SEPARATORS__', '', 'g')) END AS account,
           __NFKC_p_raw__ AS p_text,
           CASE WHEN amt_raw ~ '^\d+(\.\d+)?$' THEN amt_raw
                ELSE regexp_replace(__NFKC_amt_raw__, __MONEY__, '', 'g') END AS amt,
           CASE WHEN fee_raw ~ '^\d*(\.\d+)?$' THEN fee_raw
                ELSE regexp_replace(__NFKC_fee_raw__, __MONEY__, '', 'g') END AS fee,
           __NFKC_d_raw__ AS d_text
    FROM t
), m AS MATERIALIZED (
    SELECT n.*,
           p_text ~ '^\d{4}[-/.]?\d{1,2}$' AS p_ok,
           CASE WHEN d_text ~ '^\d{4}-\d{2}-\d{2}$' THEN 1
                WHEN d_text ~ '^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$' THEN 2
                WHEN d_text ~ '^\d{4}年\d{1,2}月\d{1,2}日$' THEN 2
                WHEN d_text ~ '^\d{8}$' THEN 3 END AS d_kind,
           amt ~ '^__MONEY_TEXT__$' AND char_length(rtrim(split_part(amt, '.', 2), '0')) <= __PLACES__
               AND char_length(ltrim(split_part(ltrim(amt, '-'), '.', 1), '0')) <= __WHOLE__ AS amt_ok,
           fee ~ '^__MONEY_TEXT__$' AND char_length(rtrim(split_part(fee, '.', 2), '0')) <= __PLACES__
               AND char_length(ltrim(split_part(ltrim(fee, '-'), '.', 1), '0')) <= __WHOLE__ AS fee_ok
    FROM n
), c AS MATERIALIZED (
    SELECT m.*,
           CASE WHEN p_ok THEN left(p_text, 4)::int END AS py,
           CASE WHEN p_ok THEN ltrim(substr(p_text, 5), '-/.')::int END AS pmon,
           CASE d_kind WHEN 1 THEN substr(d_text, 1, 4)::int WHEN 3 THEN substr(d_text, 1, 4)::int
                WHEN 2 THEN split_part(translate(d_text, '/.年月日', '----'), '-', 1)::int END AS dy,
           CASE d_kind WHEN 1 THEN substr(d_text, 6, 2)::int WHEN 3 THEN substr(d_text, 5, 2)::int
                WHEN 2 THEN split_part(translate(d_text, '/.年月日', '----'), '-', 2)::int END AS dmo,
           CASE d_kind WHEN 1 THEN substr(d_text, 9, 2)::int WHEN 3 THEN substr(d_text, 7, 2)::int
                WHEN 2 THEN split_part(translate(d_text, '/.年月日', '----'), '-', 3)::int END AS dd,
           CASE WHEN amt_ok THEN round(amt::numeric, 2) END AS amt_value,
           CASE WHEN fee_ok THEN round(fee::numeric, 2) END AS fee_value
    FROM m
), d AS MATERIALIZED (
    SELECT c.*,
           CASE WHEN py BETWEEN 1900 AND 2999 AND pmon BETWEEN 1 AND 12
                THEN py::text || '-' || lpad(pmon::text, 2, '0') END AS period_norm,
           CASE WHEN dy BETWEEN 1900 AND 2999 AND dmo BETWEEN 1 AND 12 AND dd >= 1 AND dd <=
                     CASE WHEN dmo IN (4, 6, 9, 11) THEN 30
                          WHEN dmo <> 2 THEN 31
                          WHEN (dy %% 4 = 0 AND dy %% 100 <> 0) OR dy %% 400 = 0 THEN 29
                          ELSE 28 END
                THEN make_date(dy, dmo, dd) END AS due
    FROM c
), checked AS (
    SELECT * FROM plain
    UNION ALL
    SELECT rownum, extra, a_raw, name, p_raw, amt_raw, d_raw, fee_raw, reference, account, period_norm, due,
           amt_value, fee_value, amt_ok, fee_ok, NULL::boolean
    FROM d
)
SELECT rownum, extra, a_raw, name, p_raw, amt_raw, d_raw, fee_raw, reference, account, period_norm, due,
       amt_value, fee_value, NULL::integer AS first_row,
       CASE WHEN a_raw = '' THEN 'value_required'
            WHEN char_length(account) > __MAX_ACCOUNT__ THEN 'too_long'
            WHEN NOT coalesce(account_ok, (__ACCOUNT_RULE__)) THEN 'account_no_invalid' END AS e_account,
       CASE WHEN name = '' THEN 'value_required'
            WHEN char_length(name) > __MAX_NAME__ THEN 'too_long' END AS e_name,
       CASE WHEN p_raw = '' THEN 'value_required' WHEN period_norm IS NULL THEN 'period_invalid' END
           AS e_period,
       CASE WHEN amt_raw = '' THEN 'value_required' WHEN NOT amt_ok THEN 'amount_invalid'
            WHEN amt_value < 0 THEN 'amount_negative' WHEN amt_value = 0 THEN 'amount_zero' END AS e_amount,
       CASE WHEN d_raw = '' THEN 'value_required' WHEN due IS NULL THEN 'date_invalid' END AS e_due,
       CASE WHEN fee_raw = '' THEN NULL WHEN NOT fee_ok THEN 'amount_invalid'
            WHEN fee_value < 0 THEN 'amount_negative' END AS e_fee,
       CASE WHEN char_length(reference) > __MAX_REFERENCE__ THEN 'too_long' END AS e_reference
FROM checked
""".replace("__MONEY__", _MONEY_CHARS)
    .replace("__MONEY_TEXT__", MONEY_TEXT)
    .replace("__PLACES__", str(MONEY_DECIMAL_PLACES))
    .replace("__WHOLE__", str(MAX_WHOLE_DIGITS))
    .replace("__ACCOUNT_SEPARATORS__", ACCOUNT_SEPARATORS)
    .replace("__MAX_ACCOUNT__", str(MAX_LENGTHS["account_no"]))
    .replace("__MAX_NAME__", str(MAX_LENGTHS["customer_name"]))
    .replace("__MAX_REFERENCE__", str(MAX_LENGTHS["reference"]))
)
for _column in ("a_raw", "p_raw", "amt_raw", "fee_raw", "d_raw"):
    _NORMALISE_SQL = _NORMALISE_SQL.replace(f"__NFKC_{_column}__", _NFKC.format(_column))


# A bill repeated in the file: an error on every row after the first (among rows whose account number and
# period are valid). Grouping first finds the (usually no) repeated keys cheaply.
_DUPLICATES_SQL = """
UPDATE billpay_import_norm n SET first_row = d.first_row
FROM (
    SELECT account, period_norm, min(rownum) AS first_row
    FROM billpay_import_norm
    WHERE e_account IS NULL AND period_norm IS NOT NULL
    GROUP BY account, period_norm
    HAVING count(*) > 1
) d
WHERE n.account = d.account AND n.period_norm = d.period_norm AND n.rownum > d.first_row
"""

# No account number in two rows (the usual monthly file): then no bill is repeated either, and every valid
# row is its account's last one. One hash aggregate tells, and the GROUP BY above is skipped.
_REPEATED_ACCOUNTS_SQL = """
SELECT EXISTS (
    SELECT 1 FROM billpay_import_norm WHERE e_account IS NULL AND period_norm IS NOT NULL
    GROUP BY account HAVING count(*) > 1
)
"""

# One row per error: (row, column position for ordering, column, code, value, first_row).
_ERRORS_SQL = """
SELECT n.rownum, e.pos, e.col, e.code, e.value, n.account, n.period_norm, n.first_row
FROM billpay_import_norm n,
LATERAL (VALUES
    (-1, '', CASE WHEN n.extra THEN 'extra_fields' END, ''),
    (0, 'account_no', n.e_account, n.a_raw),
    (1, 'customer_name', n.e_name, n.name),
    (2, 'period', coalesce(n.e_period, CASE WHEN n.first_row IS NOT NULL THEN 'duplicate_row' END), n.p_raw),
    (3, 'amount_due', n.e_amount, n.amt_raw),
    (4, 'due_date', n.e_due, n.d_raw),
    (5, 'late_fee', n.e_fee, n.fee_raw),
    (6, 'reference', n.e_reference, n.reference)
) AS e(pos, col, code, value)
WHERE (n.extra OR n.first_row IS NOT NULL OR n.e_account IS NOT NULL OR n.e_name IS NOT NULL
       OR n.e_period IS NOT NULL OR n.e_amount IS NOT NULL OR n.e_due IS NOT NULL OR n.e_fee IS NOT NULL
       OR n.e_reference IS NOT NULL)
  AND e.code IS NOT NULL
ORDER BY n.rownum, e.pos
"""

_VALID_WHERE = """
NOT extra AND first_row IS NULL AND e_account IS NULL AND e_name IS NULL AND e_period IS NULL
AND e_amount IS NULL AND e_due IS NULL AND e_fee IS NULL AND e_reference IS NULL
"""

_VALID_SQL = f"""
CREATE TEMP TABLE billpay_import_valid AS
SELECT rownum, account AS account_no, name AS customer_name, period_norm AS period, amt_value AS amount_due,
       coalesce(fee_value, 0.00) AS late_fee, due AS due_date, reference
FROM billpay_import_norm WHERE {_VALID_WHERE};
"""

# A staged row differs from its bill (a file staged here has no discount, beneficiary or notice columns, which
# `import_bills_copy` leaves to the row-by-row path: such a row means "none", as it does there).
_DIFFERS_SQL = """(b.amount_due, b.late_fee, b.due_date, b.reference,
       b.early_discount, b.discount_until, b.beneficiary_kind, b.beneficiary_name, b.notice_no)
      IS DISTINCT FROM (v.amount_due, v.late_fee, v.due_date, v.reference, 0.00, NULL::date, '', '', '')"""

# Rows that would change a bill that has payments or was cancelled: the first column that differs.
_CONFLICTS_SQL = """
SELECT v.rownum, v.account_no, v.period, b.status, b.amount_paid,
       CASE WHEN b.amount_due <> v.amount_due THEN 'amount_due'
            WHEN b.late_fee <> v.late_fee THEN 'late_fee'
            WHEN b.due_date <> v.due_date THEN 'due_date'
            WHEN b.reference <> v.reference THEN 'reference'
            WHEN b.early_discount <> 0 THEN 'early_discount'
            WHEN b.discount_until IS NOT NULL THEN 'discount_until'
            WHEN b.beneficiary_kind <> '' THEN 'beneficiary_kind'
            WHEN b.beneficiary_name <> '' THEN 'beneficiary_name'
            ELSE 'notice_no' END AS col
FROM billpay_import_valid v
JOIN billing_customeraccount a ON a.biller_id = %(biller)s AND a.account_no = v.account_no
JOIN billing_bill b ON b.account_id = a.id AND b.period = v.period
WHERE (b.amount_paid <> 0 OR b.status = %(cancelled)s)
  AND __DIFFERS__
ORDER BY v.rownum
""".replace("__DIFFERS__", _DIFFERS_SQL)

# Accounts: the holder's name from the account's last valid row (read from the valid rows directly, with
# no sort of a million names, when no account number is in two rows); new ones inserted, renamed ones
# updated.
_LAST_NAMES_SQL = """
DROP TABLE IF EXISTS billpay_import_names;
CREATE TEMP TABLE billpay_import_names AS
SELECT DISTINCT ON (account_no) account_no, customer_name
FROM billpay_import_valid ORDER BY account_no, rownum DESC;
ANALYZE billpay_import_names (account_no);
"""

# Statistics only for the columns the later plans filter, group or join on (each column analysed sorts
# the sample: all twenty columns of the checked rows cost four times these three).
_ANALYZE_NORM_SQL = "ANALYZE billpay_import_norm (account, period_norm, e_account)"
_ANALYZE_VALID_SQL = "ANALYZE billpay_import_valid (account_no, period)"

_HAS_ACCOUNTS_SQL = "SELECT EXISTS (SELECT 1 FROM billing_customeraccount WHERE biller_id = %(biller)s)"
_HAS_BILLS_SQL = """
SELECT EXISTS (
    SELECT 1 FROM billing_bill
    WHERE biller_id = %(biller)s AND period IN (SELECT DISTINCT period FROM billpay_import_valid)
)
"""

_RENAME_ACCOUNTS_SQL = """
UPDATE billing_customeraccount a SET holder_name = l.customer_name
FROM billpay_import_names l
WHERE a.biller_id = %(biller)s AND a.account_no = l.account_no AND a.holder_name <> l.customer_name
"""

_INSERT_ACCOUNTS_SQL = """
INSERT INTO billing_customeraccount (biller_id, account_no, holder_name, address, credit_balance, created_at)
SELECT %(biller)s, l.account_no, l.customer_name, '', 0, now()
FROM __NAMES__ l
WHERE NOT EXISTS (
    SELECT 1 FROM billing_customeraccount a WHERE a.biller_id = %(biller)s AND a.account_no = l.account_no
)
"""

# A biller's first file: no account to look for (the biller is locked, no other import can add one). In
# account-number order, so the unique (biller, account_no) index is filled from its right end.
_INSERT_FIRST_ACCOUNTS_SQL = """
INSERT INTO billing_customeraccount (biller_id, account_no, holder_name, address, credit_balance, created_at)
SELECT %(biller)s, l.account_no, l.customer_name, '', 0, now()
FROM __NAMES__ l ORDER BY l.account_no
"""

# Bills: unpaid ones that differ are updated (never one with payments or a cancelled one: the WHERE
# says so again under the row lock, whatever was checked before), new ones inserted.
_UPDATE_BILLS_SQL = """
UPDATE billing_bill b
SET amount_due = v.amount_due, late_fee = v.late_fee, due_date = v.due_date, reference = v.reference,
    early_discount = 0, discount_until = NULL, beneficiary_kind = '', beneficiary_name = '', notice_no = '',
    updated_at = now()
FROM billpay_import_valid v
JOIN billing_customeraccount a ON a.biller_id = %(biller)s AND a.account_no = v.account_no
WHERE b.account_id = a.id AND b.period = v.period
  AND b.amount_paid = 0 AND b.status <> %(cancelled)s
  AND __DIFFERS__
""".replace("__DIFFERS__", _DIFFERS_SQL)

_INSERT_BILLS_SQL = """
INSERT INTO billing_bill (biller_id, account_id, period, amount_due, late_fee, due_date, amount_paid,
                          status, reference, description, created_at, updated_at)
SELECT %(biller)s, a.id, v.period, v.amount_due, v.late_fee, v.due_date, 0, %(open)s, v.reference, '',
       now(), now()
FROM billpay_import_valid v
JOIN billing_customeraccount a ON a.biller_id = %(biller)s AND a.account_no = v.account_no
WHERE NOT EXISTS (SELECT 1 FROM billing_bill b WHERE b.account_id = a.id AND b.period = v.period)
"""

# No bill of this biller for the file's periods (checked under the biller's lock): nothing to look for.
_INSERT_FIRST_BILLS_SQL = _INSERT_BILLS_SQL.split("WHERE NOT EXISTS")[0]


def _account_rule_sql(biller: Biller) -> str:
    rule = "account ~ %(pattern)s"
    if biller.account_check_digit == CheckDigit.LUHN:
        rule += " AND pg_temp.billpay_luhn(account)"
    elif biller.account_check_digit == CheckDigit.MOD11_2:
        rule += " AND pg_temp.billpay_mod11_2(account)"
    return rule


def _reader_account_rule(biller: Biller) -> Callable[[str], bool] | None:
    """The biller's account rule for the reader, or None when Python cannot compile its pattern (one saved
    before patterns were checked): SQL then checks every row's account number, as it did before."""
    try:
        return account_rule(pattern=biller.account_pattern, check_digit=biller.account_check_digit)
    except PaymentRefused:
        return None


def _error_from_sql(biller: Biller, row) -> RowError:
    rownum, _pos, column, code, value, account, period, first_row = row
    if code == "duplicate_row":
        return RowError.make(rownum, column, code, account_no=account, period=period, first_row=first_row)
    if code == "too_long":
        return RowError.make(rownum, column, code, value=value, max=MAX_LENGTHS[column])
    if code == "account_no_invalid":
        return RowError.make(
            rownum, column, code, value=value, biller=biller.display_name, hint=biller.account_hint
        )
    if code in ("value_required", "extra_fields"):
        return RowError.make(rownum, column, code)
    return RowError.make(rownum, column, code, value=value)


def _conflict_from_sql(row) -> RowError:
    rownum, account_no, period, status, amount_paid, column = row
    if status == BillStatus.CANCELLED:
        return RowError.make(rownum, column, "bill_cancelled", account_no=account_no, period=period)
    return RowError.make(
        rownum, column, "bill_has_payments", account_no=account_no, period=period, paid=f"{amount_paid:,.2f}"
    )


class _ByteCounter(io.RawIOBase):
    """Counts what the text layer has read, for progress in bytes."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.count = raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


# The staging tables are temporary (no WAL), held in the session's local buffers; the joins and the
# MATERIALIZED steps need memory to stay off disk. Both are per-connection settings of this session.
IMPORT_TEMP_BUFFERS = "256MB"
IMPORT_WORK_MEM = "128MB"


def _session_memory(cursor) -> None:
    cursor.execute("SELECT set_config('work_mem', %s, false)", [IMPORT_WORK_MEM])
    try:
        with transaction.atomic():
            cursor.execute("SELECT set_config('temp_buffers', %s, false)", [IMPORT_TEMP_BUFFERS])
    except DatabaseError:
        pass  # temporary tables were used earlier in this session: keep its buffers


def stage_file(
    stream: BinaryIO,
    *,
    encoding: str | None,
    progress: Progress | None,
    chunk_rows: int,
    account_rule: Callable[[str], bool] | None = None,
) -> tuple[list[RowError], int]:
    """COPY the file's rows into the staging table. Returns header errors (nothing staged then) and the
    number of non-blank data rows. `account_rule` (the biller's, `billing.rules.account_rule`) is run on
    the plain rows' account numbers as they stream; the SQL checks the others."""
    with refusals_as(BillImportError):
        check_size(stream.seek(0, io.SEEK_END), "bill_file")  # before a byte is read
    stream.seek(0)
    counter = _ByteCounter(stream)
    # Lines and fields within the caps of billing.untrusted_files, as on the Python path.
    reader = csv_reader(stream, encoding=encoding, raw=io.BufferedReader(counter, 1 << 16))
    try:
        try:
            headers = next(reader)
        except StopIteration:
            raise BillImportError("file_empty") from None
        positions, header_errors = check_headers(headers)
        if header_errors:
            return header_errors, 0
        order = [
            next(p for p, c in positions.items() if c == column) if column in positions.values() else None
            for column in STAGE_COLUMNS
        ]
        width = max(positions) + 1
        in_order = order == list(range(len(STAGE_COLUMNS))) and width == len(STAGE_COLUMNS)
        plain_match = PLAIN_ROW_RE.fullmatch
        with connection.cursor() as cursor:
            _session_memory(cursor)
            cursor.execute(_STAGE_SQL)
        rownum, count, done = 1, 0, False
        while not done:
            done = True
            # A savepoint per chunk: a file refused mid-COPY (a line or field past the caps) leaves the
            # caller's transaction usable, so the refusal is what the caller sees.
            with (
                transaction.atomic(),
                connection.cursor() as cursor,
                cursor.cursor.copy(
                    "COPY billpay_import_stage (rownum, extra, plain, account_ok, account_no, customer_name, "
                    "period, amount_due, due_date, late_fee, reference) FROM STDIN"
                ) as copy,
            ):
                for values in reader:
                    rownum += 1
                    # A row of blank cells only (one C-level join and strip rather than a generator).
                    if not "".join(values).strip(BLANKS):
                        continue
                    count += 1
                    length = len(values)
                    if in_order and length == width:  # the usual file: the columns in order, no more
                        extra, cells = False, values
                        key = f"{values[0]}|{values[2]}|{values[3]}|{values[4]}|{values[5]}"
                    else:
                        extra = length > width and any(value.strip(BLANKS) for value in values[width:])
                        cells = [values[p] if p is not None and p < length else None for p in order]
                        key = "|".join(cells[i] or "" for i in (0, 2, 3, 4, 5))
                    # account_no|period|amount_due|due_date|late_fee, for the plain-row pattern
                    plain = plain_match(key) is not None
                    if not plain and (spelled := plain_spelling(cells)) is not None:
                        cells, plain = spelled, True
                    account_ok = account_rule(cells[0]) if plain and account_rule else None
                    copy.write_row((rownum, extra, plain, account_ok, *cells))
                    if count % chunk_rows == 0:
                        done = False
                        break
            if progress:
                progress("reading", count, counter.count)
    except UnicodeDecodeError:
        raise BillImportError("encoding_invalid", encoding=encoding or "UTF-8") from None
    return [], count


def _names_unstaged_columns(stream: BinaryIO, encoding: str | None) -> bool:
    """Whether the file's header names a column the staging table has no room for (discounts and
    beneficiaries, `ROW_BY_ROW_COLUMNS`). Reads the header row only."""
    with refusals_as(BillImportError):
        check_size(stream.seek(0, io.SEEK_END), "bill_file")
    stream.seek(0)
    try:
        headers = next(
            csv_reader(stream, encoding=encoding, raw=io.BufferedReader(_ByteCounter(stream), 1 << 16))
        )
    except StopIteration:
        headers = []
    finally:
        stream.seek(0)
    positions, _errors = check_headers(headers)
    return any(column in ROW_BY_ROW_COLUMNS for column in positions.values())


def _import_row_by_row(
    biller: Biller,
    stream: BinaryIO,
    *,
    actor,
    encoding: str | None,
    partial: bool,
    source: str,
    progress: Progress | None,
    error_limit: int,
    error_report: io.TextIOBase | None,
) -> ImportReport:
    """A file with discount, beneficiary or notice-number columns, through `import_bills` (same rules and
    report), reading the whole file (already held within the size cap of billing.untrusted_files)."""
    from billing.bill_import.pipeline import import_bills
    from billing.bill_import.reading import read_table

    if progress:
        progress("reading", 0, 0)
    report = import_bills(
        biller, read_table(stream.read(), encoding=encoding), actor=actor, partial=partial, source=source
    )
    _write_errors(error_report, report.errors)
    report.errors = report.errors[:error_limit]
    if progress:
        progress("checked", report.rows, 0)
    return report


def import_bills_copy(
    biller: Biller,
    stream: BinaryIO,
    *,
    actor,
    encoding: str | None = None,
    partial: bool = False,
    source: str = "command",
    progress: Progress | None = None,
    chunk_rows: int = 200_000,
    error_limit: int = 1000,
    error_report: io.TextIOBase | None = None,
) -> ImportReport:
    """Import a CSV file streamed from `stream`. Same rules and reports as `bill_import.import_bills`;
    `report.errors` holds the first `error_limit` errors, `error_count` all of them, and `error_report`
    (a text file) receives every error as CSV."""
    check_biller_takes_bills(biller)
    if _names_unstaged_columns(stream, encoding):
        return _import_row_by_row(
            biller, stream, actor=actor, encoding=encoding, partial=partial, source=source,
            progress=progress, error_limit=error_limit, error_report=error_report,
        )  # fmt: skip
    try:
        # A file refused while staging (a line or field past the caps) leaves no staging table behind.
        header_errors, count = stage_file(
            stream,
            encoding=encoding,
            progress=progress,
            chunk_rows=chunk_rows,
            account_rule=_reader_account_rule(biller),
        )
        report = ImportReport(rows=count)
        if header_errors:
            report.errors, report.error_count = header_errors, len(header_errors)
            _write_errors(error_report, header_errors)
            return report
        with connection.cursor() as cursor:
            if progress:
                progress("checking", count, 0)
            cursor.execute(_FUNCTIONS_SQL)
            sql = _NORMALISE_SQL.replace("__ACCOUNT_RULE__", _account_rule_sql(biller))
            cursor.execute(sql, {"blanks": BLANKS, "pattern": sql_account_pattern(biller.account_pattern)})
            cursor.execute("DROP TABLE billpay_import_stage")
            cursor.execute(_ANALYZE_NORM_SQL)
            cursor.execute(_REPEATED_ACCOUNTS_SQL)
            repeated_accounts = cursor.fetchone()[0]
            if repeated_accounts:
                cursor.execute(_DUPLICATES_SQL)
            if progress:
                progress("checked", count, 0)
            errors = _collect_errors(cursor, biller, report, error_limit, error_report)
            if errors and not partial:
                return report
            cursor.execute("DROP TABLE IF EXISTS billpay_import_valid")
            cursor.execute(_VALID_SQL)
            cursor.execute(_ANALYZE_VALID_SQL)
            with transaction.atomic():
                lock_biller_for_import(biller)
                params = {"biller": biller.pk, "cancelled": BillStatus.CANCELLED, "open": BillStatus.OPEN}
                # No bill of this biller for the file's periods (a new month's file, checked under the
                # biller's lock): nothing to conflict with, update or look for before inserting.
                cursor.execute(_HAS_BILLS_SQL, params)
                has_bills = cursor.fetchone()[0]
                conflicts = []
                if has_bills:
                    cursor.execute(_CONFLICTS_SQL, params)
                    conflicts = [_conflict_from_sql(row) for row in cursor.fetchall()]
                _write_errors(error_report, conflicts)
                report.error_count += len(conflicts)
                room = max(error_limit - len(report.errors), 0)
                report.errors = sorted(report.errors + conflicts[:room], key=lambda e: e.row)
                if conflicts and not partial:
                    return report
                if conflicts:
                    cursor.execute(
                        "DELETE FROM billpay_import_valid WHERE rownum = ANY(%s)",
                        [[e.row for e in conflicts]],
                    )
                cursor.execute("SELECT count(*) FROM billpay_import_valid")
                valid = cursor.fetchone()[0]
                if progress:
                    progress("writing", count, 0)
                if repeated_accounts:
                    cursor.execute(_LAST_NAMES_SQL)
                    names = "billpay_import_names"
                else:
                    names = "billpay_import_valid"
                # A biller's first file (or a new month's) has nothing to rename or update: skip the joins.
                cursor.execute(_HAS_ACCOUNTS_SQL, params)
                if cursor.fetchone()[0]:
                    cursor.execute(_RENAME_ACCOUNTS_SQL.replace("billpay_import_names", names), params)
                    cursor.execute(_INSERT_ACCOUNTS_SQL.replace("__NAMES__", names), params)
                else:
                    cursor.execute(_INSERT_FIRST_ACCOUNTS_SQL.replace("__NAMES__", names), params)
                report.accounts_created = cursor.rowcount
                if progress:
                    progress("accounts written", count, 0)
                if has_bills:
                    cursor.execute(_UPDATE_BILLS_SQL, params)
                    report.updated = cursor.rowcount
                    cursor.execute(_INSERT_BILLS_SQL, params)
                else:
                    cursor.execute(_INSERT_FIRST_BILLS_SQL, params)
                report.created = cursor.rowcount
                if progress:
                    progress("bills written", count, 0)
                report.unchanged = valid - report.created - report.updated
                report.imported = True
                record_audit(
                    actor=actor,
                    action="bills.imported",
                    target=biller,
                    source=source,
                    **{k: v for k, v in report.summary().items() if k != "imported"},
                )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET work_mem")  # the connection may serve other work next (a Celery worker)
            cursor.execute(
                "DROP TABLE IF EXISTS billpay_import_stage; DROP TABLE IF EXISTS billpay_import_norm; "
                "DROP TABLE IF EXISTS billpay_import_valid; DROP TABLE IF EXISTS billpay_import_names"
            )
    return report


def _collect_errors(cursor, biller: Biller, report: ImportReport, limit: int, error_report) -> int:
    cursor.execute(_ERRORS_SQL)
    total = 0
    while True:
        rows = cursor.fetchmany(5000)
        if not rows:
            break
        errors = [_error_from_sql(biller, row) for row in rows]
        total += len(errors)
        room = limit - len(report.errors)
        if room > 0:
            report.errors.extend(errors[:room])
        _write_errors(error_report, errors)
    report.error_count = total
    return total


def _write_errors(error_report, errors) -> None:
    if error_report is None:
        return
    writer = csv.writer(error_report)
    for error in errors:
        writer.writerow(error_report_csv_row(error))
