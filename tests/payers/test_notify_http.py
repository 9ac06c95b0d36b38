"""Gateway notifications over real HTTP, against a live server with DEBUG off (as the test runner has it).

The sandbox bank's notification is a real HTTP POST sent by a Celery task; a notification is applied only
when the gateway named by its address is switched on and is the order's gateway, its signature verifies
with that gateway's configured key, and its merchant, amount and trade match the order. Every other one is
refused with a stable code, recorded for staff, audited, logged at WARNING, and posts nothing."""

import logging
from decimal import Decimal
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest
from django.conf import settings

from billing.models import (
    AuditEvent,
    Bill,
    CustomerAccount,
    JournalEntry,
    JournalLine,
    Payment,
    PaymentAllocation,
)
from payers import services
from payers.choices import NotificationResult, OrderKind, OrderStatus
from payers.gateways import signing
from payers.models import GatewayNotification, GatewayOrder, SandboxBankTrade
from payers.sandbox_bank import services as bank

pytestmark = pytest.mark.django_db(transaction=True)

# The sandbox key the demo has always published (README, settings): what a forger signs with.
DEMO_SANDBOX_KEY = "sandbox-demo-key-change-me"


def post(live_server, gateway: str, params: dict[str, str]) -> tuple[int, str]:
    """POST a form to the portal's notification address, as a bank's server does."""
    request = Request(
        f"{live_server.url}/payments/notify/{gateway}/",
        data=urlencode(params).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urlopen(request, timeout=30) as response:
            return response.status, response.read(200).decode()
    except HTTPError as error:
        return error.code, ""


def checkout(water, gateway: str) -> GatewayOrder:
    """A guest's order for both open bills of the water account: ¥180, as in the issue."""
    return services.start_checkout(
        lines=services.lines_for_bills([bill.pk for bill in water["bills"]]),
        kind=OrderKind.BILLS,
        user=None,
        gateway_code=gateway,
        subject="滨江水务",
    )


def sandbox_notice(order: GatewayOrder, *, key: str | None = None, **changes: str) -> dict[str, str]:
    """The sandbox bank's paid notification for the order, signed with `key` (the configured one unless
    given), with `changes` made before signing."""
    params = {
        "merchant_id": settings.SANDBOX_BANK_MERCHANT_ID,
        "notify_id": "0123456789abcdef",
        "out_trade_no": order.order_no,
        "trade_no": "SBX202612010000000001",
        "trade_status": "TRADE_SUCCESS",
        "total_amount": f"{order.amount:.2f}",
        "sub_trades": "1:SBX202612010000000001-1",
        "gmt_payment": "2026-12-01T10:00:00+08:00",
        **changes,
    }
    return signing.signed(params, settings.SANDBOX_BANK_KEY if key is None else key)


def alipay_notice(order: GatewayOrder, **changes: str) -> dict[str, str]:
    return {
        "app_id": "2021000000000001",
        "seller_id": "2088000000000001",
        "out_trade_no": order.order_no,
        "trade_no": "2026120122001400000000000001",
        "trade_status": "TRADE_SUCCESS",
        "total_amount": f"{order.amount:.2f}",
        "notify_time": "2026-12-01 10:00:00",
        **changes,
    }


def books() -> dict:
    """Everything a notification could have changed: the ledger, the bills, the account, the orders."""
    return {
        "payments": Payment.objects.count(),
        "allocations": PaymentAllocation.objects.count(),
        "journal_entries": JournalEntry.objects.count(),
        "journal_lines": JournalLine.objects.count(),
        "bills": sorted(Bill.objects.values_list("pk", "status", "amount_paid")),
        "accounts": sorted(CustomerAccount.objects.values_list("pk", "credit_balance")),
        "orders": sorted(
            GatewayOrder.objects.values_list("pk", "status", "trade_no", "paid_at", "closed_at")
        ),
        "order_lines": sorted(
            GatewayOrder.objects.values_list(
                "lines__pk", "lines__outcome", "lines__payment", "lines__sub_trade_no"
            )
        ),
    }


FAIL = (200, "fail")  # the sandbox bank's "not accepted" answer: a genuine bank sends again later
NO_ADDRESS = (404, "")  # an unknown or switched-off gateway has no notification address


def refused(
    live_server,
    caplog,
    gateway: str,
    params: dict[str, str],
    *,
    code: str,
    answer: tuple[int, str] = FAIL,
    order: GatewayOrder | None = None,
) -> GatewayNotification:
    """POST a notification that must be refused with `code`: the bank gets `answer`, the refusal is kept
    (on the order's notifications when the order is known), audited and logged at WARNING, and nothing
    else in the books changes."""
    before = books()
    with caplog.at_level(logging.WARNING):
        assert post(live_server, gateway, params) == answer
    assert books() == before
    row = GatewayNotification.objects.latest("id")
    assert row.result == NotificationResult.REJECTED
    assert row.note.startswith(f"{code}: ")
    assert row.order == order
    audit = AuditEvent.objects.get(action="order.notification_refused", target_id=str(row.pk))
    assert audit.data["code"] == code and audit.reason
    assert any(
        record.levelno == logging.WARNING and f"code={code}" in record.getMessage()
        for record in caplog.records
    )
    return row


@pytest.fixture
def alipay_order(alipay, settings, water):
    settings.ALIPAY_SELLER_ID = "2088000000000001"
    return checkout(water, "ALIPAY")


@pytest.fixture
def sandbox_order(sandbox_bank, water):
    return checkout(water, "SANDBOX")


def test_the_tests_run_with_debug_off():
    assert settings.DEBUG is False


def test_the_forged_notice_of_the_issue_is_refused_and_posts_nothing(live_server, caplog, alipay_order):
    """The sandbox bank is off; the forger signs with the published demo key for a citizen's Alipay order."""
    params = sandbox_notice(alipay_order, key=DEMO_SANDBOX_KEY)
    row = refused(live_server, caplog, "SANDBOX", params, code="gateway_disabled", answer=NO_ADDRESS)
    assert row.payload["out_trade_no"] == alipay_order.order_no


def test_the_sandbox_banks_pages_do_not_exist_while_it_is_off(live_server):
    with pytest.raises(HTTPError) as missing:
        urlopen(f"{live_server.url}/sandbox-bank/gateway/", timeout=30)
    assert missing.value.code == 404


def test_a_sandbox_signed_notice_for_an_alipay_order_is_refused(
    live_server, caplog, sandbox_bank, alipay_order
):
    """Both gateways on, the sandbox's own key: still not the order's gateway."""
    params = sandbox_notice(alipay_order)
    refused(live_server, caplog, "SANDBOX", params, code="gateway_mismatch", order=alipay_order)


def test_a_genuine_notice_for_a_gateway_switched_off_since_the_order_is_refused(
    live_server, caplog, settings, alipay_order, alipay_signed
):
    settings.ALIPAY_ENABLED = False
    params = alipay_signed(alipay_notice(alipay_order))
    refused(live_server, caplog, "ALIPAY", params, code="gateway_disabled", answer=NO_ADDRESS)


def test_a_notice_signed_with_the_published_demo_key_is_refused_when_the_bank_has_its_own(
    live_server, caplog, sandbox_order
):
    params = sandbox_notice(sandbox_order, key=DEMO_SANDBOX_KEY)
    refused(live_server, caplog, "SANDBOX", params, code="signature_invalid")


def test_a_sandbox_bank_without_a_key_is_off_and_a_notice_signed_with_no_key_is_refused(
    live_server, caplog, settings, sandbox_order
):
    settings.SANDBOX_BANK_KEY = ""  # nothing verifies: an empty HMAC key is one anybody can sign with
    params = sandbox_notice(sandbox_order, key="")
    refused(live_server, caplog, "SANDBOX", params, code="gateway_disabled", answer=NO_ADDRESS)


def test_a_notice_for_another_amount_is_refused(live_server, caplog, sandbox_order):
    params = sandbox_notice(sandbox_order, total_amount="0.01")
    row = refused(live_server, caplog, "SANDBOX", params, code="amount_mismatch", order=sandbox_order)
    assert "0.01" in row.note and "180.00" in row.note


def test_a_notice_for_another_merchant_is_refused(live_server, caplog, sandbox_order):
    params = sandbox_notice(sandbox_order, merchant_id="OTHERSHOP")
    refused(live_server, caplog, "SANDBOX", params, code="merchant_mismatch")


@pytest.mark.parametrize(
    "changes", [{"app_id": "2021000000009999"}, {"seller_id": "2088000000009999"}], ids=["app", "seller"]
)
def test_an_alipay_notice_for_another_app_or_seller_is_refused(
    live_server, caplog, alipay_order, alipay_signed, changes
):
    params = alipay_signed(alipay_notice(alipay_order, **changes))
    refused(live_server, caplog, "ALIPAY", params, code="merchant_mismatch", answer=(200, "failure"))


def test_a_notice_for_an_unknown_order_is_refused(live_server, caplog, sandbox_order):
    params = sandbox_notice(sandbox_order, out_trade_no="P20991231UNKNOWN0001")
    refused(live_server, caplog, "SANDBOX", params, code="order_unknown")


def test_a_notice_with_an_overlong_trade_number_is_refused(live_server, caplog, sandbox_order):
    params = sandbox_notice(sandbox_order, trade_no="T" * 65)
    refused(live_server, caplog, "SANDBOX", params, code="message_invalid")


def test_an_unsigned_flood_of_fields_is_refused_and_kept_only_in_part(live_server, caplog, sandbox_order):
    params = {f"field{number}": "x" * 5000 for number in range(200)}
    row = refused(live_server, caplog, "SANDBOX", params, code="signature_invalid")
    assert len(row.payload) == 51 and row.payload["_dropped_fields"] == "150"
    assert max(len(value) for value in row.payload.values()) == 1000


def test_a_notice_for_an_unknown_gateway_finds_no_address_and_writes_nothing(
    live_server, caplog, sandbox_order
):
    with caplog.at_level(logging.WARNING):
        status, _body = post(live_server, "UNIONPAY", sandbox_notice(sandbox_order))
    assert status == 404
    assert not GatewayNotification.objects.exists()
    assert any("code=gateway_unknown" in record.getMessage() for record in caplog.records)


def test_the_genuine_notice_posts_once_and_its_replay_posts_nothing(
    live_server, caplog, sandbox_order, water
):
    status, body = post(live_server, "SANDBOX", sandbox_notice(sandbox_order))
    assert (status, body) == (200, "success")
    sandbox_order.refresh_from_db()
    assert sandbox_order.status == OrderStatus.PAID
    payment = Payment.objects.get()
    assert payment.amount == Decimal("180.00") and payment.channel_ref == "SBX202612010000000001-1"
    assert {bill.status for bill in Bill.objects.all()} == {"paid"}
    assert JournalEntry.objects.filter(payment=payment).count() == 1
    after_payment = books()

    with caplog.at_level(logging.WARNING):
        status, body = post(live_server, "SANDBOX", sandbox_notice(sandbox_order))
    assert (status, body) == (200, "success")  # acknowledged, so that the bank stops re-sending
    row = GatewayNotification.objects.latest("id")
    assert row.result == NotificationResult.DUPLICATE and row.note.startswith("notification_duplicate: ")
    assert AuditEvent.objects.filter(
        action="order.notification_duplicate", target_id=str(sandbox_order.pk)
    ).exists()
    assert any("repeated" in record.getMessage() for record in caplog.records)
    assert books() == after_payment


def test_a_second_trade_reported_for_a_paid_order_is_refused(live_server, caplog, sandbox_order):
    assert post(live_server, "SANDBOX", sandbox_notice(sandbox_order)) == (200, "success")
    params = sandbox_notice(sandbox_order, trade_no="SBX202612010000000002", sub_trades="")
    refused(live_server, caplog, "SANDBOX", params, code="trade_no_mismatch", order=sandbox_order)


def test_the_bank_posts_its_signed_notification_over_http_and_the_payment_is_posted(
    live_server, sandbox_order
):
    params = signing.signed(
        {
            "merchant_id": settings.SANDBOX_BANK_MERCHANT_ID,
            "out_trade_no": sandbox_order.order_no,
            "total_amount": f"{sandbox_order.amount:.2f}",
            "subject": sandbox_order.subject,
            "sub_orders": f"1:{sandbox_order.amount:.2f}",
            "notify_url": f"{live_server.url}/payments/notify/SANDBOX/",
            "return_url": f"{live_server.url}/payments/return/SANDBOX/",
        },
        settings.SANDBOX_BANK_KEY,
    )
    trade = bank.open_trade(params)
    bank.finish_trade(trade_no=trade.trade_no, pay=True)  # on commit: the notify task, run eagerly

    trade = SandboxBankTrade.objects.get(pk=trade.pk)
    assert trade.notified and trade.notify_attempts == 1
    sandbox_order.refresh_from_db()
    assert sandbox_order.status == OrderStatus.PAID
    assert Payment.objects.get().channel_ref == f"{trade.trade_no}-1"


def test_a_notification_the_portal_did_not_acknowledge_is_not_marked_delivered(
    live_server, sandbox_bank, water
):
    params = signing.signed(
        {
            "merchant_id": settings.SANDBOX_BANK_MERCHANT_ID,
            "out_trade_no": "P20261127UNKNOWN0001",
            "total_amount": "10.00",
            "subject": "水费",
            "sub_orders": "1:10.00",
            "notify_url": f"{live_server.url}/payments/notify/SANDBOX/",
            "return_url": f"{live_server.url}/payments/return/SANDBOX/",
        },
        settings.SANDBOX_BANK_KEY,
    )
    trade = bank.open_trade(params)
    bank.finish_trade(trade_no=trade.trade_no, pay=True)  # the portal knows no such order: it answers "fail"
    trade = SandboxBankTrade.objects.get(pk=trade.pk)
    assert not trade.notified and trade.notify_attempts == 1
    assert not Payment.objects.exists()
