"""The demo of live presentment (issue 17): BJ-GRID-LIVE's bills are fetched from its own system when an
account is looked up, BJ-HOSPITAL-LIVE accepts each payment before it is posted. Both systems are the
sandbox biller served by the demo itself (/sandbox-biller/<code>/, billing/sandbox_biller), signed with a
demo secret. The hospital's patients and their bills are seeded here (its bills are pushed); the grid's
accounts come from its system, any 8 digits. Account numbers ending in 9001…9006 play the bad answers
(billing/sandbox_biller/store.py). Idempotent."""

import datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from billing.models import Bill, CustomerAccount
from billing.presentment_models import BillerLink, PresentmentMode, StandIn

GRID, HOSPITAL = "BJ-GRID-LIVE", "BJ-HOSPITAL-LIVE"
DEMO_SECRET = "sandbox-biller-demo-secret-change-me"
# (account number, holder, amount): 70000001 pays; 70009005 is declined; 70009006's amount changes.
PATIENTS = (
    ("70000001", "陈建国", Decimal("268.00")),
    ("70000002", "刘芳", Decimal("1520.50")),
    ("70009005", "周敏", Decimal("88.00")),
    ("70009006", "吴磊", Decimal("430.00")),
)


def seed(*, users, billers, branches, summary) -> None:
    base = settings.SITE_URL.rstrip("/")
    links = (
        (GRID, PresentmentMode.FETCH, StandIn.REFUSE),
        (HOSPITAL, PresentmentMode.VALIDATE, StandIn.ACCEPT),
    )
    for code, mode, stand_in in links:
        BillerLink.objects.get_or_create(
            biller=billers[code],
            defaults={
                "mode": mode,
                "endpoint_url": f"{base}/sandbox-biller/{code}",
                "key_id": f"BILLPAY-{code}",
                "secret": DEMO_SECRET,
                "timeout_seconds": Decimal("3.0"),
                "stand_in": stand_in,
            },
        )
    hospital = billers[HOSPITAL]
    today = timezone.localdate()
    for account_no, holder, amount in PATIENTS:
        account, _created = CustomerAccount.objects.get_or_create(
            biller=hospital, account_no=account_no, defaults={"holder_name": holder, "address": "门诊缴费"}
        )
        Bill.objects.get_or_create(
            account=account,
            period=f"{today:%Y-%m}",
            defaults={
                "biller": hospital,
                "amount_due": amount,
                "due_date": today + datetime.timedelta(days=15),
                "description": "门诊费用 / Outpatient charges",
            },
        )
