"""A real Celery worker, consuming from Redis, reconciles an imported statement and settles the day."""

import pytest

from reconciliation import services, tasks, working_days
from reconciliation.choices import RunStatus
from reconciliation.models import ReconciliationRun, SettlementBatch
from tests.reconciliation.conftest import CHANNEL, Shop, billpay_csv


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
    settle_on = working_days.next_working_day(today).isoformat()
    assert tasks.settle_day.delay(today.isoformat(), as_of=settle_on).get(timeout=60)["batches"] == 1
    assert SettlementBatch.objects.get().net == payment.amount
