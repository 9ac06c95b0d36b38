"""Demo data of the open APIs: a sandbox partner and the water company's biller API access, each with a
key whose secret is fixed for the demo (derived from a fixed seed and the demo's API_CREDENTIAL_KEY),
so docs/partner-api.md and `manage.py api_sandbox` can show it. Idempotent: a re-run changes nothing."""

import datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from api import credentials
from api.models import ApiCredential, BillerApiAccess, Partner, PartnerCommission, PartnerReturnUrl
from billing.audit import record_audit
from billing.models import BillerCategory, CustomerAccount
from payers import mandates
from payers.models import Mandate

SANDBOX_PARTNER = "SANDBOX"
SANDBOX_KEY_ID = "AKSANDBOX0000000000000001"
SANDBOX_SEED = "billpay-demo-sandbox-partner-key-0001"
SANDBOX_CUSTOMER = "DEMO-CUSTOMER-0001"  # the sandbox partner's customer with an auto-pay mandate
BILLER_DEMO = "BJ-WATER"
BILLER_KEY_ID = "AKBJWATER0000000000000001"
BILLER_SEED = "billpay-demo-bj-water-biller-key-0001"


def seed(*, users, billers, branches, summary) -> None:
    admin = users["admin"]
    partner, created = Partner.objects.get_or_create(
        code=SANDBOX_PARTNER,
        defaults={
            "name": "沙箱合作方 Sandbox Partner",
            "is_sandbox": True,
            "contact_name": "开发者",
            "contact_email": "sandbox@example.com",
            "rate_limit_per_minute": 600,
        },
    )
    if created:
        partner.allowed_categories.set(BillerCategory.objects.filter(parent__isnull=True))
        PartnerCommission.objects.create(
            partner=partner,
            fixed_fee=Decimal("0.10"),
            percentage=Decimal("0.0010"),
            min_fee=Decimal("0.10"),
            max_fee=Decimal("5.00"),
            valid_from=datetime.date(2024, 1, 1),
        )
        record_audit(actor=admin, action="partner.created", target=partner, reason="demo sandbox")
    # The hosted checkout sends the sandbox partner's payers back to the portal's home page
    # (docs/partner-api.md, Hosted checkout): the signed result shows in the address bar.
    PartnerReturnUrl.objects.get_or_create(partner=partner, url=settings.SITE_URL.rstrip("/") + "/")
    ApiCredential.objects.get_or_create(
        key_id=SANDBOX_KEY_ID,
        defaults={"partner": partner, "seed": SANDBOX_SEED, "label": "sandbox", "created_by": admin},
    )
    access, _ = BillerApiAccess.objects.get_or_create(
        biller=billers[BILLER_DEMO], defaults={"webhook_seed": BILLER_SEED}
    )
    ApiCredential.objects.get_or_create(
        key_id=BILLER_KEY_ID,
        defaults={"biller_access": access, "seed": BILLER_SEED, "label": "demo", "created_by": admin},
    )
    seed_partner_mandate(partner, billers[BILLER_DEMO])


def seed_partner_mandate(partner: Partner, biller) -> None:
    """One auto-pay mandate the sandbox partner set up for its customer (docs/partner-api.md, Auto-pay): seen
    in the admin's mandates and through GET /api/v1/partner/mandates; `manage.py run_mandates --date …
    --issue-next-bills` then shows its notice and its PARTNER payment."""
    if Mandate.objects.filter(partner_code=partner.code).exists():
        return
    account = CustomerAccount.objects.filter(biller=biller).order_by("account_no").first()
    if account is None:
        return
    today = timezone.localdate()
    mandates.create_partner_mandate(
        partner_code=partner.code,
        customer_ref=SANDBOX_CUSTOMER,
        account=account,
        cap_per_bill="300.00",
        valid_from=today,
        valid_until=today + datetime.timedelta(days=365),
        notice_days=3,
    )


def sandbox_credentials() -> list[tuple[str, str, str]]:
    """(who, key id, secret) of the demo keys that exist."""
    rows = []
    from demo.card_topups import KEY_ID as GAS_CARD_KEY_ID  # the IC-card gas company's card system

    key_ids = [SANDBOX_KEY_ID, BILLER_KEY_ID, GAS_CARD_KEY_ID]
    for credential in ApiCredential.objects.filter(key_id__in=key_ids).select_related(
        "partner", "biller_access__biller"
    ):
        who = credential.partner.code if credential.partner else credential.biller_access.biller.code
        rows.append((who, credential.key_id, credentials.secret_for(credential)))
    return sorted(rows)
