"""Row locks of disputes. A dispute is an owner of a lifecycle (billing/locks.py, step 1): it is locked
before the discrepancy reconciliation resolves it with and before any payment or account."""

from disputes.models import Dispute


def lock_dispute(dispute_id: int) -> Dispute:
    return (
        Dispute.objects.select_for_update(of=("self",)).select_related("biller", "payment").get(pk=dispute_id)
    )
