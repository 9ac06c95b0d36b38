"""The people who pay: citizens with a login, and guests identified only by their payments."""

import datetime
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models import random_crockford
from billing.money import money_field_kwargs
from payers.choices import (
    AgreementStatus,
    BankTradeStatus,
    DebitStatus,
    FamilyLinkStatus,
    LineOutcome,
    MandateStatus,
    NotificationResult,
    OrderKind,
    OrderStatus,
)

MONEY = money_field_kwargs()


class Payer(models.Model):
    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payer",
        verbose_name=_("user"),
    )
    display_name = models.CharField(_("name"), max_length=100, blank=True)
    mobile = models.CharField(_("mobile number"), max_length=20, blank=True)
    mobile_verified = models.BooleanField(_("mobile number verified"), default=False)
    email = models.EmailField(_("email"), blank=True)
    language = models.CharField(
        _("preferred language"),
        max_length=10,
        choices=settings.LANGUAGES,
        default=settings.LANGUAGE_CODE,
        help_text=_("The language of the portal they use; notices and reminders are written in it."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("payer")
        verbose_name_plural = _("payers")

    def __str__(self) -> str:
        return self.display_name or self.mobile or self.email or str(self.public_id)


def new_order_no() -> str:
    """P + date + 12 random base-32 characters: the merchant order number the bank sees."""
    return f"P{timezone.localdate():%Y%m%d}{random_crockford(12)}"


def new_access_token() -> str:
    """The unguessable part of an order's URL: 192 random bits."""
    return secrets.token_urlsafe(24)


class GatewayOrder(models.Model):
    """One checkout: what the payer asked the bank to take, in one or several lines (bills, a top-up, a
    donation, a batch of residents). Payments are posted per line, and only on a verified notification."""

    order_no = models.CharField(_("order number"), max_length=32, unique=True, default=new_order_no)
    access_token = models.CharField(
        _("access token"), max_length=64, unique=True, default=new_access_token, editable=False
    )
    gateway = models.CharField(_("gateway"), max_length=16)
    kind = models.CharField(_("kind"), max_length=16, choices=OrderKind.choices, default=OrderKind.BILLS)
    status = models.CharField(
        _("status"), max_length=16, choices=OrderStatus.choices, default=OrderStatus.PENDING
    )
    amount = models.DecimalField(_("amount"), **MONEY)
    subject = models.CharField(_("subject"), max_length=120)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="gateway_orders",
        verbose_name=_("signed-in payer"),
    )
    payer = models.ForeignKey(
        Payer, on_delete=models.PROTECT, null=True, blank=True, related_name="orders", verbose_name=_("payer")
    )
    trade_no = models.CharField(_("bank's trade number"), max_length=64, blank=True)
    family_link = models.ForeignKey(
        "payers.FamilyLink",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("family payment"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("gateway order")
        verbose_name_plural = _("gateway orders")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="order_amount_positive")]

    def __str__(self) -> str:
        return self.order_no

    @property
    def expires_at(self):
        """The end of the payer's time to pay at the bank (the bank is told it and takes no money after)."""
        return self.created_at + datetime.timedelta(minutes=settings.PORTAL_ORDER_TIMEOUT_MINUTES)


class OrderLine(models.Model):
    """What one line of an order pays, and what became of its money."""

    order = models.ForeignKey(
        GatewayOrder, on_delete=models.PROTECT, related_name="lines", verbose_name=_("order")
    )
    line_no = models.PositiveSmallIntegerField(_("line"))
    biller = models.ForeignKey(
        "billing.Biller", on_delete=models.PROTECT, related_name="+", verbose_name=_("biller")
    )
    account = models.ForeignKey(
        "billing.CustomerAccount",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("customer account"),
    )
    periods = models.JSONField(_("bill periods"), default=list, blank=True)
    amount = models.DecimalField(_("amount"), **MONEY)
    note = models.CharField(_("note"), max_length=100, blank=True)
    anonymous = models.BooleanField(_("anonymous"), default=False)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=LineOutcome.choices, default=LineOutcome.WAITING
    )
    refusal_code = models.CharField(_("why the bill was not paid"), max_length=40, blank=True)
    sub_trade_no = models.CharField(_("bank's sub-trade number"), max_length=64, blank=True)
    payment = models.OneToOneField(
        "billing.Payment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="order_line",
        verbose_name=_("payment"),
    )
    refund_no = models.CharField(_("refund number"), max_length=64, blank=True)
    refunded_at = models.DateTimeField(_("refunded"), null=True, blank=True)

    class Meta:
        ordering = ["order", "line_no"]
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        constraints = [
            models.UniqueConstraint(fields=["order", "line_no"], name="order_line_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="order_line_amount_positive"),
        ]
        indexes = [models.Index(fields=["outcome"], name="order_line_outcome")]

    def __str__(self) -> str:
        return f"{self.order.order_no}-{self.line_no:04d}"

    @property
    def idempotency_key(self) -> str:
        """`<GATEWAY>:<order no>-<line>`: one key per posted payment (docs/statement-format.md)."""
        return f"{self.order.gateway}:{self.order.order_no}-{self.line_no:04d}"


class GatewayNotification(models.Model):
    """Every server notification a gateway sent, kept whole: duplicates, late ones and forgeries too."""

    order = models.ForeignKey(
        GatewayOrder, on_delete=models.PROTECT, null=True, blank=True, related_name="notifications"
    )
    gateway = models.CharField(_("gateway"), max_length=16)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    payload = models.JSONField(_("payload"), default=dict)
    verified = models.BooleanField(_("signature verified"), default=False)
    result = models.CharField(_("result"), max_length=16, choices=NotificationResult.choices)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("gateway notification")
        verbose_name_plural = _("gateway notifications")

    def __str__(self) -> str:
        return f"{self.gateway} {self.payload.get('out_trade_no', '?')} {self.result}"


class BoundAccount(models.Model):
    """An account (户号) a signed-in citizen keeps in "My accounts", under a label of their own."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bound_accounts"
    )
    account = models.ForeignKey("billing.CustomerAccount", on_delete=models.CASCADE, related_name="+")
    label = models.CharField(_("label"), max_length=40, help_text=_("For example: home water, mum's power."))
    reminders = models.BooleanField(_("send reminders"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("bound account")
        verbose_name_plural = _("bound accounts")
        constraints = [models.UniqueConstraint(fields=["user", "account"], name="bound_account_unique")]

    def __str__(self) -> str:
        return self.label


class ReminderSent(models.Model):
    """One reminder of one kind for one bill to one citizen: the unique row makes reminders idempotent."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    bill = models.ForeignKey("billing.Bill", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=16)
    channels = models.CharField(_("sent by"), max_length=40)
    sent_at = models.DateTimeField(_("sent"), default=timezone.now)

    class Meta:
        verbose_name = _("reminder sent")
        verbose_name_plural = _("reminders sent")
        constraints = [
            models.UniqueConstraint(fields=["user", "bill", "kind"], name="reminder_once_per_bill_kind")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.bill_id} → {self.user_id}"


class SandboxBankTrade(models.Model):
    """The built-in sandbox bank's own book of trades. It stands for an outside bank: the portal never
    reads it, and learns of a trade only through signed messages, as it would from a real one."""

    trade_no = models.CharField(max_length=32, unique=True)
    merchant_order_no = models.CharField(max_length=32, unique=True)
    amount = models.DecimalField(**MONEY)
    subject = models.CharField(max_length=120)
    sub_orders = models.JSONField(default=list)
    notify_url = models.URLField(max_length=500)
    return_url = models.URLField(max_length=500)
    status = models.CharField(max_length=16, choices=BankTradeStatus.choices, default=BankTradeStatus.WAITING)
    created_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    notify_attempts = models.PositiveIntegerField(default=0)
    notified = models.BooleanField(default=False)
    refunds = models.JSONField(default=list)
    agreement_no = models.CharField(max_length=32, blank=True)  # an agreement debit's (代扣), else empty

    class Meta:
        verbose_name = _("sandbox bank trade")
        verbose_name_plural = _("sandbox bank trades")

    def __str__(self) -> str:
        return self.trade_no


class ProxyBatch(models.Model):
    """A community officer's upload for batch proxy payment (代缴): validated rows, then one checkout."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="proxy_batches")
    biller = models.ForeignKey("billing.Biller", on_delete=models.PROTECT, related_name="+")
    file_name = models.CharField(_("file"), max_length=200)
    rows = models.JSONField(_("rows"), default=list)
    error_count = models.PositiveIntegerField(_("rows with errors"), default=0)
    total = models.DecimalField(_("total"), default=0, **MONEY)
    order = models.OneToOneField(
        GatewayOrder, on_delete=models.PROTECT, null=True, blank=True, related_name="proxy_batch"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("proxy payment batch")
        verbose_name_plural = _("proxy payment batches")

    def __str__(self) -> str:
        return f"{self.file_name} ({len(self.rows)})"


class ReceiptBundle(models.Model):
    """Every receipt of a big order (a proxy batch pays for thousands of residents) in one PDF. A task builds
    it with visible progress: thousands of pages take longer than a request may."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Being built")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    order = models.OneToOneField(GatewayOrder, on_delete=models.PROTECT, related_name="receipt_bundle")
    language = models.CharField(_("language"), max_length=10)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    pages_total = models.PositiveIntegerField(_("pages"), default=0)
    pages_done = models.PositiveIntegerField(_("pages built"), default=0)
    data = models.BinaryField(_("PDF"), editable=False, default=b"")
    message = models.CharField(_("message"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("receipt bundle")
        verbose_name_plural = _("receipt bundles")

    def __str__(self) -> str:
        return f"{self.order.order_no} ({self.pages_total})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return min(99, self.pages_done * 100 // self.pages_total) if self.pages_total else 0


class Mandate(models.Model):
    """Auto-pay (代扣): a citizen lets the platform pay each new bill of one of their accounts, up to a cap
    per bill, within a validity period, by debiting a funding source they signed an agreement for at the
    bank. The bank's agreement number is what every debit names (payers.mandates).

    Or a partner (a bank's or a wallet's app) sets one up for its own customer, named by the partner's opaque
    `customer_ref`: the partner is then the funding source (`gateway` PARTNER_FUNDING) and every debit is
    posted as a partner payment that the partner collects from its customer. Exactly one owner is set."""

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="mandates",
        verbose_name=_("citizen"),
    )
    # A partner's mandate: its partner's code (api.Partner.code; no key, payers is below api) and customer.
    partner_code = models.CharField(_("partner"), max_length=32, blank=True, db_index=True)
    customer_ref = models.CharField(_("partner's customer"), max_length=64, blank=True)
    account = models.ForeignKey(
        "billing.CustomerAccount", on_delete=models.PROTECT, related_name="+", verbose_name=_("account")
    )
    label = models.CharField(_("label"), max_length=40, blank=True)
    cap_per_bill = models.DecimalField(_("most per bill"), **MONEY)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"))
    notice_days = models.PositiveSmallIntegerField(
        _("notice days"), default=3, help_text=_("Days between the notice and the debit.")
    )
    gateway = models.CharField(_("funding source"), max_length=16)
    agreement_no = models.CharField(_("bank's agreement number"), max_length=64, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=MandateStatus.choices, default=MandateStatus.AWAITING_AGREEMENT
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("auto-pay mandate")
        verbose_name_plural = _("auto-pay mandates")
        constraints = [
            models.CheckConstraint(condition=Q(cap_per_bill__gt=0), name="mandate_cap_positive"),
            models.CheckConstraint(
                condition=Q(valid_until__gte=F("valid_from")), name="mandate_period_valid"
            ),
            models.UniqueConstraint(
                fields=["user", "account"],
                condition=Q(status__in=["awaiting", "active", "paused"]),
                name="mandate_one_live_per_account",
            ),
            models.UniqueConstraint(
                fields=["partner_code", "customer_ref", "account"],
                condition=Q(status__in=["awaiting", "active", "paused"], user__isnull=True),
                name="mandate_one_live_per_partner_customer_account",
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=False, partner_code="", customer_ref="")
                | (Q(user__isnull=True) & ~Q(partner_code="") & ~Q(customer_ref="")),
                name="mandate_exactly_one_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label or self.account_id} ≤ ¥{self.cap_per_bill}"


class MandateDebit(models.Model):
    """One bill a mandate pays (or was told not to): unique per (mandate, bill), so a bill is debited once.
    The merchant order number the bank sees and the payment's idempotency key are both derived from it."""

    mandate = models.ForeignKey(
        Mandate, on_delete=models.PROTECT, related_name="debits", verbose_name=_("mandate")
    )
    bill = models.ForeignKey(
        "billing.Bill", on_delete=models.PROTECT, related_name="+", verbose_name=_("bill")
    )
    amount = models.DecimalField(_("amount"), **MONEY)
    debit_on = models.DateField(_("debit on"))
    status = models.CharField(
        _("status"), max_length=16, choices=DebitStatus.choices, default=DebitStatus.SCHEDULED
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    notice_sent_at = models.DateTimeField(_("notice sent"), null=True, blank=True)
    trade_no = models.CharField(_("bank's trade number"), max_length=64, blank=True)
    payment = models.OneToOneField(
        "billing.Payment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="mandate_debit",
        verbose_name=_("payment"),
    )
    refusal_code = models.CharField(_("why it was not debited"), max_length=40, blank=True)
    message = models.CharField(_("message"), max_length=300, blank=True)
    refund_no = models.CharField(_("refund number"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        ordering = ["debit_on", "id"]
        verbose_name = _("auto-pay debit")
        verbose_name_plural = _("auto-pay debits")
        constraints = [
            models.UniqueConstraint(fields=["mandate", "bill"], name="mandate_debit_once_per_bill"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="mandate_debit_amount_not_negative"),
        ]
        indexes = [models.Index(fields=["status", "debit_on"], name="mandate_debit_status_due")]

    def __str__(self) -> str:
        return self.order_no

    @property
    def order_no(self) -> str:
        """The merchant order number the bank sees: the bank debits once per number."""
        return f"MD{self.pk:012d}"

    @property
    def idempotency_key(self) -> str:
        """One payment per (mandate, bill), whatever runs the debit and however often. A partner's mandate
        prefixes its partner's code, as every partner payment's key is (its statement and reconciliation
        find the partner's payments by that prefix)."""
        key = f"AUTOPAY:{self.mandate.public_id.hex}-{self.bill_id}"
        return f"{self.mandate.partner_code}:{key}" if self.mandate.partner_code else key


class SandboxBankAgreement(models.Model):
    """The sandbox bank's own book of agreement-debit agreements (代扣协议): signed once by the payer on the
    bank's page, then named by the merchant's server-to-server debits."""

    agreement_no = models.CharField(max_length=32, unique=True)
    merchant_agreement_no = models.CharField(max_length=64, unique=True)
    max_amount = models.DecimalField(**MONEY)
    valid_until = models.DateField()
    subject = models.CharField(max_length=120)
    return_url = models.URLField(max_length=500)
    status = models.CharField(max_length=16, choices=AgreementStatus.choices, default=AgreementStatus.WAITING)
    created_at = models.DateTimeField(default=timezone.now)
    signed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("sandbox bank agreement")
        verbose_name_plural = _("sandbox bank agreements")

    def __str__(self) -> str:
        return self.agreement_no


def new_invite_token() -> str:
    return secrets.token_urlsafe(24)


class FamilyLink(models.Model):
    """Family payment (亲情付): a citizen lets a family member see and pay the citizen's bound accounts,
    within limits per payment and per calendar month the citizen sets. Either side may end it
    (payers.family)."""

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="family_links_given",
        verbose_name=_("citizen"),
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="family_links_received",
        verbose_name=_("family member"),
    )
    label = models.CharField(_("who they are"), max_length=40, help_text=_("For example: my son."))
    invite_token = models.CharField(max_length=64, unique=True, default=new_invite_token, editable=False)
    per_payment_limit = models.DecimalField(_("most per payment"), **MONEY)
    monthly_limit = models.DecimalField(_("most per month"), **MONEY)
    status = models.CharField(
        _("status"), max_length=16, choices=FamilyLinkStatus.choices, default=FamilyLinkStatus.INVITED
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("family payment")
        verbose_name_plural = _("family payments")
        constraints = [
            models.CheckConstraint(condition=Q(per_payment_limit__gt=0), name="family_per_payment_positive"),
            models.CheckConstraint(
                condition=Q(monthly_limit__gte=F("per_payment_limit")), name="family_month_covers_payment"
            ),
        ]

    def __str__(self) -> str:
        return self.label


class OrderHandoff(models.Model):
    """Start here, finish there: a pending order handed from one device to another by a QR code. The
    token is shown once (in the QR) and kept only as its SHA-256; it is claimed once, before it expires."""

    order = models.ForeignKey(
        GatewayOrder, on_delete=models.CASCADE, related_name="handoffs", verbose_name=_("order")
    )
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    claimed_at = models.DateTimeField(_("continued on another device"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("order handoff")
        verbose_name_plural = _("order handoffs")

    def __str__(self) -> str:
        return f"{self.order_id} {self.created_at:%Y-%m-%d %H:%M:%S}"
