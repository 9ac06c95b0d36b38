"""A real Celery worker, consuming from Redis, runs a task against the database."""

from decimal import Decimal

import pytest

from billing.tasks import check_ledger_integrity
from config.celery import app as celery_app
from tests.factories import BillFactory
from tests.support import pay


@pytest.mark.django_db(transaction=True)
def test_a_worker_checks_the_ledger_through_redis(real_worker):
    assert celery_app.conf.broker_url.startswith("redis://")
    bill = BillFactory(amount_due=Decimal("64.00"))
    pay(bill.account, "64.00", key="celery-1")
    result = check_ledger_integrity.delay().get(timeout=30)
    assert result == {
        "balanced": True,
        "accounts": 2,
        "trial_balance_total": "0.00",
        "unbalanced_entry_ids": [],
    }
