"""A biller's account pattern, checked when it is saved against both engines that will run it.

Python's `re` runs it for forms, the APIs, posting and the Python import; PostgreSQL's `~` runs it in the
COPY import (`billing.bill_import_copy`). `billing.rules.account_pattern_problem` holds a pattern to the
subset both engines read alike and compiles it in Python; here PostgreSQL compiles it too, inside a
savepoint so that a refusal leaves the caller's transaction usable.
"""

from django.db import DatabaseError, connection, transaction

from billing.exceptions import BillingError
from billing.rules import account_pattern_problem


class AccountPatternRefused(BillingError):
    """The biller's account number pattern cannot be used: nothing was saved."""


def sql_account_pattern(pattern: str) -> str:
    """The pattern as PostgreSQL must run it to match the whole number, as Python's `fullmatch` does."""
    return f"^(?:{pattern})$"


def check_account_pattern(pattern: str) -> None:
    """Refuse (AccountPatternRefused, with a stable code) a pattern either engine would read differently
    or not at all."""
    problem = account_pattern_problem(pattern)
    if problem is not None:
        code, params = problem
        raise AccountPatternRefused(code, **params)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT '' ~ %s", [sql_account_pattern(pattern)])
    except DatabaseError as error:
        detail = str(getattr(error, "__cause__", None) or error).splitlines()[0]
        raise AccountPatternRefused("account_pattern_invalid", detail=detail) from None
