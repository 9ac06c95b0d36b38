"""The sandbox bank's notification is a real HTTP POST to the portal, sent by a Celery task."""

import pytest
from django.conf import settings

from billing.models import Payment
from payers import services
from payers.choices import OrderKind, OrderStatus
from payers.gateways import signing
from payers.models import SandboxBankTrade
from payers.sandbox_bank import services as bank


@pytest.mark.django_db(transaction=True)
def test_the_bank_posts_its_signed_notification_over_http_and_the_payment_is_posted(live_server, water):
    order = services.start_checkout(
        lines=services.lines_for_bills([water["bills"][0].pk]),
        kind=OrderKind.BILLS,
        user=None,
        gateway_code="SANDBOX",
        subject="水费",
    )
    params = signing.signed(
        {
            "merchant_id": settings.SANDBOX_BANK_MERCHANT_ID,
            "out_trade_no": order.order_no,
            "total_amount": f"{order.amount:.2f}",
            "subject": order.subject,
            "sub_orders": f"1:{order.amount:.2f}",
            "notify_url": f"{live_server.url}/payments/notify/SANDBOX/",
            "return_url": f"{live_server.url}/payments/return/SANDBOX/",
        },
        settings.SANDBOX_BANK_KEY,
    )
    trade = bank.open_trade(params)
    bank.finish_trade(trade_no=trade.trade_no, pay=True)  # on commit: the notify task, run eagerly

    trade = SandboxBankTrade.objects.get(pk=trade.pk)
    assert trade.notified and trade.notify_attempts == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert Payment.objects.get().channel_ref == f"{trade.trade_no}-1"
