import datetime
from decimal import Decimal

import pytest
from django.db.models import F

from billing.choices import BillStatus, Channel
from billing.models import AuditEvent, Payment
from billing.services import post_payment
from payers.choices import BankTradeStatus, LineOutcome, NotificationResult, OrderStatus
from payers.gateways.sandbox import SandboxGateway
from payers.models import GatewayNotification, GatewayOrder, OrderLine, SandboxBankTrade
from tests.factories import BranchFactory

# The whole flow goes through the sandbox bank, switched on for these tests (it is off by default).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_bank")]


def guest_checkout(bank, water, bills=None):
    return bank.checkout(
        {
            "biller": "WATER01",
            "account_no": "31005678",
            "bill": [bill.pk for bill in (bills or water["bills"])],
        }
    )


def paid_online_while_the_counter_takes_it(bank, water):
    """The payer pays the water bill online; before the bank's notification arrives, a clerk takes the same
    bill in cash. Returns the online order, not yet notified: its line must end refunded."""
    order = guest_checkout(bank, water, bills=[water["bills"][0]])
    bank.pay(order)
    post_payment(
        channel=Channel.COUNTER,
        idempotency_key="counter-1",
        biller_code="WATER01",
        account_no="31005678",
        amount="100.00",
        periods=["2026-09"],
        branch=BranchFactory(),
    )
    return order


def test_nothing_is_posted_before_the_banks_notification(client, bank, water):
    order = guest_checkout(bank, water)
    return_url = bank.pay(order)
    page = bank.follow_return(return_url)
    assert page.status_code == 302 and page.url == f"/orders/{order.access_token}/"
    assert Payment.objects.count() == 0
    assert client.get(page.url).context["pending"]
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING


def test_a_verified_notification_posts_the_payment_once(bank, water):
    order = guest_checkout(bank, water)
    bank.pay(order)
    response = bank.notify(order)
    assert response.content == b"success"
    payment = Payment.objects.get()
    trade = bank.trade(order)
    assert payment.channel == Channel.ONLINE
    assert payment.idempotency_key == f"SANDBOX:{order.order_no}-0001"
    assert payment.channel_ref == f"{trade.trade_no}-1"
    assert payment.amount == Decimal("180.00")
    assert {bill.status for bill in type(water["bills"][0]).objects.all()} == {BillStatus.PAID}
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID and order.trade_no == trade.trade_no


def test_a_duplicate_notification_is_acknowledged_and_posts_nothing_more(bank, water):
    order = guest_checkout(bank, water)
    bank.pay(order)
    bank.notify(order)
    assert bank.notify(order).content == b"success"
    assert Payment.objects.count() == 1
    assert list(GatewayNotification.objects.order_by("id").values_list("result", flat=True)) == [
        NotificationResult.APPLIED,
        NotificationResult.DUPLICATE,
    ]


def test_a_forged_notification_is_refused_and_posts_nothing(bank, water):
    order = guest_checkout(bank, water)
    bank.pay(order)
    response = bank.notify(order, total_amount="0.01")  # changed after signing
    assert response.content == b"fail"
    assert Payment.objects.count() == 0
    assert GatewayNotification.objects.get().result == NotificationResult.REJECTED


def test_a_closed_notice_after_the_payment_is_ignored(bank, water):
    order = guest_checkout(bank, water)
    bank.pay(order)
    bank.notify(order)
    trade = bank.trade(order)
    trade.status = "closed"  # the bank re-sends an older state, out of order
    trade.save()
    bank.notify(order)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert GatewayNotification.objects.order_by("-id").first().result == NotificationResult.IGNORED
    assert Payment.objects.count() == 1


def test_a_late_payment_after_the_order_was_closed_is_still_posted(bank, water):
    order = guest_checkout(bank, water)
    bank.pay(order, action="cancel")
    bank.notify(order)
    order.refresh_from_db()
    assert order.status == OrderStatus.CLOSED
    trade = bank.trade(order)
    trade.status = "success"  # the bank took the money after all
    trade.save()
    bank.notify(order)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert Payment.objects.count() == 1


@pytest.mark.parametrize("switched_off", [False, True], ids=["gateway_on", "gateway_switched_off_since"])
def test_paid_at_the_counter_meanwhile_the_money_is_refunded_when_the_biller_takes_no_credit(
    bank, water, django_capture_on_commit_callbacks, settings, switched_off
):
    order = paid_online_while_the_counter_takes_it(bank, water)
    with django_capture_on_commit_callbacks(execute=True):
        bank.notify(order)
        # A gateway switched off after it took the money still gives it back (the refund task runs next).
        settings.SANDBOX_BANK_ENABLED = not switched_off
    line = OrderLine.objects.get()
    assert line.outcome == LineOutcome.REFUNDED
    assert line.refusal_code == "bill_already_paid"
    assert line.payment is None
    assert bank.trade(order).refunds[0]["refund_no"] == line.refund_no
    assert Payment.objects.filter(channel=Channel.ONLINE).count() == 0


def test_paid_elsewhere_meanwhile_the_money_is_kept_as_credit_when_the_biller_allows(bank, power):
    order = bank.checkout({"biller": "POWER01", "account_no": "52001234", "bill": [power["bills"][0].pk]})
    bank.pay(order)
    post_payment(
        channel=Channel.COUNTER,
        idempotency_key="counter-2",
        biller_code="POWER01",
        account_no="52001234",
        amount="66.60",
        branch=BranchFactory(),
    )
    bank.notify(order)
    line = OrderLine.objects.get()
    assert line.outcome == LineOutcome.CREDITED
    power["account"].refresh_from_db()
    assert power["account"].credit_balance == Decimal("66.60")
    assert line.payment.idempotency_key == f"SANDBOX:{order.order_no}-0001"


def test_closing_the_tab_loses_nothing_the_order_page_shows_the_final_status(client, bank, water):
    order = guest_checkout(bank, water)
    bank.pay(order)  # the browser never follows the return
    assert client.get(f"/orders/{order.access_token}/").context["pending"]
    bank.notify(order)
    page = client.get(f"/orders/{order.access_token}/")
    assert not page.context["pending"]
    assert "/receipts/" in page.content.decode()


def test_a_bad_return_signature_is_refused(client, bank, water):
    order = guest_checkout(bank, water)
    url = bank.pay(order)
    assert client.get(url.replace("sign=", "sign=00")).status_code == 400


def test_a_prepaid_top_up_of_any_amount_within_the_limits(bank, prepaid):
    order = bank.checkout({"biller": "GASCARD", "account_no": "77001234", "amount": "123.45"})
    bank.pay(order)
    bank.notify(order)
    payment = Payment.objects.get()
    assert payment.amount == Decimal("123.45")
    assert payment.allocations.get().kind == "topup"


def test_a_top_up_beyond_the_limit_is_refused_before_the_bank(client, prepaid):
    response = client.post(
        "/checkout/", {"biller": "GASCARD", "account_no": "77001234", "amount": "5000", "back": "/"}
    )
    assert response.status_code == 302 and response.url == "/"
    assert not OrderLine.objects.exists()


def test_an_anonymous_donation_of_an_open_amount(client, bank, db):
    from payers import selectors
    from tests.factories import BillerFactory

    BillerFactory(code="CHARITY", name="慈善总会", payment_mode="donation")
    order = bank.checkout({"biller": "CHARITY", "amount": "88.88", "donor": "王小明", "anonymous": "1"})
    bank.pay(order)
    bank.notify(order)
    payment = Payment.objects.get()
    assert payment.account is None and payment.amount == Decimal("88.88")
    receipt = client.get(f"/receipts/{selectors.receipt_token(payment)}/").content.decode()
    assert "匿名" in receipt and "王小明" not in receipt


def test_a_lost_notification_is_made_good_by_asking_the_bank(bank, water):
    from payers import services

    order = guest_checkout(bank, water)
    bank.pay(order)  # the bank's notification never arrives
    type(order).objects.filter(pk=order.pk).update(
        created_at=order.created_at - datetime.timedelta(minutes=10)
    )
    assert services.query_pending_orders(older_than_minutes=5) == {NotificationResult.APPLIED: 1}
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert Payment.objects.count() == 1
    assert services.query_pending_orders(older_than_minutes=5) == {}  # no longer pending


def test_an_order_still_waiting_at_the_bank_stays_pending(bank, water):
    from payers import services

    order = guest_checkout(bank, water)
    type(order).objects.filter(pk=order.pk).update(
        created_at=order.created_at - datetime.timedelta(minutes=10)
    )
    assert services.query_pending_orders(older_than_minutes=5) == {}
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING


def _age(order, minutes: int, *, at_the_bank: bool = True) -> None:
    """Move an order (and the bank's trade for it) `minutes` into the past."""
    delta = datetime.timedelta(minutes=minutes)
    type(order).objects.filter(pk=order.pk).update(created_at=F("created_at") - delta)
    if at_the_bank:
        SandboxBankTrade.objects.filter(merchant_order_no=order.order_no).update(
            expires_at=F("expires_at") - delta
        )


def test_the_bank_is_told_the_time_to_pay_and_keeps_it(client, bank, water, settings):
    order = guest_checkout(bank, water)
    assert bank.trade(order).expires_at == order.expires_at
    assert order.expires_at == order.created_at + datetime.timedelta(
        minutes=settings.PORTAL_ORDER_TIMEOUT_MINUTES
    )
    _age(order, settings.PORTAL_ORDER_TIMEOUT_MINUTES + 1)
    bank.pay(order)  # the payer comes back to the cashier page too late
    assert bank.trade(order).status == BankTradeStatus.CLOSED
    assert Payment.objects.count() == 0


def test_a_payment_page_opened_after_the_time_to_pay_is_refused_by_the_bank(client, water, settings):
    response = client.post("/checkout/", {"biller": "WATER01", "account_no": "31005678", "all": "1"})
    order = GatewayOrder.objects.get()
    _age(order, settings.PORTAL_ORDER_TIMEOUT_MINUTES + 1, at_the_bank=False)
    order.refresh_from_db()
    late = client.get(
        SandboxGateway().payment_url(
            order, notify_url="http://testserver/n/", return_url="http://testserver/r/"
        )
    )
    assert response.status_code == 302 and late.status_code == 400
    assert SandboxBankTrade.objects.count() == 0


def test_an_abandoned_order_is_closed_once_the_bank_says_its_trade_closed(bank, water, settings):
    from payers import services

    order = guest_checkout(bank, water)  # the payer reaches the cashier page, then closes the tab
    _age(order, settings.PORTAL_ORDER_TIMEOUT_MINUTES + 10)
    assert services.query_pending_orders(older_than_minutes=5) == {NotificationResult.APPLIED: 1}
    order.refresh_from_db()
    assert order.status == OrderStatus.CLOSED and order.closed_at is not None
    assert set(order.lines.values_list("outcome", flat=True)) == {LineOutcome.NOT_PAID}
    assert services.query_pending_orders(older_than_minutes=5) == {}


def test_an_order_that_never_reached_the_bank_expires_and_is_audited(client, water, settings):
    from payers import services

    client.post("/checkout/", {"biller": "WATER01", "account_no": "31005678", "all": "1"})
    order = GatewayOrder.objects.get()
    _age(order, settings.PORTAL_ORDER_TIMEOUT_MINUTES + 1, at_the_bank=False)
    assert services.query_pending_orders(older_than_minutes=5) == {}  # its time to pay, plus the delay
    _age(order, 5, at_the_bank=False)
    assert services.query_pending_orders(older_than_minutes=5) == {"expired": 1}
    order.refresh_from_db()
    assert order.status == OrderStatus.CLOSED
    assert AuditEvent.objects.filter(action="order.expired", target_id=str(order.pk)).count() == 1
    page = client.get(f"/orders/{order.access_token}/")
    assert not page.context["pending"]


def test_money_the_bank_took_after_the_portal_gave_up_is_still_posted(bank, water, settings):
    from payers import services

    order = guest_checkout(bank, water)
    _age(order, settings.PORTAL_ORDER_TIMEOUT_MINUTES + 10, at_the_bank=False)  # the clocks disagree
    assert services.query_pending_orders(older_than_minutes=5) == {"expired": 1}
    bank.pay(order)  # the bank still let the payer pay
    assert bank.notify(order).content == b"success"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert Payment.objects.count() == 1


def test_the_bank_refuses_a_time_to_pay_without_a_utc_offset(client, water):
    from django.conf import settings as django_settings

    from payers.gateways import signing

    params = signing.signed(
        {
            "merchant_id": django_settings.SANDBOX_BANK_MERCHANT_ID,
            "out_trade_no": "X1",
            "total_amount": "10.00",
            "subject": "x",
            "notify_url": "http://testserver/n/",
            "return_url": "http://testserver/r/",
            "time_expire": "2099-01-01T00:00:00",
        },
        django_settings.SANDBOX_BANK_KEY,
    )
    assert client.get("/sandbox-bank/gateway/", params).status_code == 400
    assert SandboxBankTrade.objects.count() == 0


def test_a_pending_order_polls_its_status_fragment_and_links_a_refresh_without_script(client, bank, water):
    order = guest_checkout(bank, water)
    page = client.get(f"/orders/{order.access_token}/").content.decode()
    status_url = f"/orders/{order.access_token}/status/"
    assert 'http-equiv="refresh"' not in page and f'hx-get="{status_url}"' in page
    no_script_fallback = f'<a class="refresh-link" href="/orders/{order.access_token}/">刷新状态</a>'
    assert no_script_fallback in page
    fragment = client.get(status_url)
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode()
    assert f'hx-get="{status_url}"' in fragment.content.decode()
    bank.pay(order)
    bank.notify(order)
    final = client.get(status_url).content.decode()
    assert "已收到付款" in final and "hx-get" not in final and "刷新状态" not in final
    assert client.get("/orders/not-a-token/status/").status_code == 404
