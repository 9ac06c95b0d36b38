"""Hosted checkout for partners (api.checkout): a signed link, the portal's checkout, a signed return and a
signed notification; every bad link refused in the payer's language with nothing written."""

import datetime
import json
import time
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.utils import timezone

from api import checkout, webhooks
from api.choices import DeliveryStatus, WebhookEvent
from api.models import HostedCheckout, PartnerCommission, PartnerReturnUrl, WebhookDelivery
from billing import outbox
from billing.choices import BillStatus, Channel
from billing.models import AuditEvent, Bill, OutboxEvent, Payment
from billing.services import post_payment
from payers.choices import OrderStatus
from payers.models import GatewayOrder, SandboxBankTrade
from payers.sandbox_bank.services import notification_params
from tests.api.hosted import RETURN_URL, example, link
from tests.factories import BillFactory

pytestmark = pytest.mark.django_db


def _written() -> tuple[int, int, int]:
    return HostedCheckout.objects.count(), GatewayOrder.objects.count(), Payment.objects.count()


def _refused(client, url, code, *, language="zh-hans"):
    before = _written()
    client.cookies["django_language"] = language
    response = client.get(url)
    assert response.status_code == 400, response.content[:300]
    assert response.context["error"].code == code
    assert _written() == before
    return response.content.decode()


def _open(client, issued, **overrides):
    response = client.get(link(issued, **overrides))
    assert response.status_code == 302, response.context["error"].params
    return response.url


def _pay_at_bank(client, page_url, *, action="pay"):
    """Choose the sandbox bank on the hosted page, pay at its cashier, and deliver its notification."""
    response = client.post(page_url + "pay/", {"gateway": "SANDBOX"})
    assert response.status_code == 302 and response.url.startswith("/sandbox-bank/gateway/"), response
    cashier = client.get(response.url)
    trade = SandboxBankTrade.objects.get(trade_no=cashier.url.rstrip("/").split("/")[-1])
    back = client.post(f"/sandbox-bank/pay/{trade.trade_no}/finish/", {"action": action})
    trade.refresh_from_db()
    client.post("/payments/notify/SANDBOX/", notification_params(trade))
    return back.url


def test_a_signed_link_shows_what_is_paid_and_the_payer_returns_with_a_signed_paid_result(
    client, issued, registered, bill, sandbox_bank
):
    page_url = _open(client, issued)
    page = client.get(page_url)
    text = page.content.decode()
    assert page.status_code == 200
    for shown in ("滨江水务", "31005678", "张*明", "¥128.40", "Acme Pay"):
        assert shown in text, shown

    bank_return = _pay_at_bank(client, page_url)
    assert urlsplit(bank_return).path == page_url  # the bank sends the browser back to the hosted page
    back = client.get(bank_return)
    assert back.status_code == 302 and back.url.startswith(RETURN_URL + "?")
    params = example.verify_return(back.url, secret=issued.secret)
    payment = Payment.objects.get()
    assert params["status"] == "paid" and params["order_id"] == "GOV-2026-0001"
    assert params["payment_ref"] == payment.receipt_no and params["amount"] == "128.40"
    assert payment.channel == Channel.ONLINE  # the bank took the money: ONLINE, the partner on the order
    assert HostedCheckout.objects.get().order.lines.get().payment == payment
    assert Bill.objects.get(pk=bill.pk).status == BillStatus.PAID


def test_a_tampered_return_is_refused_by_the_example(client, issued, registered, bill, sandbox_bank):
    page_url = _open(client, issued)
    _pay_at_bank(client, page_url)
    url = client.get(page_url).url
    with pytest.raises(ValueError):
        example.verify_return(url.replace("status=paid", "status=closed"), secret=issued.secret)
    with pytest.raises(ValueError):
        example.verify_return(url, secret="sk_not-the-partners")


def test_the_partner_is_notified_once_signed_and_the_payment_is_in_its_report(
    client, issued, registered, bill, sandbox_bank, partner, receiver
):
    partner.checkout_notify_url = f"http://127.0.0.1:{receiver.server_port}/billpay/notify"
    partner.save()
    PartnerCommission.objects.create(
        partner=partner, fixed_fee=Decimal("0.50"), valid_from=datetime.date(2020, 1, 1)
    )
    _pay_at_bank(client, _open(client, issued))
    outbox.relay()
    outbox.relay()
    delivery = WebhookDelivery.objects.get()
    assert delivery.credential == issued.credential and delivery.event == WebhookEvent.CHECKOUT_PAID
    # the consumer offered the same event again writes nothing new (its event id is derived from the event's)
    checkout.notifications_for_events(list(OutboxEvent.objects.all()))
    assert WebhookDelivery.objects.count() == 1

    webhooks.attempt(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    (headers, body), *others = receiver.RequestHandlerClass.received
    assert not others
    assert example.verify_notification(
        secret=issued.secret,
        timestamp=headers["X-BillPay-Timestamp"],
        signature_hex=headers["X-BillPay-Signature"],
        body=body,
    )
    assert headers["X-BillPay-Key"] == issued.credential.key_id
    sent = json.loads(body)
    assert sent["id"] == headers["X-BillPay-Event-Id"] == delivery.event_id
    assert sent["checkout"]["order_id"] == "GOV-2026-0001" and sent["checkout"]["status"] == "paid"
    report = checkout.checkout_report(partner, Payment.objects.get().business_date)
    assert [(line.receipt_no, line.commission) for line in report] == [
        (Payment.objects.get().receipt_no, Decimal("0.50"))
    ]


def test_a_forged_link_is_refused_in_chinese_and_writes_nothing(client, issued, registered, bill):
    text = _refused(client, link(issued, secret="sk_forged"), "link_signature_invalid")
    assert "此支付链接不是由跳转来源服务签名的" in text


def test_a_replayed_link_is_refused(client, issued, registered, bill):
    url = link(issued)
    assert client.get(url).status_code == 302
    _refused(client, url, "link_used")


def test_a_second_link_for_the_same_partner_order_is_refused(client, issued, registered, bill):
    assert client.get(link(issued)).status_code == 302
    _refused(client, link(issued), "link_used")


def test_an_expired_link_is_refused_in_english_on_request(client, issued, registered, bill, monkeypatch):
    url = link(issued)
    later = time.time() + 601
    monkeypatch.setattr(checkout.time, "time", lambda: later)
    text = _refused(client, url, "link_expired", language="en")
    assert "has expired" in text


def test_the_links_language_is_the_refusals(client, issued, registered, bill):
    text = _refused(client, link(issued, secret="sk_forged", language="en"), "link_signature_invalid")
    assert "was not signed by the service that sent you" in text


def test_a_tampered_amount_breaks_the_signature(client, issued, registered, bill):
    url = link(issued)
    _refused(client, url.replace("amount=128.40", "amount=1.00"), "link_signature_invalid")


def test_a_signed_amount_that_is_not_the_amount_due_today_is_refused(client, issued, registered, bill):
    text = _refused(client, link(issued, amount="100.00"), "amount_mismatch")
    assert "128.40" in text


@pytest.mark.parametrize(
    "return_url",
    [
        "https://evil.example.com/billpay/return",
        "https://gov.example.cn/billpay/return-elsewhere",
        "https://gov.example.cn.evil.com/billpay/return",
        "https://gov.example.cn@evil.com/billpay/return",
        "http://gov.example.cn/billpay/return",
        "https://gov.example.cn/billpay/return#x",
        "javascript:alert(1)",
    ],
)
def test_a_return_url_not_registered_for_the_partner_is_refused(client, issued, registered, bill, return_url):
    _refused(client, link(issued, return_url=return_url), "return_url_not_registered")


def test_another_partners_return_url_is_not_this_partners(client, issued, registered, bill, water):
    from api.models import Partner

    other = Partner.objects.create(code="OTHER", name="Other")
    PartnerReturnUrl.objects.create(partner=other, url="https://other.example/return")
    _refused(client, link(issued, return_url="https://other.example/return"), "return_url_not_registered")


def test_a_bill_already_paid_is_refused(client, issued, registered, bill):
    post_payment(
        channel=Channel.ONLINE,
        idempotency_key="SANDBOX:elsewhere-1",
        biller_code="WATER01",
        account_no="31005678",
        amount=Decimal("128.40"),
        periods=["2026-09"],
    )
    _refused(client, link(issued), "bill_paid")


def test_a_link_missing_fields_or_with_unknown_ones_is_refused(client, issued, registered, bill):
    url = link(issued)
    _refused(client, url.replace("order_id=", "x_order="), "link_incomplete")
    _refused(client, url + "&extra=1", "link_invalid")
    _refused(client, url + "&amount=1.00", "link_invalid")  # a repeated parameter


def test_a_suspended_partner_cannot_send_payers(client, issued, registered, bill, partner):
    partner.status = "suspended"
    partner.save()
    _refused(client, link(issued), "partner_unavailable")


def test_a_bill_paid_elsewhere_after_the_link_opened_is_refused_at_pay_time(
    client, issued, registered, bill, sandbox_bank
):
    page_url = _open(client, issued)
    post_payment(
        channel=Channel.ONLINE,
        idempotency_key="SANDBOX:elsewhere-2",
        biller_code="WATER01",
        account_no="31005678",
        amount=Decimal("128.40"),
        periods=["2026-09"],
    )
    response = client.post(page_url + "pay/", {"gateway": "SANDBOX"}, follow=True)
    assert "此账单已缴清，无需再缴。" in response.content.decode()
    assert GatewayOrder.objects.count() == 0


def test_back_without_paying_tells_the_partner_cancelled(client, issued, registered, bill):
    page_url = _open(client, issued)
    response = client.get(page_url + "back/")
    params = example.verify_return(response.url, secret=issued.secret)
    assert params["status"] == "cancelled" and params["payment_ref"] == ""


def test_the_bank_closing_the_order_returns_closed_and_the_page_cannot_pay_again(
    client, issued, registered, bill, sandbox_bank
):
    page_url = _open(client, issued)
    bank_return = _pay_at_bank(client, page_url, action="cancel")
    assert GatewayOrder.objects.get().status == OrderStatus.CLOSED
    params = example.verify_return(client.get(bank_return).url, secret=issued.secret)
    assert params["status"] == "closed"
    response = client.post(page_url + "pay/", {"gateway": "SANDBOX"})
    assert GatewayOrder.objects.count() == 1 and response.status_code == 302


def test_the_page_of_a_pending_order_polls_and_redirects_once_final(
    client, issued, registered, bill, sandbox_bank
):
    page_url = _open(client, issued)
    client.post(page_url + "pay/", {"gateway": "SANDBOX"})
    page = client.get(page_url)
    assert page.status_code == 200 and "hx-get" in page.content.decode()
    assert client.get(page_url + "status/").status_code == 200
    order = GatewayOrder.objects.get()
    order.status, order.closed_at = OrderStatus.CLOSED, timezone.now()
    order.save()
    response = client.get(page_url + "status/")
    assert response.status_code == 204 and response["HX-Redirect"].startswith(RETURN_URL)
    assert dict(parse_qsl(urlsplit(response["HX-Redirect"]).query))["status"] == "closed"


def test_opening_a_link_is_audited(client, issued, registered, bill):
    _open(client, issued)
    assert AuditEvent.objects.filter(action="hosted_checkout.opened").count() == 1


def test_an_unknown_page_token_is_404(client):
    assert client.get("/hosted/not-a-token/").status_code == 404


def test_a_prepaid_top_up_takes_the_signed_amount(client, issued, registered, partner, sandbox_bank):
    from billing.choices import PaymentMode
    from billing.models import BillerCategory
    from tests.factories import BillerFactory, CustomerAccountFactory

    gas = BillerFactory(code="GASCARD", name="燃气卡充值", payment_mode=PaymentMode.PREPAID)
    partner.allowed_categories.add(BillerCategory.objects.get(pk=gas.category_id))
    CustomerAccountFactory(biller=gas, account_no="77001234", holder_name="王芳")
    page_url = _open(client, issued, biller="GASCARD", account="77001234", amount="50.00")
    _pay_at_bank(client, page_url)
    assert Payment.objects.get().amount == Decimal("50.00")
    assert BillFactory._meta.model.objects.count() == 0


def test_the_page_shows_todays_amount_and_until_when_it_holds(client, issued, registered, account):
    from billing import amounts

    until = amounts.beijing_today() + datetime.timedelta(days=3)
    BillFactory(
        account=account,
        period="2026-11",
        amount_due=Decimal("128.40"),
        early_discount=Decimal("8.40"),
        discount_until=until,
        due_date=until + datetime.timedelta(days=10),
    )
    _refused(client, link(issued, amount="128.40"), "amount_mismatch")  # the discount holds today
    text = client.get(_open(client, issued, amount="120.00")).content.decode()
    assert "¥120.00" in text and f"至 {until:%Y-%m-%d} 当天结束" in text
