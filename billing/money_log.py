"""One log line, and a count for /metrics, per movement of money: a payment posted (or replayed, or
refused), reversed, refunded, settled to a biller, written off in reconciliation.

Lines are written when the transaction that moved the money commits (`on_commit`): a rolled-back payment
leaves no line claiming it happened. They carry amounts, channels and ids only: never card or bank account
numbers, secrets or names (a payer is an id).
"""

import functools
from decimal import Decimal

import structlog
from django.db import transaction

from billing.exceptions import PaymentRefused
from config.metrics import count_payment

logger = structlog.get_logger("billpay.money")


def log_money_action(action: str, *, amount: Decimal, channel: str = "", outcome: str = "", **ids) -> None:
    """`action` is post, reverse, refund, settle or write_off; `ids` name the rows (payment_id=…)."""
    fields = {"action": action, "amount": str(amount), "channel": channel or None, **ids}
    if outcome:
        fields["outcome"] = outcome

    def emit() -> None:
        logger.info(f"money.{action}", **fields)
        if outcome:
            count_payment(channel=channel, outcome=outcome)

    transaction.on_commit(emit)


def logged_posting(post_payment):
    """Around `services.post_payment`: the posted payment's line, and replays and refusals counted."""

    @functools.wraps(post_payment)
    def wrapper(*, channel: str, **kwargs):
        try:
            result = post_payment(channel=channel, **kwargs)
        except PaymentRefused as refused:
            count_payment(channel=channel, outcome="refused")
            logger.info("money.post_refused", action="post", channel=channel, code=refused.code)
            raise
        payment = result.payment
        if result.replayed:
            count_payment(channel=channel, outcome="replayed")
            logger.info("money.post_replayed", action="post", channel=channel, payment_id=payment.pk)
        else:
            log_posted(payment)
        return result

    return wrapper


def log_posted(payment) -> None:
    """The line and count of a payment just posted, by `post_payment` or in a batch (`post_payments`)."""
    log_money_action(
        "post",
        amount=payment.amount,
        channel=payment.channel,
        outcome="posted",
        payment_id=payment.pk,
        receipt_no=payment.receipt_no,
        biller_id=payment.biller_id,
        account_id=payment.account_id,
        branch_id=payment.branch_id,
        payer_id=payment.payer_id,
    )
