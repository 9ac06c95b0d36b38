"""Who may see and change the portal's models in the back-office (the mechanism is `billing.access`).
Platform admins may do everything and auditors see everything; the rest is declared here."""

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator

from billing import access, roles
from billing.access import BILLER_SCOPE, VIEW
from payers.models import FamilyLink, GatewayOrder, Mandate, OrderLine, Payer


def declare_access() -> None:
    access.register(Payer)
    # Citizens' auto-pay mandates and their debits (inline): personal data, seen as payers are.
    access.register(Mandate)
    # Family payments (亲情付): who may pay whose bills; personal data, seen as payers are.
    access.register(FamilyLink)
    # Citizens' sign-in addresses and second factors (allauth's models, administered by this app).
    access.register(EmailAddress)
    access.register(Authenticator)
    access.register(GatewayOrder, {roles.RECONCILIATION_OFFICER: VIEW})
    # Online payments to the biller's accounts, including late ones kept as credit or refunded.
    access.register(
        OrderLine,
        {roles.BILLER_OPERATOR: VIEW, roles.RECONCILIATION_OFFICER: VIEW},
        scope={BILLER_SCOPE: "biller"},
    )
