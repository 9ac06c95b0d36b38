"""The portal's part of the demo (`make run` → seed_demo): the citizen can sign in with e-mail or mobile
number, and finds their household's accounts already bound in "My accounts". Idempotent."""

from allauth.account.models import EmailAddress

from billing.models import CustomerAccount
from payers.accounts import normalize_mobile
from payers.models import BoundAccount, Payer

CITIZEN_USERNAME = "citizen"
LABELS = {
    "BJ-WATER": "家里水费",
    "BJ-POWER": "家里电费",
    "BJ-GAS": "家里燃气",
    "BJ-PROPERTY": "物业费",
    "BJ-TELECOM": "我的手机",
}


def seed(*, users, billers, branches, summary) -> None:
    citizen = users.get(CITIZEN_USERNAME)
    if citizen is None:
        return
    if citizen.email:
        EmailAddress.objects.update_or_create(
            user=citizen, email=citizen.email, defaults={"verified": True, "primary": True}
        )
    payer = Payer.objects.filter(user=citizen).first()
    if payer is not None and payer.mobile:
        payer.mobile = normalize_mobile(payer.mobile)
        payer.mobile_verified = True
        payer.save(update_fields=["mobile", "mobile_verified"])
    household = CustomerAccount.objects.filter(
        biller__code__in=list(LABELS), holder_name=f"{citizen.last_name}{citizen.first_name}"
    ).select_related("biller")
    # Nothing goes into `summary`: its "created now" line is the seed command's own report.
    for account in household.order_by("biller__code", "account_no"):
        BoundAccount.objects.get_or_create(
            user=citizen, account=account, defaults={"label": LABELS[account.biller.code]}
        )
