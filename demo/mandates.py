"""Auto-pay (代扣) in the demo: beat's hourly run of the mandates on a simulated date, so a mandate can be
seen paying next month's bill without waiting a month (`manage.py run_mandates --date … --issue-next-bills`).
Only the demo, which runs with DEBUG on, turns the clock; the debits go through the same services as
beat's (payers.mandates), against the sandbox bank."""

import datetime

from django.db.models import Max
from django.utils import timezone

from billing.choices import BillStatus
from billing.models import Bill
from demo import clock
from payers import mandates
from payers.choices import MandateStatus
from payers.models import Mandate


def _next_period(period: str) -> str:
    year, month = (int(part) for part in period.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}"


def issue_next_bills(day: datetime.date) -> list[Bill]:
    """Next month's bill for each account with an active mandate: as its biller's import would make it."""
    made = []
    accounts = {mandate.account for mandate in Mandate.objects.filter(status=MandateStatus.ACTIVE)}
    for account in accounts:
        last = account.bills.order_by("-period").first()
        if last is None:
            continue
        period = _next_period(account.bills.aggregate(latest=Max("period"))["latest"])
        bill, created = Bill.objects.get_or_create(
            account=account,
            period=period,
            defaults={
                "biller": account.biller,
                "amount_due": last.amount_due,
                "due_date": day + datetime.timedelta(days=20),
                "status": BillStatus.OPEN,
                "description": last.description,
            },
        )
        if created:
            made.append(bill)
    return made


def run_on(day: datetime.date, *, issue_bills: bool = False) -> dict:
    """Beat's run of the mandates as if it were 10:00 on `day`, with the due debits run at once."""
    moment = timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))
    with clock.at(moment):
        issued = issue_next_bills(day) if issue_bills else []
        counts = {"issued": len(issued), "expired": mandates.expire_mandates(), **mandates.schedule_debits()}
        results = [mandates.run_debit(debit_id=pk) for pk in mandates.due_debit_ids()]
    counts["debits"] = {status: results.count(status) for status in set(results)}
    return counts
