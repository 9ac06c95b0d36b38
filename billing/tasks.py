"""Celery tasks of the billing app: thin wrappers that call selectors and services by id."""

from celery import shared_task

from billing import ledger_alerts


@shared_task
def check_ledger_integrity() -> dict:
    """Nightly proof that the books balance; unbalanced raises an alert (billing/ledger_alerts.py)."""
    return ledger_alerts.check_ledger()


@shared_task(acks_late=True)
def run_bill_import(job_id: int) -> dict:
    """Import a bill file uploaded in the admin, reporting progress on the job row. Safe to run twice: a
    job that is no longer queued is left alone."""
    from billing.bill_import_jobs import run_import_job

    return run_import_job(job_id)


@shared_task(ignore_result=True)
def relay_outbox() -> int:
    """Publish the outbox's unpublished events (queued after each commit that wrote one, and by beat every
    30 s as a backstop). Safe to run twice, and side by side: rows are claimed with SKIP LOCKED."""
    from billing import outbox

    return outbox.relay()


@shared_task(ignore_result=True)
def purge_outbox() -> int:
    """Delete the events published longer ago than OUTBOX_RETENTION_DAYS (beat, hourly). Safe to run twice
    and beside the relay: it deletes only published events, the relay claims only unpublished ones."""
    from billing import outbox

    return outbox.purge_published()


@shared_task(acks_late=True, ignore_result=True)
def confirm_with_biller(check_id: int, attempt: int = 1) -> str:
    """Confirm with a live biller a payment posted while its system was down (billing.presentment). Safe to
    run twice: a check no longer pending is left alone, and the biller answers once per payment key."""
    from billing import presentment

    return presentment.confirm(check_id=check_id, attempt=attempt)


@shared_task(acks_late=True, ignore_result=True)
def void_expired_topups() -> int:
    """Void and refund the card top-ups nobody confirmed in time (billing/topups.py), run by beat. Safe to
    run twice, and side by side: each hold is decided once under its payment's lock."""
    from billing import topups

    return topups.void_expired_topups()


@shared_task(acks_late=True, ignore_result=True)
def work_fiscal_receipt(receipt_id: int, attempt: int = 1) -> str:
    """Issue a payment's fiscal e-receipt, or request its red-letter reversal (billing.fiscal). Safe to run
    twice: the receipt is claimed with a lease before its issuer is called, and the issuer issues once per
    payment."""
    from billing import fiscal

    return fiscal.work(receipt_id=receipt_id, attempt=attempt)


@shared_task(ignore_result=True)
def resume_fiscal_receipts() -> int:
    """Beat, every 15 minutes: fiscal e-receipts whose work stopped (a dead worker, a lost retry) are sent
    again; they ask the issuer first whether it issued already."""
    from billing import fiscal

    stalled = fiscal.stalled_receipt_ids()
    for receipt_id in stalled:
        work_fiscal_receipt.delay(receipt_id, attempt=2)
    return len(stalled)
