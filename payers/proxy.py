"""Batch proxy payment (代缴): a community officer uploads account numbers (and amounts, if known), reviews a
preview showing each resident's masked name and what is due, and pays every valid row in one checkout (one
posted payment per row; a big batch is posted by a task, a hundred rows a transaction:
`services.settle_order`). Rows that fail a check are listed with their row number and reason and left out:
one bad row does not hold back the rest.

An empty amount means "what is due now", late fee included: the officer cannot know the fee, the platform
can."""

from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from billing.audit import record_audit
from billing.choices import PAYABLE_BILL_STATUSES, PaymentMode
from billing.exceptions import PaymentRefused
from billing.models import Bill, Biller, CustomerAccount
from billing.money import ZERO, format_money, parse_amount
from billing.rules import account_no_is_valid, allocate_statement_payment, normalize_account_no
from billing.untrusted_files import check_size, csv_rows
from payers.exceptions import PortalError
from payers.models import ProxyBatch

ACCOUNT_HEADERS = {"account_no", "account", "户号", "账号"}
AMOUNT_HEADERS = {"amount", "金额"}
NAME_HEADERS = {"name", "姓名", "note", "备注"}


def _read_rows(data: bytes) -> list[dict]:
    """The file's rows, within the bounds of billing.untrusted_files (size, line and field lengths)."""
    check_size(len(data), "proxy_batch")
    text = data.decode("utf-8-sig", errors="strict") if data else ""
    reader = csv_rows(text)
    header = [cell.strip().lower() for cell in next(reader, [])]

    def column(names):
        return next((index for index, name in enumerate(header) if name in names), None)

    account_col, amount_col, name_col = column(ACCOUNT_HEADERS), column(AMOUNT_HEADERS), column(NAME_HEADERS)
    if account_col is None:
        raise PortalError("batch_empty")
    rows = []
    for number, cells in enumerate(reader, start=2):  # row 1 is the header, as a spreadsheet numbers it
        if not any(cell.strip() for cell in cells):
            continue
        cells = cells + [""] * (len(header) - len(cells))
        rows.append(
            {
                "row": number,
                "account_no": normalize_account_no(cells[account_col])[:40],
                "amount": cells[amount_col].strip()[:20] if amount_col is not None else "",
                "name": cells[name_col].strip()[:100] if name_col is not None else "",
            }
        )
    return rows


def _check(biller: Biller, row: dict, account: CustomerAccount | None, outstanding: list[Decimal]) -> str:
    """Why the row cannot be paid, or "" with the row's amount settled (what is due when left empty)."""
    if not account_no_is_valid(
        row["account_no"], pattern=biller.account_pattern, check_digit=biller.account_check_digit
    ):
        return _("not a valid account number for this biller")
    if account is None:
        return _("no such account")
    row["holder"] = account.masked_holder_name
    if biller.payment_mode == PaymentMode.STATEMENT:
        row["due"] = format_money(sum(outstanding, ZERO))
    if not row["amount"]:
        if biller.payment_mode != PaymentMode.STATEMENT:
            return _("enter an amount: this biller has no bills to pay what is due")
        if not outstanding:
            return _("nothing to pay on this account")
        row["amount"] = row["due"]
    try:
        amount = parse_amount(row["amount"])
    except PaymentRefused as refused:
        return refused.message
    if amount < biller.min_amount or (biller.max_amount is not None and amount > biller.max_amount):
        return _("amount outside the biller's limits")
    if biller.payment_mode == PaymentMode.STATEMENT:
        if not outstanding:
            return _("nothing to pay on this account")
        try:
            allocate_statement_payment(
                rule=biller.amount_rule,
                outstanding=outstanding,
                amount=amount,
                bills_named=False,
                biller=biller.display_name,
            )
        except PaymentRefused as refused:
            return refused.message
    row["amount"] = f"{amount:.2f}"
    row["account_id"] = account.pk
    return ""


def validate_upload(*, user, biller: Biller, file_name: str, data: bytes) -> ProxyBatch:
    """Read and check every row in a fixed number of queries (accounts and bills fetched in bulk)."""
    try:
        rows = _read_rows(data)
    except UnicodeDecodeError:
        raise PortalError("batch_empty") from None
    if not rows:
        raise PortalError("batch_empty")
    if len(rows) > settings.PROXY_BATCH_MAX_ROWS:
        raise PortalError("batch_too_large", limit=settings.PROXY_BATCH_MAX_ROWS)
    numbers = {row["account_no"] for row in rows}
    accounts = {
        a.account_no: a for a in CustomerAccount.objects.filter(biller=biller, account_no__in=numbers)
    }
    outstanding: dict[int, list[Decimal]] = {}
    if biller.payment_mode == PaymentMode.STATEMENT:
        bills = Bill.objects.filter(
            account_id__in=[a.pk for a in accounts.values()], status__in=PAYABLE_BILL_STATUSES
        ).order_by("account_id", "due_date", "period")
        for bill in bills:
            bill.biller = biller  # its amount today reads the biller's late-fee rule: no query per bill
            outstanding.setdefault(bill.account_id, []).append(bill.outstanding)
    seen: set[str] = set()
    errors = 0
    total = ZERO
    for row in rows:
        account = accounts.get(row["account_no"])
        error = _("the account appears twice in the file") if row["account_no"] in seen else ""
        seen.add(row["account_no"])
        error = error or _check(biller, row, account, outstanding.get(account.pk, []) if account else [])
        row["error"] = error
        if error:
            errors += 1
        else:
            total += Decimal(row["amount"])  # only the rows that will be paid
    with transaction.atomic():
        batch = ProxyBatch.objects.create(
            user=user, biller=biller, file_name=file_name[:200], rows=rows, error_count=errors, total=total
        )
        record_audit(actor=user, action="proxy_batch.uploaded", target=batch, rows=len(rows), errors=errors)
    return batch


def rows_to_pay(batch: ProxyBatch) -> list[dict]:
    return [row for row in batch.rows if not row.get("error")]


def refused_rows(batch: ProxyBatch) -> list[dict]:
    return [row for row in batch.rows if row.get("error")]


def checkout_lines(batch: ProxyBatch):
    """The batch's valid rows as checkout lines; the refused rows are left out, not fatal."""
    from payers.services import CheckoutLine

    valid = rows_to_pay(batch)
    if not valid:
        raise PortalError("batch_has_errors")
    accounts = CustomerAccount.objects.in_bulk([row["account_id"] for row in valid])
    biller = batch.biller
    return [
        CheckoutLine(
            biller=biller,
            account=accounts[row["account_id"]],
            amount=Decimal(row["amount"]),
            note=row["name"],
        )
        for row in valid
    ]


def summary(batch: ProxyBatch) -> str:
    """What one checkout pays (rows to pay and their total), for the page and the bank's order subject."""
    return _("%(count)s residents, ¥%(total)s") % {
        "count": len(batch.rows) - batch.error_count,
        "total": format_money(batch.total),
    }
