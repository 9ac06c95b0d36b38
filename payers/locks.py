"""Row locks of the portal. An order is locked before anything it pays, so the order → customer account →
bills order of billing.locks is kept: posting the order's lines locks accounts and bills after it. A proxy
batch is locked before the order it starts; a sandbox-bank trade on its own."""

from payers.models import GatewayOrder, OrderLine, ProxyBatch, SandboxBankTrade


def lock_order_by_no(order_no: str) -> GatewayOrder | None:
    return GatewayOrder.objects.select_for_update().filter(order_no=order_no).first()


def lock_order_line(line_id: int) -> OrderLine:
    return OrderLine.objects.select_for_update(of=("self",)).select_related("order").get(pk=line_id)


def lock_order_line_to_post(line_id: int) -> OrderLine:
    """A line of a paid order, with what posting it needs (its biller and account)."""
    return (
        OrderLine.objects.select_for_update(of=("self",)).select_related("biller", "account").get(pk=line_id)
    )


def lock_proxy_batch(batch_id: int) -> ProxyBatch:
    return ProxyBatch.objects.select_for_update().get(pk=batch_id)


def lock_bank_trade(trade_no: str) -> SandboxBankTrade:
    return SandboxBankTrade.objects.select_for_update().get(trade_no=trade_no)


def lock_bank_trade_of_merchant_order(merchant_order_no: str) -> SandboxBankTrade | None:
    return SandboxBankTrade.objects.select_for_update().filter(merchant_order_no=merchant_order_no).first()
