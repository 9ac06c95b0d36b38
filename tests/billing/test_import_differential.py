"""Differential: the same generated bill files fed to the Python import (billing/bill_import.py) and the
SQL one (billing/bill_import_copy.py) give the same outcome — rows imported, each error with its row,
column and code — and the check digits written in PL/pgSQL agree with billing.rules on generated numbers."""

import csv
import io

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.bill_import import import_bills, read_table
from billing.bill_import_copy import _FUNCTIONS_SQL, import_bills_copy
from billing.choices import CheckDigit
from billing.rules import luhn_is_valid, mod11_2_is_valid, normalize_account_no
from tests.billing.test_bill_import_copy import _state, _summary
from tests.factories import BillerFactory

pytestmark = pytest.mark.django_db

HEADER = ["account_no", "customer_name", "period", "amount_due", "due_date", "late_fee", "reference"]

# Cells as billers' files write them, good and bad, plus free text from the characters that matter to
# the rules (digits full-width and not, separators, currency signs, date words, letters, blanks).
FUZZ = st.text(alphabet="0123456789０１９ -/.,¥元年月日XxA\u3000\u00a0\t", max_size=12)
ACCOUNTS = st.one_of(
    st.sampled_from(
        [
            "10000001",
            "10000002",
            "1000 0003",
            "1000-0004",
            "１００００００５",
            "79927398713",
            "11010519491231002X",
            "11010519491231002x",
            "AB1234",
            "1234",
            "",
            "1" * 41,
            "\u0663" * 8,  # Arabic-Indic digits: not 0-9 in either engine
        ]
    ),
    FUZZ,
)
NAMES = st.sampled_from(["张三", " 李四 ", "", "名" * 101, "\u3000王五\u3000", "Zhang San"])
# The edges of the rules: years 1900 to 2999, months 1 to 12, the last day of each month, leap years.
YEARS = st.sampled_from([1899, 1900, 2000, 2024, 2026, 2100, 2999, 3000])
MONTHS = st.sampled_from([0, 1, 2, 4, 12, 13])
DAYS = st.sampled_from([0, 1, 28, 29, 30, 31, 32])


@st.composite
def built_dates(draw) -> str:
    """A date from its parts, valid or not, in one of the written forms."""
    year, month, day = draw(YEARS), draw(MONTHS), draw(DAYS)
    forms = [
        f"{year:04d}-{month:02d}-{day:02d}",
        f"{year}/{month}/{day}",
        f"{year}.{month}.{day}",
        f"{year}年{month}月{day}日",
        f"{year:04d}{month:02d}{day:02d}",
        f"{year:04d}-{month:02d}-{day:02d}".translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    ]
    return draw(st.sampled_from(forms))


@st.composite
def built_periods(draw) -> str:
    year, month = draw(YEARS), draw(MONTHS)
    return draw(
        st.sampled_from([f"{year}-{month:02d}", f"{year}/{month}", f"{year}{month:02d}", f"{year}.{month}"])
    )


@st.composite
def built_amounts(draw) -> str:
    """Yuan from parts: up to 13 whole digits, up to 3 places, a sign, a currency sign, thousands commas."""
    whole = draw(st.sampled_from(["0", "1", "12", "1234", "999999999999", "1000000000000", "001"]))
    fraction = draw(st.sampled_from(["", ".5", ".50", ".500", ".05", ".005", ".00"]))
    sign = draw(st.sampled_from(["", "", "-"]))
    if draw(st.booleans()) and len(whole) > 3:
        whole = f"{int(whole):,}"
    return draw(st.sampled_from(["{}", "¥{}", "￥{}", "{}元", " {} "])).format(sign + whole + fraction)


PERIODS = st.one_of(
    st.sampled_from(["2026-01", "2026/2", "202603", "2026.4", "2026-13", "1899-12", "", "２０２６-０５"]),
    built_periods(),
    FUZZ,
)
AMOUNTS = st.one_of(
    st.sampled_from(
        ["10.00", "1,234.50", "¥5", "88元", "0", "-0", "1.005", "1.500", "abc", "", "12345678901234"]
    ),
    built_amounts(),
    FUZZ,
)
DATES = st.one_of(
    st.sampled_from(["2026-02-01", "2024/2/29", "2026年3月9日", "20260405", "2026-02-30", "", "1899-01-01"]),
    built_dates(),
    built_dates(),
    FUZZ,
)
FEES = st.one_of(st.sampled_from(["", "0", "1.5", "-1", "x", "0.00"]), built_amounts())
REFERENCES = st.sampled_from(["", "INV-1", "R" * 65])
ROW = st.tuples(
    ACCOUNTS, NAMES, PERIODS, AMOUNTS, DATES, FEES, REFERENCES, st.sampled_from(["", "", "extra"])
)
RULES = st.sampled_from(
    [
        (r"^\d{8}$", CheckDigit.NONE),
        (r"^[0-9X]{6,20}$", CheckDigit.LUHN),
        (r"^[0-9X]{6,20}$", CheckDigit.MOD11_2),
        (r"^[A-Z]{2}\d{4,6}|\d{4,8}$", CheckDigit.NONE),
    ]
)
FAST = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def bill_file(rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for *cells, extra in rows:
        writer.writerow([*cells, extra] if extra else cells)
    return out.getvalue().encode()


@FAST
@given(rows=st.lists(ROW, min_size=1, max_size=8), rule=RULES, partial=st.booleans())
def test_both_import_paths_give_the_same_outcome_for_a_generated_file(rows, rule, partial, admin_user):
    pattern, check_digit = rule
    data = bill_file(rows)
    with transaction.atomic():
        python_biller, sql_biller = (
            BillerFactory(code=code, name="水务", account_pattern=pattern, account_check_digit=check_digit)
            for code in ("PYDIFF", "SQLDIFF")
        )
        python = import_bills(python_biller, read_table(data), actor=admin_user, partial=partial)
        sql = import_bills_copy(sql_biller, io.BytesIO(data), actor=admin_user, partial=partial)
        outcome = (_summary(python), _state(python_biller)), (_summary(sql), _state(sql_biller))
        transaction.set_rollback(True)
    (python_summary, python_state), (sql_summary, sql_state) = outcome
    assert sql_summary == python_summary
    assert sql_state == python_state


NUMBERS = st.one_of(
    st.text(alphabet="0123456789", min_size=1, max_size=20),
    st.text(alphabet="0123456789X", min_size=1, max_size=19),
    st.text(alphabet="0123456789 X-A", max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(numbers=st.lists(NUMBERS, min_size=1, max_size=20))
def test_the_sql_check_digits_agree_with_the_python_rules(numbers):
    with connection.cursor() as cursor:
        cursor.execute(_FUNCTIONS_SQL)
        cursor.execute(
            "SELECT n, pg_temp.billpay_luhn(n), pg_temp.billpay_mod11_2(n) FROM unnest(%s::text[]) AS n",
            [numbers],
        )
        sql = cursor.fetchall()
    assert sql == [(n, luhn_is_valid(n), mod11_2_is_valid(n)) for n in numbers]


@settings(max_examples=200, deadline=None)
@given(raw=st.lists(FUZZ, min_size=1, max_size=20))
def test_the_sql_account_normal_form_is_the_python_one(raw):
    from billing.bill_import_copy import _NFKC
    from billing.rules import ACCOUNT_SEPARATORS

    expression = f"upper(regexp_replace({_NFKC.format('a')}, %s, '', 'g'))"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {expression} FROM unnest(%s::text[]) AS a", [ACCOUNT_SEPARATORS, raw])
        sql = [row[0] for row in cursor.fetchall()]
    assert sql == [normalize_account_no(text) for text in raw]
