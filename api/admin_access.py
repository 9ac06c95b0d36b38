"""Who may see and change the open APIs' models in the back-office (the mechanism is `billing.access`):
platform admins onboard partners and keys; auditors see them; no other role."""

from api.models import (
    ApiCredential,
    BillerApiAccess,
    HostedCheckout,
    Partner,
    PartnerReturnUrl,
    WebhookDelivery,
)
from billing import access


def declare_access() -> None:
    for model in (ApiCredential, BillerApiAccess, HostedCheckout, Partner, PartnerReturnUrl, WebhookDelivery):
        access.register(model)
