"""Row locks of the portal. An order is locked before anything it pays, so the order → customer account →
bills order of billing.locks is kept: posting the order's lines locks accounts and bills after it. A proxy
batch is locked before the order it starts; a sandbox-bank trade or agreement on its own. An auto-pay debit
is locked before its mandate is read; posting it then locks the account and the bills (billing.locks). A
family link is locked before the order its member starts. An order is locked before its QR handoffs are
replaced; a handoff is locked on its own when a device claims it."""

from payers.models import (
    FamilyLink,
    GatewayOrder,
    Mandate,
    MandateDebit,
    OrderHandoff,
    OrderLine,
    ProxyBatch,
    SandboxBankAgreement,
    SandboxBankTrade,
)


def lock_order_by_no(order_no: str) -> GatewayOrder | None:
    return GatewayOrder.objects.select_for_update().filter(order_no=order_no).first()


def lock_order_line(line_id: int) -> OrderLine:
    return OrderLine.objects.select_for_update(of=("self",)).select_related("order").get(pk=line_id)


def lock_order_lines_to_post(line_ids: list[int]) -> list[OrderLine]:
    """Lines of a paid order, in id order, with what posting them needs (their biller and account)."""
    return list(
        OrderLine.objects.select_for_update(of=("self",))
        .select_related("biller", "account")
        .filter(pk__in=line_ids)
        .order_by("pk")
    )


def lock_proxy_batch(batch_id: int) -> ProxyBatch:
    return ProxyBatch.objects.select_for_update().get(pk=batch_id)


def lock_bank_trade(trade_no: str) -> SandboxBankTrade:
    return SandboxBankTrade.objects.select_for_update().get(trade_no=trade_no)


def lock_bank_trade_of_merchant_order(merchant_order_no: str) -> SandboxBankTrade | None:
    return SandboxBankTrade.objects.select_for_update().filter(merchant_order_no=merchant_order_no).first()


def lock_bank_agreement(agreement_no: str) -> SandboxBankAgreement | None:
    return SandboxBankAgreement.objects.select_for_update().filter(agreement_no=agreement_no).first()


def lock_mandate(mandate_id: int) -> Mandate:
    return Mandate.objects.select_for_update().get(pk=mandate_id)


def lock_mandates_awaiting_agreement(*, user, account, status: str) -> list[Mandate]:
    return list(Mandate.objects.select_for_update().filter(user=user, account=account, status=status))


def lock_mandate_of_agreement(*, user, gateway: str, public_id) -> Mandate | None:
    return Mandate.objects.select_for_update().filter(user=user, gateway=gateway, public_id=public_id).first()


def lock_mandate_at_gateway(*, gateway: str, public_id) -> Mandate | None:
    """The mandate a bank's server notification names (no signed-in citizen: the bank's signature vouches)."""
    return Mandate.objects.select_for_update().filter(gateway=gateway, public_id=public_id).first()


def lock_debit(debit_id: int) -> MandateDebit:
    return (
        MandateDebit.objects.select_for_update(of=("self",))
        .select_related("mandate__account__biller", "bill")
        .get(pk=debit_id)
    )


def lock_family_link(link_id: int) -> FamilyLink:
    return FamilyLink.objects.select_for_update().get(pk=link_id)


def lock_family_link_invited(invite_token: str) -> FamilyLink | None:
    return FamilyLink.objects.select_for_update().filter(invite_token=invite_token).first()


def lock_handoff(token_hash: str) -> OrderHandoff | None:
    """A QR handoff while it is claimed (payers.handoff): two devices opening it at once, one wins."""
    return (
        OrderHandoff.objects.select_for_update(of=("self",))
        .select_related("order")
        .filter(token_hash=token_hash)
        .first()
    )
