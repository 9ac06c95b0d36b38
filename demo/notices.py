"""The demo of notices that reach people: the convenience store by the citizens' homes (LINLI-001) took
cash for three water bills this morning and is then suspended. Told of it, each once and in their own
language: 赵丽 (a portal user in Chinese) and Emily Chen (a portal user in English), who keep the accounts
paid there in "My accounts", by e-mail; and the payer who left a mobile number at the counter with consent,
by text message. The mails and messages go to the demo's console; the notices are in the admin (outlet
notices). Idempotent: an outlet already suspended is left as it is."""

from decimal import Decimal

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group

from billing import roles
from billing.choices import PAYABLE_BILL_STATUSES
from billing.models import Bill
from branches import services as counter
from branches.choices import DENOMINATIONS_FEN, BranchRole, BranchStatus
from branches.models import BranchStaff
from demo.data import DEMO_PASSWORD
from payers.models import BoundAccount
from payers.services import payer_for, remember_portal_language

OUTLET = "LINLI-001"
BILLER = "BJ-WATER"
CLERK = ("linli_clerk", "周", "晓燕")
# (username, last name, first name, language, label of the account they keep), or None: paid by someone
# without a portal account, who left a phone number at the counter.
RECIPIENTS = (
    ("zhao_li", "赵", "丽", "zh-hans", "家里水费"),
    ("emily", "Chen", "Emily", "en", "Home water"),
    None,
)
COUNTER_PHONE = "13957101888"
FLOAT = Decimal("200.00")


def seed(*, users, billers, branches, summary) -> None:
    outlet = branches.get(OUTLET)
    if outlet is None or outlet.status != BranchStatus.OPEN or BILLER not in billers:
        return
    bills = bills_to_pay(billers[BILLER], len(RECIPIENTS))
    if len(bills) < len(RECIPIENTS):
        return
    clerk = outlet_clerk(outlet)
    till = counter.open_till(clerk=clerk, branch=outlet, opening_float=FLOAT)
    for number, (who, bill) in enumerate(zip(RECIPIENTS, bills, strict=True), start=1):
        if who is not None:
            portal_citizen(*who, account=bill.account)
        counter.take_cash(
            clerk=clerk,
            till_id=till.pk,
            biller_code=bill.biller.code,
            account_no=bill.account.account_no,
            periods=[bill.period],
            amount=bill.outstanding,
            tendered=bill.outstanding,
            form_key=f"demo-notice-{number}",
            notice_phone=COUNTER_PHONE if who is None else "",
            notice_consent=who is None,
        )
    till.refresh_from_db()
    counter.close_till(
        till_id=till.pk, clerk=clerk, counts=count_of(FLOAT + sum(b.outstanding for b in bills))
    )
    counter.change_branch_status(
        branch=outlet,
        to_status=BranchStatus.SUSPENDED,
        actor=users.get("admin"),
        reason="冷柜更换，暂停现金收款",
    )


def bills_to_pay(biller, count: int) -> list[Bill]:
    """The oldest open bill of the first accounts that have one, each countable in the till's coins."""
    found, accounts = [], set()
    open_bills = Bill.objects.filter(biller=biller, status__in=PAYABLE_BILL_STATUSES).select_related(
        "account", "biller"
    )
    for bill in open_bills.order_by("account__account_no", "period"):
        if bill.account_id in accounts or (bill.outstanding * 10) % 1:
            continue
        if BoundAccount.objects.filter(account=bill.account).exists():
            continue  # someone's household already: the demo citizen's own walk keeps its bills
        accounts.add(bill.account_id)
        found.append(bill)
        if len(found) == count:
            break
    return found


def outlet_clerk(outlet):
    username, last_name, first_name = CLERK
    clerk, created = get_user_model().objects.get_or_create(
        username=username,
        defaults={"last_name": last_name, "first_name": first_name, "is_staff": True},
    )
    if created:
        clerk.password = make_password(DEMO_PASSWORD)
        clerk.save(update_fields=["password"])
    clerk.groups.add(Group.objects.get(name=roles.BRANCH_CLERK))
    BranchStaff.objects.get_or_create(user=clerk, branch=outlet, defaults={"role": BranchRole.CLERK})
    return clerk


def portal_citizen(username, last_name, first_name, language, label, *, account):
    """A citizen who signs in to the portal in `language` and keeps `account` in "My accounts"."""
    email = f"{username}@example.com"
    user, created = get_user_model().objects.get_or_create(
        username=username, defaults={"last_name": last_name, "first_name": first_name, "email": email}
    )
    if created:
        user.password = make_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    EmailAddress.objects.get_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    payer_for(user)
    remember_portal_language(user=user, language=language)
    BoundAccount.objects.get_or_create(user=user, account=account, defaults={"label": label})
    return user


def count_of(amount: Decimal) -> dict[int, int]:
    """The till's cash by denomination, largest first."""
    left = int(amount * 100)
    counts = {}
    for fen in DENOMINATIONS_FEN:
        counts[fen], left = divmod(left, fen)
    return counts
