"""The cluster run's data and its checks, inside Django with the cluster's environment (deploy/cluster.py).

`seed()` builds on the deploy walk's seed (deploy/walk_data.py: an admin, the demo region's billers and
branches, a branch clerk with TOTP, the sandbox partner): more clerks, one per counter user of the load,
many water accounts with one open bill each (the channels share them, so two channels do race for one
bill), and the water company's webhook pointed at the run's receiver.

`verify()` reads back what the run did and judges it against the load generator's record of the payments
it was answered (deploy/cluster_load.py writes one JSON line per answer).
"""

from __future__ import annotations

import datetime
import random
from collections import Counter
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone
from walk_data import WATER
from walk_data import seed as walk_seed


def seed(*, accounts: int, clerks: int, webhook_url: str) -> dict:
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from api import credentials, services
    from api.models import BillerApiAccess
    from billing import roles
    from billing.audit import record_audit
    from billing.models import Bill, Biller, CustomerAccount
    from branches.choices import BranchRole
    from branches.models import Branch, BranchStaff
    from demo import data

    walk = walk_seed()
    User = get_user_model()
    rng = random.Random("cluster")
    today = timezone.localdate()
    period = (today.replace(day=1) - datetime.timedelta(days=1)).strftime("%Y-%m")
    water = Biller.objects.get(code=WATER)
    spec = data.BILLERS_BY_CODE[WATER]
    admin = User.objects.get(username="walk_admin")
    with transaction.atomic():
        branch = Branch.objects.get(pk=BranchStaff.objects.get(user__username="walk_clerk").branch_id)
        staff = []
        for number in range(clerks):
            secret = generate_totp_secret()
            password = f"cluster-{rng.getrandbits(64):x}"
            clerk = User.objects.create_user(
                f"cluster_clerk{number}", f"cluster_clerk{number}@billpay.invalid", password, is_staff=True
            )
            clerk.groups.add(Group.objects.get(name=roles.BRANCH_CLERK))
            BranchStaff.objects.create(user=clerk, branch=branch, role=BranchRole.CLERK)
            TOTP.activate(clerk, secret)
            staff.append({"username": clerk.username, "password": password, "totp_secret": secret})
        rows = []
        for index in range(accounts):
            new = spec.new_account(800_000 + index, random.Random(f"cluster-{index}"), today)
            rows.append(
                CustomerAccount(
                    biller=water, account_no=new.account_no, holder_name=new.holder_name, address=new.address
                )
            )
        made = CustomerAccount.objects.bulk_create(rows)
        amounts = {}
        bills = []
        for account in made:
            amount = Decimal(rng.randrange(1_000, 30_000)) / 100
            amounts[account.account_no] = str(amount)
            bills.append(
                Bill(
                    biller=water,
                    account=account,
                    period=period,
                    amount_due=amount,
                    due_date=today + datetime.timedelta(days=20),
                    description="集群演练 cluster run",
                )
            )
        Bill.objects.bulk_create(bills)
        access = services.ensure_biller_api_access(biller=water, actor=admin, webhook_url=webhook_url)
        if access.webhook_url != webhook_url or not access.enabled:
            BillerApiAccess.objects.filter(pk=access.pk).update(webhook_url=webhook_url, enabled=True)
            record_audit(actor=admin, action="api.biller_access_changed", target=access)
            access.refresh_from_db()
    return {
        "biller": WATER,
        "accounts": amounts,
        "clerks": staff,
        "partner": walk["partner"],
        "webhook_secret": credentials.webhook_secret_for(access),
    }


def unapplied_bank_payments() -> list[str]:
    """Trades the sandbox bank took money for whose order the platform has not settled: still pending, or a
    line still waiting. Applied means by the bank's notification or by the platform's trade query."""
    from payers.choices import BankTradeStatus, LineOutcome, OrderStatus
    from payers.models import GatewayOrder, SandboxBankTrade

    paid = dict(
        SandboxBankTrade.objects.filter(status=BankTradeStatus.SUCCESS).values_list(
            "merchant_order_no", "trade_no"
        )
    )
    waiting = GatewayOrder.objects.filter(order_no__in=list(paid)).filter(
        Q(status=OrderStatus.PENDING) | Q(lines__outcome=LineOutcome.WAITING)
    )
    return sorted({paid[order_no] for order_no in waiting.values_list("order_no", flat=True)})


def quiet(*, since) -> dict:
    """What is still in flight: orders waiting for the bank's word, unpublished events, undelivered hooks."""
    from api.choices import DeliveryStatus
    from api.models import WebhookDelivery
    from billing.models import OutboxEvent

    return {
        "bank_payments_not_applied": len(unapplied_bank_payments()),
        "events_unpublished": OutboxEvent.objects.filter(published_at__isnull=True).count(),
        "webhooks_undelivered": WebhookDelivery.objects.exclude(status=DeliveryStatus.DELIVERED).count(),
    }


def verify(answers: list[dict], received: dict[str, int]) -> dict:
    """Judge the run. `answers`: every payment the load generator was answered 2xx for, as
    {"kind", "key", "receipt_no" or "trade_no"}; `received`: event id → deliveries the receiver took."""
    from api.choices import DeliveryStatus
    from api.models import WebhookDelivery
    from billing.ledger_alerts import check_ledger
    from billing.models import Bill, OutboxEvent, Payment, PaymentAllocation
    from payers.choices import BankTradeStatus, LineOutcome, OrderStatus
    from payers.models import GatewayOrder, SandboxBankTrade

    problems: list[str] = []
    lost = duplicated = 0
    # Every answered payment is there exactly once.
    receipts = [a["receipt_no"] for a in answers if a.get("receipt_no")]
    found = Counter(
        Payment.objects.filter(receipt_no__in=receipts).values_list("receipt_no", flat=True).iterator()
    )
    for receipt in receipts:
        if found[receipt] == 0:
            lost += 1
            problems.append(f"answered payment {receipt} is not in the ledger")
    partner_keys = [a["key"] for a in answers if a["kind"] == "partner"]
    by_key = Counter(a["key"] for a in answers if a["kind"] == "partner")
    for key, times in by_key.items():
        receipts_for_key = {a["receipt_no"] for a in answers if a["kind"] == "partner" and a["key"] == key}
        if len(receipts_for_key) > 1:
            duplicated += 1
            problems.append(
                f"idempotency key {key} answered with {len(receipts_for_key)} receipts ({times}x)"
            )
    doubled = (
        Payment.objects.values("channel", "idempotency_key")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("channel", "idempotency_key", "n")
    )
    for channel, key, n in doubled:
        duplicated += 1
        problems.append(f"{channel} payment key {key} posted {n} times")
    # Guest payments: the bank said paid; the platform applied its notification, once.
    trades = [a["trade_no"] for a in answers if a["kind"] == "guest"]
    by_trade = {t.trade_no: t for t in SandboxBankTrade.objects.filter(trade_no__in=trades)}
    orders = {
        o.order_no: o
        for o in GatewayOrder.objects.filter(order_no__in=[t.merchant_order_no for t in by_trade.values()])
    }
    for trade_no in trades:
        trade = by_trade.get(trade_no)
        order = orders.get(trade.merchant_order_no) if trade else None
        if trade is None or order is None or trade.status != BankTradeStatus.SUCCESS:
            lost += 1
            problems.append(f"guest payment {trade_no}: the bank has no paid trade or the platform no order")
            continue
        waiting = order.lines.filter(outcome=LineOutcome.WAITING).count()
        if order.status == OrderStatus.PENDING or waiting:
            lost += 1
            problems.append(f"order {order.order_no}: the bank's payment was never applied ({order.status})")
    notifications = SandboxBankTrade.objects.filter(status=BankTradeStatus.SUCCESS)
    unapplied = unapplied_bank_payments()
    if unapplied:
        problems.append(f"{len(unapplied)} bank payments never applied to their orders: {unapplied[:10]}")
    # No bill overpaid: by its own running total (which a database constraint also bounds) and by the sum of
    # the allocations the payments made to it (reversals are negative allocations).
    overpaid_bills = set(
        Bill.objects.filter(amount_paid__gt=F("amount_due") + F("late_fee")).values_list("pk", flat=True)
    )
    overpaid_bills |= set(
        PaymentAllocation.objects.filter(bill__isnull=False)
        .values("bill")
        .annotate(total=Sum("amount"))
        .filter(total__gt=F("bill__amount_due") + F("bill__late_fee"))
        .values_list("bill", flat=True)
    )
    overpaid = len(overpaid_bills)
    if overpaid:
        problems.append(f"{overpaid} bills paid beyond what they ask: {sorted(overpaid_bills)[:10]}")
    # The ledger balances (the nightly check's own function).
    ledger = check_ledger()
    if not ledger["balanced"]:
        problems.append(f"ledger unbalanced: {ledger}")
    # Webhooks: every payment event has a delivered delivery, and the receiver took each id at least once.
    events = list(
        OutboxEvent.objects.filter(type__in=("payment.posted", "payment.reversed")).values_list(
            "id", flat=True
        )
    )
    undelivered = WebhookDelivery.objects.exclude(status=DeliveryStatus.DELIVERED).count()
    missing = [str(e) for e in events if received.get(str(e), 0) == 0]
    if undelivered or missing:
        problems.append(f"webhooks: {undelivered} not delivered, {len(missing)} events never received")
    redelivered = sum(1 for count in received.values() if count > 1)
    total = Payment.objects.aggregate(n=Count("id"), amount=Sum("amount"))
    return {
        "lost": lost,
        "duplicated": duplicated,
        "overpaid": overpaid,
        "answered": len(answers),
        "answered_by_kind": dict(Counter(a["kind"] for a in answers)),
        "partner_keys": len(set(partner_keys)),
        "payments": total["n"],
        "amount": str(total["amount"] or 0),
        "paid_bank_trades": notifications.count(),
        "bank_notifications_acknowledged": notifications.filter(notified=True).count(),
        "bank_payments_applied_by_the_trade_query": notifications.filter(notified=False).count(),
        "ledger": ledger,
        "events": len(events),
        "events_received": len(received),
        "events_received_more_than_once": redelivered,
        "deliveries": sum(received.values()),
        "problems": problems,
    }
