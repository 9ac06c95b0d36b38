"""Partners, API credentials, idempotency records and biller webhooks."""

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from api.choices import CredentialStatus, DeliveryStatus, PartnerStatus, WebhookEvent
from billing.models import Biller, BillerCategory, Payment
from billing.money import ZERO, money_field_kwargs

MONEY = money_field_kwargs()

partner_code_validator = RegexValidator(
    r"^[A-Z0-9][A-Z0-9_-]{1,31}$",
    _("Use 2 to 32 capital letters, digits, dashes or underscores."),
)


def default_rate_limit() -> int:
    return settings.API_DEFAULT_RATE_LIMIT_PER_MINUTE


class Partner(models.Model):
    """A channel partner (super-app, bank, retailer) that takes payments for billers through the API."""

    code = models.CharField(
        _("code"),
        max_length=32,
        unique=True,
        validators=[partner_code_validator],
        help_text=_("Prefix of the partner's idempotency keys and its statements' channel (PARTNER:CODE)."),
    )
    name = models.CharField(_("name"), max_length=120)
    status = models.CharField(
        _("status"), max_length=16, choices=PartnerStatus.choices, default=PartnerStatus.ACTIVE
    )
    status_reason = models.CharField(_("reason for the status"), max_length=200, blank=True)
    allowed_billers = models.ManyToManyField(
        Biller,
        blank=True,
        related_name="+",
        verbose_name=_("allowed billers"),
        help_text=_("The partner reaches these billers, and every biller of the allowed categories."),
    )
    allowed_categories = models.ManyToManyField(
        BillerCategory,
        blank=True,
        related_name="+",
        verbose_name=_("allowed categories"),
        help_text=_("A top-level category allows its sub-categories too."),
    )
    ip_allowlist = models.TextField(
        _("IP allow-list"),
        blank=True,
        help_text=_("Addresses or networks (CIDR), one a line. Empty: any address."),
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        _("requests per minute"),
        default=default_rate_limit,
        validators=[MinValueValidator(1), MaxValueValidator(100_000)],
    )
    contact_name = models.CharField(_("contact person"), max_length=60, blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    webhook_url = models.URLField(
        _("webhook URL"),
        blank=True,
        help_text=_("Changes to the partner's disputes are sent here (dispute.updated, dispute.resolved)."),
    )
    webhook_seed = models.CharField(_("webhook seed"), max_length=64, default="", editable=False)
    is_sandbox = models.BooleanField(_("sandbox"), default=False)
    checkout_notify_url = models.URLField(
        _("hosted checkout notification URL"),
        blank=True,
        help_text=_("Paid hosted checkouts are notified here (signed POST). Empty: none."),
    )
    agent_operator = models.ForeignKey(
        "branches.Operator",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("agent app of operator"),
        help_text=_(
            "The operator whose agents' app this partner runs: it may take payments for those agents out of "
            "their floats (POST /api/v1/partner/agent-payments)."
        ),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("partner")
        verbose_name_plural = _("partners")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def channel_code(self) -> str:
        return f"PARTNER:{self.code}"


class PartnerCommission(models.Model):
    """What a partner earns for a payment it takes: fixed + amount × percentage within [min, max], from a
    date on; for one biller, one category, or (neither) every biller. Rows are never edited."""

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="commissions", verbose_name=_("partner")
    )
    biller = models.ForeignKey(
        Biller, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("biller")
    )
    category = models.ForeignKey(
        BillerCategory,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("category"),
    )
    fixed_fee = models.DecimalField(_("fixed commission"), default=ZERO, **MONEY)
    percentage = models.DecimalField(
        _("percentage of the amount"),
        max_digits=5,
        decimal_places=4,
        default=0,
        help_text=_("A fraction of the amount: 0.0030 is 0.30%."),
    )
    min_fee = models.DecimalField(_("least commission"), default=ZERO, **MONEY)
    max_fee = models.DecimalField(_("most commission"), null=True, blank=True, **MONEY)
    valid_from = models.DateField(_("valid from"))

    class Meta:
        ordering = ["partner", "-valid_from"]
        verbose_name = _("partner commission")
        verbose_name_plural = _("partner commissions")
        constraints = [
            models.CheckConstraint(
                condition=Q(fixed_fee__gte=0)
                & Q(min_fee__gte=0)
                & Q(percentage__gte=0)
                & Q(percentage__lt=1),
                name="partner_commission_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(max_fee__isnull=True) | Q(max_fee__gte=F("min_fee")),
                name="partner_commission_max_not_below_min",
            ),
            models.CheckConstraint(
                condition=Q(biller__isnull=True) | Q(category__isnull=True),
                name="partner_commission_biller_or_category",
            ),
        ]

    def __str__(self) -> str:
        target = self.biller or self.category or _("every biller")
        return f"{self.partner.code} {target} {self.valid_from:%Y-%m-%d}"


class BillerApiAccess(models.Model):
    """A biller's use of the biller API: on or off, where its webhooks go, its limits."""

    biller = models.OneToOneField(
        Biller, on_delete=models.CASCADE, related_name="api_access", verbose_name=_("biller")
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    webhook_url = models.URLField(
        _("webhook URL"), blank=True, help_text=_("Payments posted and reversed are sent here. Empty: none.")
    )
    webhook_seed = models.CharField(_("webhook seed"), max_length=64, default="", editable=False)
    ip_allowlist = models.TextField(
        _("IP allow-list"),
        blank=True,
        help_text=_("Addresses or networks (CIDR), one a line. Empty: any address."),
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        _("requests per minute"),
        default=default_rate_limit,
        validators=[MinValueValidator(1), MaxValueValidator(100_000)],
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["biller__code"]
        verbose_name = _("biller API access")
        verbose_name_plural = _("biller API access")

    def __str__(self) -> str:
        return str(self.biller)


def new_key_id() -> str:
    alphabet = "ABCDEFGHJKMNPQRSTVWXYZ0123456789"
    return "AK" + "".join(secrets.choice(alphabet) for _ in range(22))


def new_seed() -> str:
    return secrets.token_hex(32)


class ApiCredential(models.Model):
    """A key id and its HMAC secret, owned by a partner or by a biller.

    The secret is not stored: `seed` is random and the secret is HMAC-SHA256(API_CREDENTIAL_KEY, seed)
    (`api.credentials`), so a copy of the database alone reveals no secret. After a rotation the old key
    keeps working until `expires_at`.
    """

    key_id = models.CharField(_("key id"), max_length=32, unique=True, default=new_key_id, editable=False)
    seed = models.CharField(_("seed"), max_length=64, default=new_seed, editable=False)
    partner = models.ForeignKey(
        Partner,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="credentials",
        verbose_name=_("partner"),
    )
    biller_access = models.ForeignKey(
        BillerApiAccess,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="credentials",
        verbose_name=_("biller"),
    )
    label = models.CharField(_("label"), max_length=80, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=CredentialStatus.choices, default=CredentialStatus.ACTIVE
    )
    expires_at = models.DateTimeField(
        _("expires"),
        null=True,
        blank=True,
        help_text=_("Set when the key is rotated: the overlap ends here."),
    )
    replaced_by = models.OneToOneField(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="replaces",
        editable=False,
        verbose_name=_("replaced by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API credential")
        verbose_name_plural = _("API credentials")
        constraints = [
            models.CheckConstraint(
                condition=(Q(partner__isnull=False) & Q(biller_access__isnull=True))
                | (Q(partner__isnull=True) & Q(biller_access__isnull=False)),
                name="api_credential_one_owner",
            )
        ]

    def __str__(self) -> str:
        return self.key_id

    @property
    def owner(self):
        return self.partner or self.biller_access

    def usable_at(self, moment) -> bool:
        if self.status != CredentialStatus.ACTIVE:
            return False
        return self.expires_at is None or moment < self.expires_at


class IdempotencyRecord(models.Model):
    """The first answer to a request with an Idempotency-Key, replayed for every retry of it."""

    scope = models.CharField(max_length=64)  # "partner:ACME" / "biller:BJ-WATER"
    key = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_unique_per_scope")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"


class PartnerReversal(models.Model):
    """A reversal asked for by a partner: its own reference for the refund, for its statement."""

    payment = models.OneToOneField(
        Payment, on_delete=models.PROTECT, related_name="partner_reversal", verbose_name=_("payment")
    )
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="reversals", verbose_name=_("partner")
    )
    reversal_ref = models.CharField(_("partner's reversal reference"), max_length=64)
    reason = models.CharField(_("reason"), max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "reversal_ref"], name="partner_reversal_ref_unique")
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.reversal_ref}"


class WebhookDelivery(models.Model):
    """One event for one receiver, and how sending it went: a biller's webhook (a payment's event), a
    partner's webhook (a dispute's, signed with the partner's webhook secret) or a partner's hosted checkout
    notification (signed with the key that signed its link, api.checkout)."""

    biller_access = models.ForeignKey(
        BillerApiAccess,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
        verbose_name=_("biller access"),
    )
    credential = models.ForeignKey(
        ApiCredential,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
        verbose_name=_("partner's key"),
    )
    partner = models.ForeignKey(
        Partner,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhook_deliveries",
        verbose_name=_("partner"),
    )
    event = models.CharField(_("event"), max_length=32, choices=WebhookEvent.choices)
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("payment")
    )
    event_id = models.CharField(_("event id"), max_length=40, unique=True)
    payload = models.JSONField(_("payload"))
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    # While `sending`: the claim of one sender; past it the sender is taken for dead and the delivery is
    # due again (api.webhooks.claim).
    lease_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["biller_access", "payment", "event"], name="webhook_delivery_once_per_event"
            ),
            models.CheckConstraint(
                condition=Q(biller_access__isnull=False, credential__isnull=True, partner__isnull=True)
                | Q(biller_access__isnull=True, credential__isnull=False, partner__isnull=True)
                | Q(biller_access__isnull=True, credential__isnull=True, partner__isnull=False),
                name="webhook_delivery_one_receiver",
            ),
        ]

    def __str__(self) -> str:
        if self.biller_access_id:
            receiver = self.biller_access.biller.code
        else:
            receiver = (self.partner or self.credential.partner).code
        subject = self.payment_id or self.payload.get("dispute", {}).get("ref", "")
        return f"{self.event} {subject} → {receiver}"

    @property
    def url(self) -> str:
        if self.biller_access_id:
            return self.biller_access.webhook_url
        if self.credential_id:
            return self.credential.partner.checkout_notify_url
        return self.partner.webhook_url


class WebhookAttempt(models.Model):
    """One try at sending a delivery: the delivery log."""

    delivery = models.ForeignKey(
        WebhookDelivery,
        on_delete=models.CASCADE,
        related_name="attempt_log",
        verbose_name=_("webhook delivery"),
    )
    attempted_at = models.DateTimeField(_("when"), default=timezone.now)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    manual = models.BooleanField(_("manual redelivery"), default=False)

    class Meta:
        ordering = ["-attempted_at"]
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.attempted_at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error}"


class PartnerReturnUrl(models.Model):
    """Where a partner's hosted checkout may send the payer back: origin and path matched exactly, so that
    a signed link cannot make the platform an open redirect to anywhere else."""

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="return_urls", verbose_name=_("partner")
    )
    url = models.URLField(_("return URL"), max_length=300, help_text=_("https://host/path, no query."))
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["partner", "url"]
        verbose_name = _("hosted checkout return URL")
        verbose_name_plural = _("hosted checkout return URLs")
        constraints = [models.UniqueConstraint(fields=["partner", "url"], name="partner_return_url_unique")]

    def __str__(self) -> str:
        return self.url

    def clean(self):
        from urllib.parse import urlsplit

        from django.core.exceptions import ValidationError

        parts = urlsplit(self.url or "")
        if parts.query or parts.fragment or "@" in parts.netloc:
            raise ValidationError({"url": _("Register the address without query, fragment or user name.")})


def new_checkout_token() -> str:
    """The hosted checkout page's address: 192 random bits."""
    return secrets.token_urlsafe(24)


class HostedCheckout(models.Model):
    """A partner's signed link, accepted once: what it asks to pay, where the payer goes back, and the
    portal's gateway order that pays it (ONLINE channel; the partner is recorded here, see
    docs/partner-api.md, Hosted checkout)."""

    token = models.CharField(
        _("page token"), max_length=64, unique=True, default=new_checkout_token, editable=False
    )
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="checkouts", verbose_name=_("partner")
    )
    credential = models.ForeignKey(
        ApiCredential, on_delete=models.PROTECT, related_name="+", verbose_name=_("signed with key")
    )
    partner_order_id = models.CharField(_("partner's order id"), max_length=64)
    nonce = models.CharField(_("nonce"), max_length=64)
    biller = models.ForeignKey(Biller, on_delete=models.PROTECT, related_name="+", verbose_name=_("biller"))
    account = models.ForeignKey(
        "billing.CustomerAccount", on_delete=models.PROTECT, related_name="+", verbose_name=_("account")
    )
    periods = models.JSONField(_("bill periods"), default=list, blank=True)
    amount = models.DecimalField(_("amount"), **MONEY)
    return_url = models.URLField(_("return URL"), max_length=300)
    order = models.OneToOneField(
        "payers.GatewayOrder",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="hosted_checkout",
        verbose_name=_("gateway order"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("hosted checkout")
        verbose_name_plural = _("hosted checkouts")
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "partner_order_id"], name="hosted_checkout_order_once"
            ),
            models.UniqueConstraint(fields=["partner", "nonce"], name="hosted_checkout_nonce_once"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="hosted_checkout_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.partner_order_id}"
