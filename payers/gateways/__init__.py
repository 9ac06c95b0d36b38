"""Payment gateways behind one interface. A gateway turns an order into a redirect to the bank's hosted
page, and turns the bank's signed messages (the asynchronous notification, the browser return, a refund
answer) into verified facts. Only a verified notification ever leads to a posted payment."""

from django.conf import settings
from django.utils.module_loading import import_string

from payers.exceptions import PortalError
from payers.gateways.base import Gateway, PaymentNotice, RefundResult

__all__ = ["Gateway", "PaymentNotice", "RefundResult", "available_gateways", "get_gateway"]


def get_gateway(code: str, *, require_enabled: bool = True) -> Gateway:
    """The configured gateway with this code (`PAYMENT_GATEWAYS` in settings), refused unless switched on.
    `require_enabled=False` is for our own calls to the bank about orders it already has (trade query,
    refund); nothing that arrives from outside (notification, browser return) is believed for a gateway
    that is switched off."""
    path = settings.PAYMENT_GATEWAYS.get(code)
    if path is None:
        raise PortalError("gateway_unknown", gateway=code)
    gateway = import_string(path)()
    if require_enabled and not gateway.enabled():
        raise PortalError("gateway_disabled", gateway=code)
    return gateway


def available_gateways() -> list[Gateway]:
    gateways = [import_string(path)() for path in settings.PAYMENT_GATEWAYS.values()]
    return [gateway for gateway in gateways if gateway.enabled()]
