"""Writing checked rows by (biller, account_no, period): accounts and bills created, unpaid bills
updated, a bill with payments or a cancelled one never changed, the import audited."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from billing import locks
from billing.audit import record_audit
from billing.bill_import.records import BillRow, ImportReport, RowError
from billing.choices import BillStatus
from billing.models import Bill, Biller, CustomerAccount
from billing.money import ZERO

UPDATED_FIELDS = [
    "amount_due",
    "late_fee",
    "due_date",
    "reference",
    "early_discount",
    "discount_until",
    "beneficiary_kind",
    "beneficiary_name",
    "notice_no",
    "updated_at",
]


def _differs(bill: Bill, row: BillRow) -> str | None:
    """The first column where the row would change the bill, or None."""
    for column, current, new in (
        ("amount_due", bill.amount_due, row.amount_due),
        ("late_fee", bill.late_fee, row.late_fee),
        ("due_date", bill.due_date, row.due_date),
        ("reference", bill.reference, row.reference),
        ("early_discount", bill.early_discount, row.early_discount),
        ("discount_until", bill.discount_until, row.discount_until),
        ("beneficiary_kind", bill.beneficiary_kind, row.beneficiary_kind),
        ("beneficiary_name", bill.beneficiary_name, row.beneficiary_name),
        ("notice_no", bill.notice_no, row.notice_no),
    ):
        if current != new:
            return column
    return None


def _conflict(bill: Bill, row: BillRow) -> RowError | None:
    if bill.amount_paid == ZERO and bill.status != BillStatus.CANCELLED:
        return None
    column = _differs(bill, row)
    if column is None:
        return None
    if bill.status == BillStatus.CANCELLED:
        return RowError.make(row.row, column, "bill_cancelled", account_no=row.account_no, period=row.period)
    return RowError.make(
        row.row,
        column,
        "bill_has_payments",
        account_no=row.account_no,
        period=row.period,
        paid=f"{bill.amount_paid:,.2f}",
    )


def _existing_bills(biller: Biller, rows: Sequence[BillRow]) -> dict[tuple[str, str], Bill]:
    """The bills the rows name, locked for the import."""
    result: dict[tuple[str, str], Bill] = {}
    accounts = sorted({row.account_no for row in rows})
    periods = sorted({row.period for row in rows})
    for start in range(0, len(accounts), 5000):
        chunk = accounts[start : start + 5000]
        for bill in locks.lock_bills_of_import(biller, account_nos=chunk, periods=periods):
            result[(bill.account.account_no, bill.period)] = bill
    return result


def upsert_bills(
    biller: Biller, rows: Sequence[BillRow], *, actor, partial: bool = False, source: str = "import"
) -> ImportReport:
    """Write checked rows by (biller, account_no, period). Unpaid bills are updated, bills with payments
    or cancelled ones never change (their rows come back as errors), new accounts are created. Without
    `partial`, any such error writes nothing."""
    report = ImportReport(rows=len(rows))
    with transaction.atomic():
        lock_biller_for_import(biller)
        existing = _existing_bills(biller, rows)
        conflicts = [
            error
            for row in rows
            if (bill := existing.get((row.account_no, row.period))) and (error := _conflict(bill, row))
        ]
        conflicts += _notices_taken(biller, rows)
        report.errors, report.error_count = sorted(conflicts), len(conflicts)
        if conflicts and not partial:
            return report
        conflicted = {error.row for error in conflicts}
        rows = [row for row in rows if row.row not in conflicted]

        accounts = _upsert_accounts(biller, rows, report)
        now = timezone.now()
        new_bills, changed = [], []
        for row in rows:
            bill = existing.get((row.account_no, row.period))
            if bill is None:
                new_bills.append(
                    Bill(
                        biller=biller,
                        account=accounts[row.account_no],
                        period=row.period,
                        amount_due=row.amount_due,
                        late_fee=row.late_fee,
                        due_date=row.due_date,
                        reference=row.reference,
                        early_discount=row.early_discount,
                        discount_until=row.discount_until,
                        beneficiary_kind=row.beneficiary_kind,
                        beneficiary_name=row.beneficiary_name,
                        notice_no=row.notice_no,
                        created_at=now,
                        updated_at=now,
                    )
                )
            elif _differs(bill, row):
                bill.amount_due, bill.late_fee = row.amount_due, row.late_fee
                bill.due_date, bill.reference, bill.updated_at = row.due_date, row.reference, now
                bill.early_discount, bill.discount_until = row.early_discount, row.discount_until
                bill.beneficiary_kind, bill.beneficiary_name = row.beneficiary_kind, row.beneficiary_name
                bill.notice_no = row.notice_no
                changed.append(bill)
            else:
                report.unchanged += 1
        Bill.objects.bulk_create(new_bills, batch_size=2000)
        Bill.objects.bulk_update(changed, UPDATED_FIELDS, batch_size=2000)
        report.created, report.updated = len(new_bills), len(changed)
        report.imported = True
        record_audit(
            actor=actor, action="bills.imported", target=biller, source=source, **_audit_counts(report)
        )
    return report


def _notices_taken(biller: Biller, rows: Sequence[BillRow]) -> list[RowError]:
    """Rows whose payment notice number another bill of the biller carries (unique per biller: the
    database says so too). Read under the biller's import lock, so no other import can take one meanwhile."""
    wanted = {row.notice_no: row for row in rows if row.notice_no}
    if not wanted:
        return []
    taken = Bill.objects.filter(biller=biller, notice_no__in=list(wanted)).values_list(
        "notice_no", "account__account_no", "period"
    )
    return [
        RowError.make(
            wanted[notice].row,
            "notice_no",
            "notice_no_taken",
            notice_no=notice,
            account_no=account_no,
            period=period,
        )
        for notice, account_no, period in taken
        if (account_no, period) != (wanted[notice].account_no, wanted[notice].period)
    ]


def lock_biller_for_import(biller: Biller) -> None:
    """One import at a time per biller: two files for the same biller must not race to create the same
    accounts and bills. Payments lock accounts and bills, never the biller, so they are not held up."""
    locks.lock_biller_row(biller.pk)


def _audit_counts(report: ImportReport) -> dict:
    return {key: value for key, value in report.summary().items() if key != "imported"}


def _upsert_accounts(
    biller: Biller, rows: Sequence[BillRow], report: ImportReport
) -> dict[str, CustomerAccount]:
    names = {row.account_no: row.customer_name for row in rows}  # the last row of an account wins
    accounts: dict[str, CustomerAccount] = {}
    numbers = sorted(names)
    for start in range(0, len(numbers), 5000):
        for account in CustomerAccount.objects.filter(
            biller=biller, account_no__in=numbers[start : start + 5000]
        ):
            accounts[account.account_no] = account
    renamed = [account for number, account in accounts.items() if account.holder_name != names[number]]
    for account in renamed:
        account.holder_name = names[account.account_no]
    CustomerAccount.objects.bulk_update(renamed, ["holder_name"], batch_size=2000)
    new = [
        CustomerAccount(biller=biller, account_no=number, holder_name=names[number])
        for number in numbers
        if number not in accounts
    ]
    CustomerAccount.objects.bulk_create(new, batch_size=2000)
    if new:
        for account in CustomerAccount.objects.filter(
            biller=biller, account_no__in=[a.account_no for a in new]
        ):
            accounts[account.account_no] = account
    report.accounts_created = len(new)
    return accounts
