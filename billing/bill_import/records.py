"""What every layer of the import passes on: the columns of a bill row, the errors (each with its
stable code and translated message), a checked row and the report."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from billing.exceptions import BillingError
from billing.untrusted_files import (
    FILE_MESSAGES,
)

COLUMNS = (
    "account_no",
    "customer_name",
    "period",
    "amount_due",
    "due_date",
    "late_fee",
    "reference",
    # Amounts that change with the payment date and who the bill is for (issue 17, items 2 and 6).
    "early_discount",
    "discount_until",
    "beneficiary_kind",
    "beneficiary_name",
    # A non-tax payment notice's number (缴款书号, issue 17 item 5), unique per biller.
    "notice_no",
)
REQUIRED_COLUMNS = COLUMNS[:5]
# Columns the set-based SQL path does not stage: a CSV file naming one is imported row by row
# (`sql_path.import_bills_copy` hands it to `import_bills`).
ROW_BY_ROW_COLUMNS = COLUMNS[7:]
# What each column is called on screen (the file keeps the codes above, which the preview shows beside).
COLUMN_LABELS = {
    "account_no": _("Account number"),
    "customer_name": _("Customer name"),
    "period": _("Period"),
    "amount_due": _("Amount due"),
    "due_date": _("Due date"),
    "late_fee": _("Late fee"),
    "reference": _("Reference"),
    "early_discount": _("Early-payment discount"),
    "discount_until": _("Discount holds until"),
    "beneficiary_kind": _("Beneficiary is a"),
    "beneficiary_name": _("Beneficiary"),
    "notice_no": _("Payment notice number"),
}

IMPORT_MESSAGES = {
    "file_empty": _("The file has no header row."),
    "file_unreadable": _("The file could not be read as %(format)s: %(detail)s"),
    "encoding_invalid": _(
        "The file is not valid %(encoding)s text: save it as UTF-8, or give its encoding (such as GBK)."
    ),
    "header_missing": _("The required column “%(column)s” is missing."),
    "header_misspelt": _("Unknown column “%(header)s”: did you mean “%(suggestion)s”?"),
    "header_unknown": _("Unknown column “%(header)s”. The columns are: %(columns)s."),
    "header_repeated": _("The column “%(column)s” appears more than once."),
    "extra_fields": _("The row has more cells than the header has columns."),
    "value_required": _("This cell must not be empty."),
    "too_long": _("“%(value)s” is too long: at most %(max)s characters."),
    "account_no_invalid": _("“%(value)s” is not a valid account number for %(biller)s. %(hint)s"),
    "period_invalid": _("“%(value)s” is not a period: write the year and month as YYYY-MM, such as 2026-01."),
    "amount_invalid": _(
        "“%(value)s” is not an amount of money: write yuan with at most two decimals, such as 1234.50."
    ),
    "amount_negative": _("“%(value)s” is negative: amounts cannot be below zero."),
    "amount_zero": _("The amount due must be more than zero."),
    "date_invalid": _("“%(value)s” is not a date: write it as YYYY-MM-DD, such as 2026-01-05."),
    "discount_above_amount": _(
        "The early-payment discount ¥%(discount)s is more than the amount due ¥%(amount)s."
    ),
    "discount_until_required": _(
        "An early-payment discount needs the date it holds until: fill in the column discount_until."
    ),
    "discount_until_without_discount": _(
        "A date in discount_until needs an early-payment discount beside it."
    ),
    "beneficiary_kind_invalid": _("“%(value)s” is not a kind of beneficiary: write one of %(kinds)s."),
    "beneficiary_name_required": _("A kind of beneficiary needs the beneficiary's name beside it."),
    "notice_no_invalid": _(
        "“%(value)s” is not a payment notice number: letters, digits and hyphens, at most 32 of them."
    ),
    "notice_no_repeated": _("The payment notice number %(notice_no)s is on row %(first_row)s already."),
    "notice_no_taken": _(
        "The payment notice number %(notice_no)s is the bill of account %(account_no)s for %(period)s."
    ),
    "duplicate_row": _("Account %(account_no)s has a bill for %(period)s on row %(first_row)s already."),
    "bill_has_payments": _(
        "The bill of account %(account_no)s for %(period)s has payments of ¥%(paid)s and is not changed."
    ),
    "bill_cancelled": _(
        "The bill of account %(account_no)s for %(period)s was cancelled and is not changed."
    ),
    "biller_cannot_take_bills": _("%(biller)s is closed and takes no new bills."),
    # The file itself: size, XLSX archive, lines and fields (billing.untrusted_files)
    **FILE_MESSAGES,
}


class BillImportError(BillingError):
    """A file or batch that cannot be imported at all (nothing was written)."""

    messages = IMPORT_MESSAGES


@dataclass(frozen=True, order=True)
class RowError:
    """What is wrong with one cell (or a whole row when `column` is empty, the file when `row` is 0)."""

    row: int
    column: str
    code: str
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def make(cls, row: int, column: str, code: str, /, **params: object) -> RowError:
        return cls(row, column, code, tuple(sorted((key, str(value)) for key, value in params.items())))

    @property
    def message(self) -> str:
        return str(IMPORT_MESSAGES[self.code]) % dict(self.params)

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class BillRow:
    """A checked row, normalised: what `upsert_bills` writes."""

    row: int
    account_no: str
    customer_name: str
    period: str
    amount_due: Decimal
    due_date: datetime.date
    late_fee: Decimal
    reference: str
    early_discount: Decimal = Decimal("0.00")
    discount_until: datetime.date | None = None
    beneficiary_kind: str = ""
    beneficiary_name: str = ""
    notice_no: str = ""


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    accounts_created: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    imported: bool = False

    @property
    def written(self) -> int:
        return self.created + self.updated

    def summary(self) -> dict:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "accounts_created": self.accounts_created,
            "errors": self.error_count,
            "imported": self.imported,
        }
