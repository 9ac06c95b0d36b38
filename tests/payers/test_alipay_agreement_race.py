"""Alipay's sign notification and the citizen's signed return of one agreement at the same moment: the
mandate's row lock activates it once, with one audit event, whichever comes first."""

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from billing.models import AuditEvent
from payers import mandates
from payers.choices import MandateStatus
from payers.models import BoundAccount
from tests.payers.test_alipay_agreement import sign_return

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_the_notification_and_the_return_at_once_activate_the_mandate_once(
    water, alipay, alipay_signed, django_user_model
):
    citizen = django_user_model.objects.create_user("xm", "xm@example.com", "pw-xm-12345")
    bound = BoundAccount.objects.create(user=citizen, account=water["account"], label="家里水费")
    mandate = mandates.create_mandate(
        user=citizen,
        bound=bound,
        cap_per_bill="200",
        valid_from=timezone.localdate(),
        valid_until=timezone.localdate() + datetime.timedelta(days=365),
        notice_days=2,
        gateway_code="ALIPAY",
    )
    params = sign_return(mandate, alipay_signed)
    barrier = threading.Barrier(2)
    outcomes = []

    def deliver(confirm):
        try:
            barrier.wait(timeout=10)
            outcomes.append(confirm())
        finally:
            connection.close()

    threads = [
        threading.Thread(
            target=deliver,
            args=(lambda: mandates.confirm_agreement(user=citizen, gateway_code="ALIPAY", params=params),),
        ),
        threading.Thread(
            target=deliver,
            args=(lambda: mandates.confirm_agreement_notice(gateway_code="ALIPAY", params=params),),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(outcomes) == 2
    mandate.refresh_from_db()
    assert mandate.status == MandateStatus.ACTIVE and mandate.agreement_no == "20265902000000000001"
    assert AuditEvent.objects.filter(action="mandate.active", target_id=str(mandate.pk)).count() == 1
