"""A real Celery worker, consuming from Redis, runs a task against the database."""

from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker

from billing.choices import Channel
from billing.services import post_payment
from billing.tasks import check_ledger_integrity
from config.celery import app as celery_app
from tests.factories import BillFactory


@pytest.fixture
def real_worker():
    import celery.contrib.testing.tasks  # noqa: F401 - registers the ping task start_worker checks

    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=True, shutdown_timeout=10) as worker:
            yield worker
    finally:
        celery_app.conf.task_always_eager = eager


@pytest.mark.django_db(transaction=True)
def test_a_worker_checks_the_ledger_through_redis(real_worker):
    assert celery_app.conf.broker_url.startswith("redis://")
    bill = BillFactory(amount_due=Decimal("64.00"))
    post_payment(
        channel=Channel.ONLINE,
        idempotency_key="celery-1",
        biller_code=bill.biller.code,
        account_no=bill.account.account_no,
        amount="64.00",
    )
    result = check_ledger_integrity.delay().get(timeout=30)
    assert result == {
        "balanced": True,
        "accounts": 2,
        "trial_balance_total": "0.00",
        "unbalanced_entry_ids": [],
    }
