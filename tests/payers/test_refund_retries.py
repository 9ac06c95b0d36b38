"""A portal payment the bills can no longer take is refunded through its gateway, and a refund the bank does
not confirm is tried again with backoff until it succeeds or the policy's last attempt; then it is
recorded for staff (FailedTask), who send it again from the admin."""

import time

import pytest

from billing.models import AuditEvent, FailedTask, OutboxEvent
from config import retries
from payers import services, tasks
from payers.choices import LineOutcome
from payers.gateways.base import RefundResult
from payers.gateways.sandbox import SandboxGateway
from payers.models import OrderLine
from tests.payers.test_gateway_flow import paid_online_while_the_counter_takes_it

pytestmark = pytest.mark.usefixtures("sandbox_bank")


class FlakyBank:
    """The sandbox bank's refund, refused `failures` times first (as during the 30-bill race)."""

    def __init__(self, failures: int):
        self.failures = failures
        self.calls = 0
        self.real = SandboxGateway.refund

    def __call__(self, gateway, **kwargs):
        self.calls += 1
        if self.calls <= self.failures:
            return RefundResult(ok=False, refund_no=kwargs["refund_no"], message="system busy")
        return self.real(gateway, **kwargs)

    def method(self):
        return lambda gateway, **kwargs: self(gateway, **kwargs)


def paid_twice(bank, water) -> OrderLine:
    """A bill paid at the counter while its payer paid it online: the online line must be refunded."""
    bank.notify(paid_online_while_the_counter_takes_it(bank, water))
    return OrderLine.objects.get()


@pytest.mark.django_db
def test_a_refused_refund_stays_pending_until_the_last_attempt_then_staff_retry_it(
    bank, water, monkeypatch, client, admin_user, django_capture_on_commit_callbacks
):
    flaky = FlakyBank(failures=retries.REFUND.max_attempts)
    monkeypatch.setattr(SandboxGateway, "refund", flaky.method())
    with django_capture_on_commit_callbacks(execute=False):  # the refund task is not run here
        line = paid_twice(bank, water)
    assert line.outcome == LineOutcome.REFUND_PENDING

    for attempt in range(1, retries.REFUND.max_attempts):
        assert services.refund_line(line_id=line.pk, attempt=attempt) == LineOutcome.REFUND_PENDING
    assert AuditEvent.objects.filter(action="order_line.refund_attempt_failed").count() == attempt
    assert not FailedTask.objects.exists()

    last = retries.REFUND.max_attempts
    assert services.refund_line(line_id=line.pk, attempt=last) == LineOutcome.REFUND_FAILED
    failed = FailedTask.objects.get()
    assert (failed.task_name, failed.args, failed.attempts) == (
        "payers.tasks.refund_order_line",
        [line.pk],
        last,
    )
    assert "system busy" in failed.error

    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):  # the bank answers again
        response = client.post(
            "/admin/billing/failedtask/", {"action": "retry", "_selected_action": [failed.pk]}
        )
    assert response.status_code == 302
    line.refresh_from_db()
    assert line.outcome == LineOutcome.REFUNDED and line.refunded_at is not None
    assert AuditEvent.objects.filter(action="failed_task.retried", actor=admin_user).count() == 1
    assert AuditEvent.objects.filter(action="order_line.refund_retried").count() == 1
    event = OutboxEvent.objects.get(type="payment.refunded")
    assert event.payload["refund_no"] == line.refund_no and event.payload["amount"] == "100.00"
    failed.refresh_from_db()
    assert failed.retry_count == 1 and failed.retried_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_worker_retries_a_refused_refund_with_backoff_until_the_bank_confirms(
    bank, water, monkeypatch, request
):
    flaky = FlakyBank(failures=2)
    monkeypatch.setattr(SandboxGateway, "refund", flaky.method())
    line = paid_twice(bank, water)  # eager: the first attempt runs on commit, refused
    assert line.outcome == LineOutcome.REFUND_PENDING and flaky.calls == 1
    monkeypatch.setattr(retries, "REFUND", retries.RetryPolicy("refund", 1, 1, 5))  # seconds, not minutes
    request.getfixturevalue("real_worker")

    tasks.refund_order_line.delay(line.pk)  # refused once more, then retried by the worker after 1 s
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line.refresh_from_db()
        if line.outcome != LineOutcome.REFUND_PENDING:
            break
        time.sleep(0.2)
    assert line.outcome == LineOutcome.REFUNDED
    assert flaky.calls == 3
    assert AuditEvent.objects.filter(action="order_line.refund_attempt_failed").count() == 2
    assert OutboxEvent.objects.filter(type="payment.refunded").count() == 1
