"""Who may see and change the core's models in the back-office (the mechanism is `billing.access`).
Platform admins may do everything and auditors see everything; the rest is declared here."""

from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from billing import access, roles
from billing.access import BILLER_SCOPE, BRANCH_SCOPE, EDIT, VIEW
from billing.models import (
    AuditEvent,
    Bill,
    Biller,
    BillerCategory,
    BillerCheck,
    BillerLink,
    BillerStaff,
    BillImportJob,
    CustomerAccount,
    FailedTask,
    FeeSchedule,
    FiscalReceipt,
    FiscalSetup,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    OutboxEvent,
    Payment,
)


def linked_billers(user):
    """The ids of the billers the user is staff of: the rows a scoped role may see hang off these."""
    return BillerStaff.objects.filter(user=user).values_list("biller_id", flat=True)


def declare_access() -> None:
    access.register_scope(BILLER_SCOPE, linked_billers)
    # Staff accounts and role groups: managed by platform admins, seen by auditors.
    access.register(get_user_model())
    access.register(Group)
    # Failed-login records (django-axes): platform admins unlock them (billing/admin_logins.py), auditors see.
    access.register(AccessAttempt)
    access.register(BillerCategory)
    access.register(BillerStaff)
    access.register(Biller, {roles.BILLER_OPERATOR: VIEW}, scope={BILLER_SCOPE: "pk"})
    access.register(CustomerAccount, {roles.BILLER_OPERATOR: EDIT}, scope={BILLER_SCOPE: "biller"})
    access.register(Bill, {roles.BILLER_OPERATOR: EDIT}, scope={BILLER_SCOPE: "biller"})
    access.register(BillImportJob, {roles.BILLER_OPERATOR: VIEW}, scope={BILLER_SCOPE: "biller"})
    access.register(FeeSchedule, {roles.BILLER_OPERATOR: VIEW}, scope={BILLER_SCOPE: "biller"})
    access.register(
        Payment,
        {
            roles.BILLER_OPERATOR: VIEW,
            roles.BRANCH_SUPERVISOR: VIEW,
            roles.BRANCH_CLERK: VIEW,
            roles.RECONCILIATION_OFFICER: VIEW,
        },
        scope={BILLER_SCOPE: "biller", BRANCH_SCOPE: "branch"},
    )
    # The ledger and the audit trail: read by reconciliation officers (and auditors).
    access.register(LedgerAccount, {roles.RECONCILIATION_OFFICER: VIEW})
    access.register(JournalEntry, {roles.RECONCILIATION_OFFICER: VIEW})
    # Lines one by one (issue 16): a biller's operator sees those on its own payable account.
    access.register(
        JournalLine,
        {roles.RECONCILIATION_OFFICER: VIEW, roles.BILLER_OPERATOR: VIEW},
        scope={BILLER_SCOPE: "account__biller"},
    )
    access.register(AuditEvent, {roles.RECONCILIATION_OFFICER: VIEW})
    # Operations: money events of the outbox, tasks that exhausted their retries (platform admins).
    access.register(OutboxEvent)
    access.register(FailedTask)
    # Live presentment (billing.presentment): links to billers' systems hold secrets, so platform admins
    # only; what the systems said about payments is read by the biller's operators and reconciliation.
    access.register(BillerLink)
    access.register(
        BillerCheck,
        {roles.BILLER_OPERATOR: VIEW, roles.RECONCILIATION_OFFICER: VIEW},
        scope={BILLER_SCOPE: "payment__biller"},
    )
    # Card top-ups (billing.topups): the rule is the platform admins'; the holds are read like checks.
    from billing.topup_models import CardWriteRule, TopUpHold

    access.register(CardWriteRule)
    access.register(
        TopUpHold,
        {roles.BILLER_OPERATOR: VIEW, roles.RECONCILIATION_OFFICER: VIEW},
        scope={BILLER_SCOPE: "payment__biller"},
    )

    # Fiscal e-receipts (billing.fiscal): the issuer setting holds a secret (platform admins only); the
    # receipts are read by the biller's operators and reconciliation.
    access.register(FiscalSetup)
    access.register(
        FiscalReceipt,
        {roles.BILLER_OPERATOR: VIEW, roles.RECONCILIATION_OFFICER: VIEW},
        scope={BILLER_SCOPE: "biller"},
    )
