"""Row locks of the portal. An order is locked before anything it pays, so the order → customer account →
bills order of billing.locks is kept: posting the order's lines locks accounts and bills after it."""

from payers.models import GatewayOrder, OrderLine


def lock_order_by_no(order_no: str) -> GatewayOrder | None:
    return GatewayOrder.objects.select_for_update().filter(order_no=order_no).first()


def lock_order_line(line_id: int) -> OrderLine:
    return OrderLine.objects.select_for_update(of=("self",)).select_related("order").get(pk=line_id)
