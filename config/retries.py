"""How long a task waits before it calls an outside party again: one policy per kind of call, exponential
backoff with jitter, capped.

Every `countdown=` in the project is a `retries.<POLICY>.delay(...)` call (or a literal number), so the
longest wait anywhere is the largest `cap` here, and `CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]`
must stay above it: a Redis message not acknowledged within the visibility timeout is handed to another
worker, so a task waiting out a longer countdown would run twice (tests/test_celery_production.py).
"""

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    name: str
    base_seconds: float  # the wait after the first failure, before jitter
    cap_seconds: float  # no wait is longer than this, jitter included
    max_attempts: int  # calls in all, the first included; then the failure is recorded (FailedTask)

    def delay(self, failures: int) -> int:
        """Seconds to wait after the `failures`-th failed call (1, 2, …): base·2^(failures-1), capped, then
        "equal jitter" (half fixed, half random) so that calls failed together do not come back together."""
        exponential = min(self.cap_seconds, self.base_seconds * 2 ** max(failures - 1, 0))
        return max(1, round(exponential / 2 + random.uniform(0, exponential / 2)))

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


# Biller webhooks (api/webhooks.py): 30 s, 1 min, 2 min … 1 h, 8 tries over about 2 hours.
WEBHOOK = RetryPolicy("webhook", base_seconds=30, cap_seconds=3600, max_attempts=8)
# Refunds through a payment gateway (payers): the citizen waits for this money, so try often and long.
REFUND = RetryPolicy("refund", base_seconds=60, cap_seconds=3600, max_attempts=10)
# Gateway trade queries of one pending order (payers): the 5-minute sweep asks again anyway.
GATEWAY_QUERY = RetryPolicy("gateway-query", base_seconds=10, cap_seconds=300, max_attempts=3)
# Text messages and e-mails (reminders, notices): late is fine, lost is not.
MESSAGE = RetryPolicy("message", base_seconds=60, cap_seconds=1800, max_attempts=6)
# The sandbox bank's notifications to the merchant, as real banks back off (15 s … 2 h).
SANDBOX_BANK_NOTIFY = RetryPolicy("sandbox-bank-notify", base_seconds=15, cap_seconds=7200, max_attempts=7)

# Auto-pay debits the bank declined or did not answer (payers.mandates): a few tries over about a day, then
# the citizen is told and pays themselves.
MANDATE_DEBIT = RetryPolicy("mandate-debit", base_seconds=1800, cap_seconds=3 * 3600, max_attempts=4)
# Confirming with a live biller a payment posted under its stand-in rule (billing.presentment): 1 min … 1 h.
BILLER_CONFIRM = RetryPolicy("biller-confirm", base_seconds=60, cap_seconds=3600, max_attempts=10)

# Fiscal e-receipts and their red-letter reversals (billing.fiscal): the payer waits for the receipt, the
# issuer is a government platform with maintenance windows: 1 min … 1 h, 8 tries over about 3 hours.
FISCAL_ISSUER = RetryPolicy("fiscal-issuer", base_seconds=60, cap_seconds=3600, max_attempts=8)

POLICIES = (
    FISCAL_ISSUER,
    WEBHOOK,
    BILLER_CONFIRM,
    REFUND,
    GATEWAY_QUERY,
    MESSAGE,
    SANDBOX_BANK_NOTIFY,
    MANDATE_DEBIT,
)
LONGEST_DELAY_SECONDS = max(policy.cap_seconds for policy in POLICIES)
