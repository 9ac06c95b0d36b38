"""The cash counter shows a bill that a citizen's auto-pay mandate will pay, with the day, so the clerk
can say so before taking cash for it (taking it is still allowed: the debit then finds the bill paid)."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from payers.choices import DebitStatus, MandateStatus
from payers.models import Mandate, MandateDebit
from tests.support import log_in

pytestmark = pytest.mark.django_db


def debit_for(bill, django_user_model, *, on: datetime.date, status: str) -> MandateDebit:
    """A citizen's active mandate on the bill's account, with the bill's debit in the given status."""
    citizen = django_user_model.objects.create_user("xm", "xm@example.com", "pw-xm-12345")
    today = timezone.localdate()
    mandate = Mandate.objects.create(
        user=citizen,
        account=bill.account,
        cap_per_bill="200.00",
        valid_from=today,
        valid_until=today + datetime.timedelta(days=365),
        gateway="SANDBOX",
        agreement_no="SBA-1",
        status=MandateStatus.ACTIVE,
    )
    return MandateDebit.objects.create(
        mandate=mandate, bill=bill, amount=bill.outstanding, debit_on=on, status=status
    )


def test_the_counter_lookup_shows_when_auto_pay_will_pay_a_bill(client, dave, till, bill, django_user_model):
    day = timezone.localdate() + datetime.timedelta(days=3)
    debit_for(bill, django_user_model, on=day, status=DebitStatus.SCHEDULED)
    log_in(client, dave)
    page = client.get(reverse("counter:lookup"), {"biller": "WATER", "q": "12345678"})
    assert f"将于 {day:%Y-%m-%d} 自动扣款" in page.content.decode()


def test_a_skipped_debit_is_not_shown_at_the_counter(client, dave, till, bill, django_user_model):
    debit_for(bill, django_user_model, on=timezone.localdate(), status=DebitStatus.SKIPPED)
    log_in(client, dave)
    page = client.get(reverse("counter:lookup"), {"biller": "WATER", "q": "12345678"})
    assert page.status_code == 200 and "自动扣款" not in page.content.decode()
