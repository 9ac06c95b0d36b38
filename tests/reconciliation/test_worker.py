"""A real Celery worker, consuming from Redis, reconciles an imported statement and settles the day."""

import pytest
from celery.contrib.testing.worker import start_worker

from config.celery import app as celery_app
from reconciliation import services, tasks
from reconciliation.choices import RunStatus
from reconciliation.models import ReconciliationRun, SettlementBatch
from tests.reconciliation.conftest import CHANNEL, Shop, billpay_csv


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
def test_a_worker_reconciles_and_settles_through_redis(real_worker):
    from django.utils import timezone

    shop = Shop()
    payment = shop.pay("64.00")
    today = timezone.localdate()
    data = billpay_csv(today, [("PAYMENT", payment.channel_ref, "64.00", "", None)])
    imported = services.import_statement(
        channel_code=CHANNEL, business_date=today, data=data, file_name="s.csv"
    )
    result = tasks.run_reconciliation.delay(imported.run.pk).get(timeout=60)
    assert result["status"] == RunStatus.DONE and result["counts"]["matched"]["count"] == 1
    assert ReconciliationRun.objects.get().percent == 100
    assert tasks.settle_day.delay(today.isoformat()).get(timeout=60)["batches"] == 1
    assert SettlementBatch.objects.get().net == payment.amount
