"""The demo of top-ups written to an IC card (issue 17, item 8): BJ-GAS-CARD, a gas company whose payers
top their meter cards up with an amount of their choice. Each top-up is held until the card is written
(billing/topups.py): online and by partners the company's card system confirms it — the sandbox card
system (api/sandbox_card_system) at /sandbox-card-system/BJ-GAS-CARD/webhook, which gets the signed
webhook and answers through the biller API with the key seeded here; at the counter the clerk's card
writer does (the receipt's "Card written" / "Write failed"). Cards ending in 9 fail to write, cards
ending in 8 are never confirmed: both are refunded. Idempotent."""

from django.conf import settings

from api.models import ApiCredential, BillerApiAccess
from billing.models import CustomerAccount
from billing.topup_models import CardWriteRule

GAS_CARD = "BJ-GAS-CARD"
KEY_ID = "AKBJGASCARD00000000000001"
KEY_SEED = "billpay-demo-bj-gas-card-biller-key-0001"
WEBHOOK_SEED = "billpay-demo-bj-gas-card-webhook-0001"
TIMEOUT_MINUTES = 5
# (card number, holder, address)
CARDS = (
    ("62000001", "张伟", "滨江市江南区滨江花园3幢1单元502"),
    ("62000002", "李娜", "滨江市江北区人民路56号4-301"),
    ("62000018", "王强", "滨江市江南区江南大道88号"),
    ("62000019", "赵敏", "滨江市江北区北山路12号"),
)


def seed(*, users, billers, branches, summary) -> None:
    gas = billers[GAS_CARD]
    CardWriteRule.objects.get_or_create(biller=gas, defaults={"timeout_minutes": TIMEOUT_MINUTES})
    for account_no, holder, address in CARDS:
        CustomerAccount.objects.get_or_create(
            biller=gas, account_no=account_no, defaults={"holder_name": holder, "address": address}
        )
    access, _created = BillerApiAccess.objects.get_or_create(
        biller=gas,
        defaults={
            "webhook_seed": WEBHOOK_SEED,
            "webhook_url": f"{settings.SITE_URL.rstrip('/')}/sandbox-card-system/{GAS_CARD}/webhook",
        },
    )
    ApiCredential.objects.get_or_create(
        key_id=KEY_ID,
        defaults={
            "biller_access": access,
            "seed": KEY_SEED,
            "label": "demo card system",
            "created_by": users["admin"],
        },
    )
