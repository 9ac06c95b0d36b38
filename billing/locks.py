"""Row locks for money, always taken in this order so that two transactions never wait on each other in
a cycle: payment → customer account → its bills (oldest first). Saleor keeps its locks in one module
for the same reason."""

from collections.abc import Iterable

from billing.choices import PAYABLE_BILL_STATUSES
from billing.models import Bill, CustomerAccount, Payment


def lock_payment(payment_id: int) -> Payment:
    return Payment.objects.select_for_update(of=("self",)).select_related("biller").get(pk=payment_id)


def lock_customer_account(*, biller_code: str, account_no: str) -> CustomerAccount | None:
    """Lock the account row (not its biller's: payments to one biller must not queue behind each other)
    and fetch the biller with it in the same query."""
    return (
        CustomerAccount.objects.select_for_update(of=("self",))
        .select_related("biller")
        .filter(biller__code=biller_code, account_no=account_no)
        .first()
    )


def lock_customer_account_by_id(account_id: int) -> CustomerAccount:
    return CustomerAccount.objects.select_for_update().get(pk=account_id)


def lock_payable_bills(account: CustomerAccount) -> list[Bill]:
    """The account's bills that still owe something, oldest first."""
    return list(
        Bill.objects.select_for_update()
        .filter(account=account, status__in=PAYABLE_BILL_STATUSES)
        .order_by("due_date", "period", "id")
    )


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
