"""The demo of fiscal e-receipts (issue 17, item 5): BJ-NONTAX, a non-tax office, has its payments issued
official e-receipts by the sandbox fiscal issuer the demo serves itself (/sandbox-fiscal/<unit code>/,
billing/sandbox_fiscal), signed with a demo secret. Its payers' bills are payment notices (缴款书) with their
notice numbers; pay one on the portal or at the counter and its receipt shows the e-receipt's code, number
and verification code, with its file. Idempotent."""

import datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from billing.fiscal_models import FiscalIssuerKind, FiscalSetup
from billing.models import Bill, CustomerAccount

OFFICE = "BJ-NONTAX"
AGENCY_CODE = "330100NT0001"
DEMO_SECRET = "sandbox-fiscal-demo-secret-change-me"
# (payer number, payer, notice number, what the notice is for, amount)
NOTICES = (
    ("80000001", "滨江建工集团有限公司", "3301002026000101", "土地出让金（首期）", Decimal("12800.00")),
    ("80000002", "钱塘置业有限公司", "3301002026000102", "不动产登记费", Decimal("550.00")),
    ("80000003", "孙丽", "3301002026000103", "不动产登记费", Decimal("80.00")),
    ("80000004", "赵伟", "3301002026000104", "测绘成果使用费", Decimal("320.00")),
)


def seed(*, users, billers, branches, summary) -> None:
    office = billers[OFFICE]
    FiscalSetup.objects.get_or_create(
        biller=office,
        defaults={
            "issuer": FiscalIssuerKind.SANDBOX,
            "agency_code": AGENCY_CODE,
            "endpoint_url": f"{settings.SITE_URL.rstrip('/')}/sandbox-fiscal/{AGENCY_CODE}",
            "key_id": f"BILLPAY-{OFFICE}",
            "secret": DEMO_SECRET,
            "timeout_seconds": Decimal("10.0"),
        },
    )
    today = timezone.localdate()
    for account_no, payer, notice_no, what, amount in NOTICES:
        account, _created = CustomerAccount.objects.get_or_create(
            biller=office, account_no=account_no, defaults={"holder_name": payer, "address": "非税缴款"}
        )
        Bill.objects.get_or_create(
            account=account,
            period=f"{today:%Y-%m}",
            defaults={
                "biller": office,
                "amount_due": amount,
                "due_date": today + datetime.timedelta(days=30),
                "description": what,
                "notice_no": notice_no,
            },
        )
