"""Row locks for money, always taken in this order so that two transactions never wait on each other in
a cycle: payment → customer account → its bills (oldest first). Saleor keeps its locks in one module
for the same reason.

The two locks every payment takes are plain SQL: compiling them through the ORM cost a third of the
posting path's Python time (docs/benchmarks.md).
"""

from collections.abc import Iterable

from django.db import connection

from billing.choices import PAYABLE_BILL_STATUSES
from billing.models import Bill, Biller, CustomerAccount, Payment
from billing.plain_sql import columns, model_from_row

_ACCOUNT_WITH_BILLER_SQL = f"""
SELECT {columns(CustomerAccount, "a")}, {columns(Biller, "b")}
FROM billing_customeraccount a JOIN billing_biller b ON b.id = a.biller_id
WHERE b.code = %s AND a.account_no = %s
FOR UPDATE OF a
"""

_PAYABLE_BILLS_SQL = f"""
SELECT {columns(Bill, "bill")} FROM billing_bill bill
WHERE bill.account_id = %s AND bill.status = ANY(%s)
ORDER BY bill.due_date, bill.period, bill.id
FOR UPDATE
"""


def lock_payment(payment_id: int) -> Payment:
    return Payment.objects.select_for_update(of=("self",)).select_related("biller").get(pk=payment_id)


def lock_customer_account(*, biller_code: str, account_no: str) -> CustomerAccount | None:
    """Lock the account row (not its biller's: payments to one biller must not queue behind each other)
    and fetch the biller with it in the same query."""
    with connection.cursor() as cursor:
        cursor.execute(_ACCOUNT_WITH_BILLER_SQL, [biller_code, account_no])
        row = cursor.fetchone()
    if row is None:
        return None
    account, end = model_from_row(CustomerAccount, row)
    account.biller, _end = model_from_row(Biller, row, end)
    return account


def lock_customer_account_by_id(account_id: int) -> CustomerAccount:
    return CustomerAccount.objects.select_for_update().get(pk=account_id)


def lock_payable_bills(account: CustomerAccount) -> list[Bill]:
    """The account's bills that still owe something, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(_PAYABLE_BILLS_SQL, [account.pk, list(PAYABLE_BILL_STATUSES)])
        return [model_from_row(Bill, row)[0] for row in cursor.fetchall()]


def lock_bills_by_period(account: CustomerAccount, periods: Iterable[str]) -> list[Bill]:
    return list(
        Bill.objects.select_for_update()
        .filter(account=account, period__in=list(periods))
        .order_by("due_date", "period", "id")
    )


def lock_bills_by_id(bill_ids: Iterable[int]) -> list[Bill]:
    return list(
        Bill.objects.select_for_update().filter(pk__in=list(bill_ids)).order_by("due_date", "period", "id")
    )
