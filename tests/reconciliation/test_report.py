import pytest
from django.urls import reverse

from reconciliation import services
from tests.reconciliation.conftest import CHANNEL, billpay_csv
from tests.support import log_in

pytestmark = pytest.mark.django_db


def test_the_daily_report_counts_each_class_with_a_chart(shop, today, officer, client):
    payment = shop.pay("100.00")
    shop.pay("70.00")
    lines = [("PAYMENT", payment.channel_ref, "100.00", "", None)]
    services.reconcile_file(
        channel_code=CHANNEL, business_date=today, data=billpay_csv(today, lines), file_name="s"
    )
    log_in(client, officer)
    response = client.get(reverse("admin:reconciliation_report"), {"day": today.isoformat()})
    assert response.status_code == 200
    report = response.context["report"]
    assert report["totals"][0] == {"count": 1, "amount": 100}
    assert report["table"][0]["channel"] == CHANNEL
    assert "<svg" in response.text and 'class="bar-missing_channel"' in response.text


def test_a_biller_operator_cannot_open_the_report(operator, client, db):
    log_in(client, operator)
    assert client.get(reverse("admin:reconciliation_report")).status_code == 403
