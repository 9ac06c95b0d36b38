"""Start here, finish there (payers.handoff): a pending order handed from a PC to a phone by a QR, once."""

import datetime
import re
import threading

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from billing.models import AuditEvent
from payers import handoff
from payers.choices import OrderStatus
from payers.exceptions import PortalError
from payers.models import GatewayOrder, OrderHandoff

pytestmark = pytest.mark.django_db

URL = re.compile(r'class="handoff-url">https?://[^/]+(/handoff/[^/]+/)<')


def _start_on_pc(client, water) -> tuple[GatewayOrder, str]:
    """The PC's checkout with "finish on your phone": the order's QR page instead of the bank."""
    response = client.post(
        "/checkout/",
        {"biller": "WATER01", "account_no": "31005678", "all": "1", "gateway": "SANDBOX", "handoff": "1"},
    )
    order = GatewayOrder.objects.get()
    assert response.status_code == 302 and response.url == f"/orders/{order.access_token}/handoff/"
    page = client.get(response.url).content.decode()
    assert "<svg" in page
    return order, URL.search(page).group(1)


def test_a_payment_started_on_the_pc_is_finished_on_a_phone_without_its_login(client, water, sandbox_bank):
    order, link = _start_on_pc(client, water)
    phone = Client()
    confirm = phone.get(link)
    assert confirm.status_code == 200 and "180.00" in confirm.content.decode()
    assert OrderHandoff.objects.get().claimed_at is None  # looking writes nothing

    taken = phone.post(link)
    assert taken.status_code == 302 and taken.url == f"/orders/{order.access_token}/"
    assert phone.post(link).url == taken.url  # a second tap on the same phone: its own order again
    assert "前往银行支付" in phone.get(taken.url).content.decode()
    to_bank = phone.post(f"/orders/{order.access_token}/pay/")
    assert to_bank.status_code == 302 and to_bank.url.startswith("/sandbox-bank/gateway/")

    status = client.get(f"/orders/{order.access_token}/status/").content.decode()
    assert "已在另一台设备上继续" in status and "hx-get" in status  # the PC keeps polling
    assert "前往银行支付" not in status
    pc_pay = client.post(f"/orders/{order.access_token}/pay/")
    assert pc_pay.url == f"/orders/{order.access_token}/"  # the PC no longer goes to the bank
    again = client.post(f"/orders/{order.access_token}/handoff/", follow=True).content.decode()
    assert "此二维码已在另一台设备上使用过" in again and OrderHandoff.objects.count() == 1
    assert AuditEvent.objects.filter(action="order.handed_off").count() == 1


def test_the_qr_works_once(client, water, sandbox_bank):
    _order, link = _start_on_pc(client, water)
    assert Client().post(link).status_code == 302
    again = Client().post(link)
    assert again.status_code == 410 and again.context["error"].code == "handoff_used"
    assert Client().get(link).context["error"].code == "handoff_used"


def test_an_expired_qr_is_refused_and_writes_nothing(client, water, sandbox_bank, settings):
    _order, link = _start_on_pc(client, water)
    OrderHandoff.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    refused = Client().post(link)
    assert refused.status_code == 410 and refused.context["error"].code == "handoff_expired"
    assert OrderHandoff.objects.get().claimed_at is None
    assert "此二维码已过期" in refused.content.decode()


def test_a_new_qr_replaces_the_old_one(client, water, sandbox_bank):
    order, old = _start_on_pc(client, water)
    page = client.post(f"/orders/{order.access_token}/handoff/", follow=True).content.decode()
    new = URL.search(page).group(1)
    assert new != old
    assert Client().post(old).context["error"].code == "handoff_expired"
    assert Client().post(new).status_code == 302


def test_an_unknown_token_is_refused(client):
    response = Client().post("/handoff/not-a-real-token-at-all/")
    assert response.status_code == 410 and response.context["error"].code == "handoff_unknown"


def test_another_users_order_cannot_be_handed_off(client, water, sandbox_bank, django_user_model):
    owner = django_user_model.objects.create_user("owner", "owner@example.com", "pw-Owner-2026")
    other = django_user_model.objects.create_user("other", "other@example.com", "pw-Other-2026")
    client.force_login(owner)
    client.post(
        "/checkout/", {"biller": "WATER01", "account_no": "31005678", "all": "1", "gateway": "SANDBOX"}
    )
    order = GatewayOrder.objects.get()
    assert order.user == owner
    stranger = Client()
    stranger.force_login(other)
    response = stranger.post(f"/orders/{order.access_token}/handoff/", follow=True)
    assert "只有发起此订单的缴费人" in response.content.decode()
    assert OrderHandoff.objects.count() == 0
    with pytest.raises(PortalError):
        handoff.start_handoff(order=order, user=other)


def test_a_final_order_cannot_be_handed_off_nor_taken_over(client, water, sandbox_bank):
    order, link = _start_on_pc(client, water)
    GatewayOrder.objects.filter(pk=order.pk).update(status=OrderStatus.CLOSED)
    assert Client().post(link).context["error"].code == "handoff_order_final"
    with pytest.raises(PortalError):
        handoff.start_handoff(order=GatewayOrder.objects.get(), user=None)


@pytest.mark.django_db(transaction=True)
def test_two_devices_opening_the_qr_at_once_one_wins(water, sandbox_bank):
    _order, link = _start_on_pc(Client(), water)
    token = link.strip("/").split("/")[-1]
    barrier = threading.Barrier(2)
    results = []

    def claim():
        try:
            barrier.wait()
            handoff.claim_handoff(token=token, user=None)
            results.append("won")
        except PortalError as error:
            results.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["handoff_used", "won"]
    assert OrderHandoff.objects.filter(claimed_at__isnull=False).count() == 1
