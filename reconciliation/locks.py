"""Row locks of reconciliation. A run is locked before what its matching writes; a discrepancy before
the complaints about it (resolving one closes them); billers while their settlement batches are built
(lock_billers_for_settlement); a settlement batch, or a co-beneficiary's credit of one, while its bank
confirmation is applied."""

from billing.models import Biller
from reconciliation.models import Complaint, Discrepancy, ReconciliationRun, SettlementBatch, SettlementShare


def lock_run(run_id: int) -> ReconciliationRun:
    return ReconciliationRun.objects.select_for_update().get(pk=run_id)


def lock_run_with_statement(run_id: int) -> ReconciliationRun:
    runs = ReconciliationRun.objects.select_for_update(of=("self",)).select_related("statement")
    return runs.get(pk=run_id)


def lock_discrepancy(discrepancy_id: int) -> Discrepancy:
    discrepancies = Discrepancy.objects.select_for_update(of=("self",)).select_related(
        "line", "payment", "run"
    )
    return discrepancies.get(pk=discrepancy_id)


def lock_open_complaints_of(discrepancy: Discrepancy, *, resolved: str):
    """The complaints about a (locked) discrepancy that are not resolved yet."""
    return discrepancy.complaints.select_for_update().exclude(status=resolved)


def lock_complaint(complaint_id: int) -> Complaint:
    return Complaint.objects.select_for_update().get(pk=complaint_id)


def lock_settlement_batch_by_reference(reference: str) -> SettlementBatch | None:
    return SettlementBatch.objects.select_for_update().filter(reference=reference).first()


def lock_settlement_share_by_reference(reference: str) -> SettlementShare | None:
    """A co-beneficiary's credit of a batch (issue 17, item 4) while its bank confirmation is applied."""
    return SettlementShare.objects.select_for_update(of=("self",)).filter(reference=reference).first()


def lock_billers_for_settlement(biller_ids: list[int]) -> list[Biller]:
    """The biller rows while their settlement batches are built, in id order (two runs locking
    overlapping chunks cannot deadlock): two settle runs at once (the nightly task and the admin's action,
    or two days) take turns, and the second sees what the first took."""
    return list(Biller.objects.select_for_update().filter(pk__in=biller_ids).order_by("pk"))
