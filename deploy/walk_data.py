"""The deploy walk's data and its ledger checks, run inside Django with the stack's environment file.

`seed()` is what an operator would do with `manage.py shell` on a fresh installation: an admin, the
demo region's billers and branches (through the same services `seed_demo` uses — not `seed_demo` itself,
which refuses to run with DEBUG off), one branch clerk with a TOTP authenticator of a known secret, three
water accounts with one open bill each (one per channel the walk pays through) and a partner API key
whose secret derives from this installation's own API_CREDENTIAL_KEY. Passwords are generated per walk.

`ledger_report()` reads back what the walk did, for walk.py to judge.
"""

from __future__ import annotations

import datetime
import random
import secrets
import time
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

WATER = "BJ-WATER"
# (channel the walk pays through, the open bill's amount)
BILLS = (("online", Decimal("88.40")), ("counter", Decimal("126.35")), ("partner", Decimal("57.90")))


def seed() -> dict:
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    from billing import roles
    from billing.models import Bill, CustomerAccount
    from branches.choices import BranchRole
    from branches.models import BranchStaff
    from demo import api as api_demo
    from demo import data
    from demo import seed as demo_seed

    User = get_user_model()
    summary = demo_seed.SeedSummary()
    password = secrets.token_urlsafe(18)
    totp_secret = generate_totp_secret()
    with transaction.atomic():
        admin = User.objects.create_superuser(
            "walk_admin", "walk_admin@billpay.invalid", secrets.token_urlsafe(18)
        )
        admin.groups.add(Group.objects.get(name=roles.PLATFORM_ADMIN))
        billers = demo_seed.ensure_billers(admin, summary)
        branches = demo_seed.ensure_branches(summary)
        clerk = User.objects.create_user("walk_clerk", "walk_clerk@billpay.invalid", password, is_staff=True)
        clerk.groups.add(Group.objects.get(name=roles.BRANCH_CLERK))
        BranchStaff.objects.create(user=clerk, branch=branches[data.CLERK_BRANCH], role=BranchRole.CLERK)
        TOTP.activate(clerk, totp_secret)
        # The sandbox partner of the demo, keyed from this installation's API_CREDENTIAL_KEY.
        api_demo.seed(users={"admin": admin}, billers=billers, branches=branches, summary=summary)
        water = billers[WATER]
        spec = data.BILLERS_BY_CODE[WATER]
        today = timezone.localdate()
        period = (today.replace(day=1) - datetime.timedelta(days=1)).strftime("%Y-%m")
        accounts = {}
        for index, (channel, amount) in enumerate(BILLS):
            new = spec.new_account(900_000 + index, random.Random(f"walk-{index}"), today)
            account = CustomerAccount.objects.create(
                biller=water, account_no=new.account_no, holder_name=new.holder_name, address=new.address
            )
            Bill.objects.create(
                biller=water,
                account=account,
                period=period,
                amount_due=amount,
                due_date=today + datetime.timedelta(days=20),
                description="部署演练 deploy walk",
            )
            accounts[channel] = {"account_no": account.account_no, "amount": str(amount)}
    (who, key_id, secret) = next(
        row for row in api_demo.sandbox_credentials() if row[0] == api_demo.SANDBOX_PARTNER
    )
    return {
        "biller": WATER,
        "accounts": accounts,
        "clerk": {"username": clerk.username, "password": password, "totp_secret": totp_secret},
        "partner": {"code": who, "key_id": key_id, "secret": secret},
    }


def totp_code(secret: str) -> str:
    """The authenticator app's current code, computed as allauth checks it."""
    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    return format_hotp_value(hotp_value(secret, int(time.time()) // app_settings.TOTP_PERIOD))


def ledger_report(accounts: dict) -> dict:
    """What the ledger says after the walk: unbalanced entries, and per channel its payment and bill."""
    from billing.models import Bill, JournalEntry, JournalLine, Payment
    from payers.models import SandboxBankTrade

    unbalanced = list(
        JournalLine.objects.values("entry_id")
        .annotate(total=Sum("amount"), lines=Count("id"))
        .exclude(total=0)
        .values_list("entry_id", "total")
    )
    single_line = list(
        JournalLine.objects.values("entry_id")
        .annotate(lines=Count("id"))
        .filter(lines__lt=2)
        .values_list("entry_id", flat=True)
    )
    channels = {}
    for channel, account in accounts.items():
        payments = list(Payment.objects.filter(account__account_no=account["account_no"]))
        bill = Bill.objects.get(account__account_no=account["account_no"])
        channels[channel] = {
            "payments": [
                {
                    "receipt_no": p.receipt_no,
                    "channel": p.channel,
                    "status": p.status,
                    "amount": str(p.amount),
                    "entries": JournalEntry.objects.filter(payment=p).count(),
                    "allocated": str(p.allocations.aggregate(total=Sum("amount"))["total"]),
                }
                for p in payments
            ],
            "bill": {
                "amount_paid": str(bill.amount_paid),
                "total_due": str(bill.total_due),
                "status": bill.status,
            },
        }
    trades = list(SandboxBankTrade.objects.values("trade_no", "status", "notified", "notify_attempts"))
    return {
        "entries": JournalEntry.objects.count(),
        "unbalanced": [(entry, str(total)) for entry, total in unbalanced],
        "single_line": single_line,
        "channels": channels,
        "sandbox_trades": trades,
    }
