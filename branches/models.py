"""Outlets that take cash: their operators, branches and the staff who work the counters; the tills the
clerks open and close, the cash payments they take, planned closures, and cash-coverage alerts."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.money import ZERO, money_field_kwargs
from branches.choices import (
    AgentKind,
    AgentPaymentSource,
    AgentStatus,
    BranchRole,
    BranchStatus,
    ClosureStatus,
    OperatorKind,
    TillStatus,
)

MONEY = money_field_kwargs()


class Operator(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=24, choices=OperatorKind.choices)

    class Meta:
        ordering = ["code"]
        verbose_name = _("outlet operator")
        verbose_name_plural = _("outlet operators")

    def __str__(self) -> str:
        return self.name


class Branch(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=120)
    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="branches", verbose_name=_("operator")
    )
    district = models.CharField(_("district"), max_length=60)
    address = models.CharField(_("address"), max_length=200)
    latitude = models.DecimalField(
        _("latitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        _("longitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    opening_hours = models.CharField(_("opening hours"), max_length=120, blank=True)
    weekly_hours = models.JSONField(
        _("hours by weekday"),
        default=dict,
        blank=True,
        help_text=_('Weekday to hours, e.g. {"mon": "08:30-17:30", "sun": ""}; a missing day is closed.'),
    )
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=BranchStatus.choices, default=BranchStatus.OPEN
    )
    status_reason = models.CharField(_("reason for the status"), max_length=200, blank=True)
    status_since = models.DateField(_("status since"), null=True, blank=True)
    status_until = models.DateField(
        _("expected to reopen"), null=True, blank=True, help_text=_("For a temporary suspension.")
    )
    takes_all_billers = models.BooleanField(
        _("takes cash for every biller"),
        default=True,
        help_text=_("Otherwise only for the billers and categories listed."),
    )
    cash_billers = models.ManyToManyField(
        "billing.Biller", blank=True, related_name="cash_branches", verbose_name=_("billers taken")
    )
    cash_categories = models.ManyToManyField(
        "billing.BillerCategory",
        blank=True,
        related_name="cash_branches",
        verbose_name=_("biller categories taken"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("branch")
        verbose_name_plural = _("branches")
        indexes = [models.Index(fields=["district", "status"], name="branch_district_status")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def is_open(self) -> bool:
        return self.status == BranchStatus.OPEN


class BranchStaff(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="branch_roles",
        verbose_name=_("user"),
    )
    branch = models.ForeignKey(
        Branch, on_delete=models.CASCADE, related_name="staff", verbose_name=_("branch")
    )
    role = models.CharField(_("role"), max_length=16, choices=BranchRole.choices)

    class Meta:
        verbose_name = _("branch staff member")
        verbose_name_plural = _("branch staff")
        constraints = [models.UniqueConstraint(fields=["user", "branch"], name="branch_staff_unique")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.branch.code} ({self.get_role_display()})"


class BranchStatusChange(models.Model):
    """One row per status change of a branch: the history the public finder and the audit rely on."""

    branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, related_name="status_changes", verbose_name=_("branch")
    )
    from_status = models.CharField(_("from"), max_length=16, choices=BranchStatus.choices)
    to_status = models.CharField(_("to"), max_length=16, choices=BranchStatus.choices)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    effective_on = models.DateField(_("effective on"))
    until = models.DateField(_("until"), null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )
    created_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("branch status change")
        verbose_name_plural = _("branch status changes")

    def __str__(self) -> str:
        return f"{self.branch.code}: {self.get_from_status_display()} → {self.get_to_status_display()}"


class PlannedClosure(models.Model):
    """A suspension or closure announced ahead: the finder shows it from the day it is planned, and it
    takes effect on `starts_on` (a date in the future when it was planned)."""

    branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, related_name="planned_closures", verbose_name=_("branch")
    )
    to_status = models.CharField(
        _("becomes"),
        max_length=16,
        choices=[
            (BranchStatus.SUSPENDED, BranchStatus.SUSPENDED.label),
            (BranchStatus.CLOSED, BranchStatus.CLOSED.label),
        ],
    )
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("reopens on"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=200)
    status = models.CharField(
        _("status"), max_length=16, choices=ClosureStatus.choices, default=ClosureStatus.PLANNED
    )
    planned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("planned by"),
    )
    created_at = models.DateTimeField(_("announced"), default=timezone.now)

    class Meta:
        ordering = ["starts_on", "id"]
        verbose_name = _("planned closure")
        verbose_name_plural = _("planned closures")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gt=models.F("starts_on")),
                name="closure_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"{self.branch.code} {self.get_to_status_display()} {self.starts_on:%Y-%m-%d}"


class Till(models.Model):
    """A clerk's cash drawer for one business day: opened with a float, closed with a count."""

    branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, related_name="tills", verbose_name=_("branch")
    )
    clerk = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tills", verbose_name=_("clerk")
    )
    business_date = models.DateField(_("business date"))
    status = models.CharField(_("status"), max_length=16, choices=TillStatus.choices, default=TillStatus.OPEN)
    opening_float = models.DecimalField(_("opening float"), **MONEY)
    opened_at = models.DateTimeField(_("opened"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    expected_cash = models.DecimalField(_("expected cash"), null=True, blank=True, **MONEY)
    counted_cash = models.DecimalField(_("counted cash"), null=True, blank=True, **MONEY)
    variance = models.DecimalField(
        _("variance"),
        null=True,
        blank=True,
        **MONEY,
        help_text=_("Counted minus expected: negative is short."),
    )
    count = models.JSONField(_("count by denomination"), default=dict, blank=True)
    close_note = models.CharField(_("note on closing"), max_length=200, blank=True)
    variance_entry = models.ForeignKey(
        "billing.JournalEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("variance ledger entry"),
    )

    class Meta:
        ordering = ["-opened_at"]
        verbose_name = _("till")
        verbose_name_plural = _("tills")
        constraints = [
            models.UniqueConstraint(
                fields=["clerk"], condition=Q(status=TillStatus.OPEN), name="one_open_till_per_clerk"
            ),
            models.CheckConstraint(condition=Q(opening_float__gte=0), name="till_float_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.branch.code} {self.clerk} {self.business_date:%Y-%m-%d}"

    @property
    def is_open(self) -> bool:
        return self.status == TillStatus.OPEN


class CounterPayment(models.Model):
    """The counter's side of a cash payment: which till took it, the cash handed over and the change."""

    payment = models.OneToOneField(
        "billing.Payment", on_delete=models.PROTECT, related_name="counter", verbose_name=_("payment")
    )
    till = models.ForeignKey(Till, on_delete=models.PROTECT, related_name="payments", verbose_name=_("till"))
    branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, related_name="counter_payments", verbose_name=_("branch")
    )
    tendered = models.DecimalField(_("cash tendered"), **MONEY)
    change = models.DecimalField(_("change given"), default=ZERO, **MONEY)
    from_slip = models.BooleanField(_("paid with a slip"), default=False)
    notice_phone = models.CharField(
        _("phone for outlet notices"),
        max_length=20,
        blank=True,
        help_text=_("Left by the citizen at the counter, with their consent, to hear if the outlet closes."),
    )
    notice_consent_at = models.DateTimeField(_("consent to notices given"), null=True, blank=True)
    voided_at = models.DateTimeField(_("voided"), null=True, blank=True)
    void_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("void approved by"),
    )
    created_at = models.DateTimeField(_("taken"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("counter payment")
        verbose_name_plural = _("counter payments")

    def __str__(self) -> str:
        return str(self.payment_id)


class CoverageThreshold(models.Model):
    """The fewest open outlets that must take cash in a district (for each cash biller)."""

    district = models.CharField(_("district"), max_length=60, unique=True)
    min_open_outlets = models.PositiveIntegerField(_("fewest open outlets"))

    class Meta:
        ordering = ["district"]
        verbose_name = _("cash coverage threshold")
        verbose_name_plural = _("cash coverage thresholds")

    def __str__(self) -> str:
        return f"{self.district} ≥ {self.min_open_outlets}"


class CoverageAlert(models.Model):
    """Raised when fewer open outlets take cash for a biller in a district than its threshold."""

    district = models.CharField(_("district"), max_length=60)
    biller = models.ForeignKey(
        "billing.Biller", on_delete=models.PROTECT, related_name="+", verbose_name=_("biller")
    )
    open_outlets = models.PositiveIntegerField(_("open outlets"))
    threshold = models.PositiveIntegerField(_("threshold"))
    raised_at = models.DateTimeField(_("raised"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    emailed_at = models.DateTimeField(_("e-mailed"), null=True, blank=True)

    class Meta:
        ordering = ["-raised_at"]
        verbose_name = _("cash coverage alert")
        verbose_name_plural = _("cash coverage alerts")
        constraints = [
            models.UniqueConstraint(
                fields=["district", "biller"],
                condition=Q(resolved_at__isnull=True),
                name="one_open_coverage_alert",
            )
        ]

    def __str__(self) -> str:
        return f"{self.district} {self.biller_id}: {self.open_outlets}/{self.threshold}"


class OutletNotice(models.Model):
    """A payer told about a status change of an outlet they paid at: one per change and payer, so the
    notifying task can run twice."""

    status_change = models.ForeignKey(
        BranchStatusChange, on_delete=models.PROTECT, null=True, blank=True, related_name="notices"
    )
    closure = models.ForeignKey(
        PlannedClosure, on_delete=models.PROTECT, null=True, blank=True, related_name="notices"
    )
    payer = models.ForeignKey(
        "payers.Payer", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    language = models.CharField(_("language"), max_length=10, default=settings.LANGUAGE_CODE)
    sent_at = models.DateTimeField(_("sent"), default=timezone.now)

    class Meta:
        verbose_name = _("outlet notice")
        verbose_name_plural = _("outlet notices")
        constraints = [
            models.UniqueConstraint(fields=["status_change", "payer"], name="one_notice_per_change_payer"),
            models.UniqueConstraint(fields=["closure", "payer"], name="one_notice_per_closure_payer"),
            models.UniqueConstraint(
                fields=["status_change", "phone"], condition=~Q(phone=""), name="one_notice_per_change_phone"
            ),
            models.UniqueConstraint(
                fields=["closure", "phone"], condition=~Q(phone=""), name="one_notice_per_closure_phone"
            ),
            models.CheckConstraint(
                condition=Q(status_change__isnull=False) | Q(closure__isnull=False), name="notice_has_a_cause"
            ),
            models.CheckConstraint(
                condition=Q(payer__isnull=False) | ~Q(phone=""), name="notice_has_a_recipient"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email or self.phone} ({self.sent_at:%Y-%m-%d})"


# --- agents with a prefunded float (issue 18, item 4) -----------------------------------------------

AGENT_CODE_RE = r"^AG[0-9A-Z]{4,14}$"


class Agent(models.Model):
    """A village officer, shop or community centre that takes payments for an operator out of a float it
    paid in beforehand: its ledger account `AGENT_FLOAT:<code>` (billing.ledger.agent_float_account).
    It takes payments only for its billers, only for accounts in its area (when one is set), and only
    while the float covers them."""

    code = models.CharField(
        _("code"),
        max_length=16,
        unique=True,
        validators=[RegexValidator(AGENT_CODE_RE)],
        help_text=_("AG and 4 to 14 capital letters or digits; the agent writes it on its float transfers."),
    )
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=24, choices=AgentKind.choices)
    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="agents", verbose_name=_("operator")
    )
    region_code = models.CharField(
        _("region code"),
        max_length=12,
        validators=[RegexValidator(r"^\d{6}(\d{3})?$")],
        help_text=_("The administrative division code of its place (6 digits, or 9 with the township)."),
    )
    address = models.CharField(_("address"), max_length=200)
    latitude = models.DecimalField(
        _("latitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        _("longitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    status = models.CharField(
        _("status"), max_length=16, choices=AgentStatus.choices, default=AgentStatus.ACTIVE
    )
    billers = models.ManyToManyField(
        "billing.Biller", blank=True, related_name="agents", verbose_name=_("assigned billers")
    )
    account_prefixes = models.CharField(
        _("area (account number prefixes)"),
        max_length=200,
        blank=True,
        help_text=_(
            "Comma-separated beginnings of the account numbers of its area, e.g. 3301,3302; empty for "
            "every account of its billers."
        ),
    )
    low_float_threshold = models.DecimalField(_("low-float alert below"), default=Decimal("500.00"), **MONEY)
    commission_fixed = models.DecimalField(_("commission per payment"), default=ZERO, **MONEY)
    commission_percentage = models.DecimalField(
        _("commission, fraction of the amount"),
        max_digits=5,
        decimal_places=4,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(Decimal("0.1"))],
        help_text=_("0.0030 is 0.30%."),
    )
    commission_max = models.DecimalField(_("most commission per payment"), null=True, blank=True, **MONEY)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("agent")
        verbose_name_plural = _("agents")
        constraints = [
            models.CheckConstraint(
                condition=Q(low_float_threshold__gte=0), name="agent_threshold_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(commission_fixed__gte=0), name="agent_commission_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def prefixes(self) -> list[str]:
        return [p.strip() for p in self.account_prefixes.split(",") if p.strip()]


class AgentStaff(models.Model):
    """A person who takes payments for an agent, on a terminal of its own (a phone or a POS)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="agent_roles",
        verbose_name=_("user"),
    )
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="staff", verbose_name=_("agent"))
    terminal_id = models.CharField(
        _("terminal"),
        max_length=32,
        validators=[RegexValidator(r"^[0-9A-Za-z-]{1,32}$")],
        help_text=_("The device this person takes payments on."),
    )

    class Meta:
        verbose_name = _("agent staff member")
        verbose_name_plural = _("agent staff")
        constraints = [
            models.UniqueConstraint(fields=["user"], name="agent_staff_one_agent"),
            models.UniqueConstraint(fields=["agent", "terminal_id"], name="agent_terminal_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.agent.code} ({self.terminal_id})"


class AgentPayment(models.Model):
    """The agent's side of a payment: who took it, on which terminal, where, and out of which float."""

    payment = models.OneToOneField(
        "billing.Payment", on_delete=models.PROTECT, related_name="agent_payment", verbose_name=_("payment")
    )
    agent = models.ForeignKey(
        Agent, on_delete=models.PROTECT, related_name="payments", verbose_name=_("agent")
    )
    terminal_id = models.CharField(_("terminal"), max_length=32)
    region_code = models.CharField(_("region code"), max_length=12)
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    source = models.CharField(_("taken through"), max_length=8, choices=AgentPaymentSource.choices)
    float_after = models.DecimalField(_("float left"), **MONEY)
    commission = models.DecimalField(_("commission"), default=ZERO, **MONEY)
    created_at = models.DateTimeField(_("taken"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("agent payment")
        verbose_name_plural = _("agent payments")
        indexes = [models.Index(fields=["agent", "created_at"], name="agent_payment_agent_day")]

    def __str__(self) -> str:
        return str(self.payment_id)


class FloatTopUp(models.Model):
    """A bank transfer that funded an agent's float, found on the float account's bank statement by the
    agent's code in its remittance information: credited once per bank reference."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="topups", verbose_name=_("agent"))
    amount = models.DecimalField(_("amount"), **MONEY)
    bank_ref = models.CharField(_("bank reference"), max_length=64, unique=True)
    statement_line_id = models.PositiveBigIntegerField(
        _("statement line"),
        null=True,
        blank=True,
        help_text=_("The reconciliation statement line it came from."),
    )
    entry = models.ForeignKey(
        "billing.JournalEntry", on_delete=models.PROTECT, related_name="+", verbose_name=_("ledger entry")
    )
    credited_at = models.DateTimeField(_("credited"), default=timezone.now)

    class Meta:
        ordering = ["-credited_at"]
        verbose_name = _("float top-up")
        verbose_name_plural = _("float top-ups")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="topup_amount_positive")]

    def __str__(self) -> str:
        return f"{self.agent.code} +{self.amount} ({self.bank_ref})"


class LowFloatAlert(models.Model):
    """Raised when a payment leaves an agent's float below its threshold; resolved by the next top-up
    that lifts it back. One open alert per agent, so the agent and its operator are told once."""

    agent = models.ForeignKey(
        Agent, on_delete=models.PROTECT, related_name="float_alerts", verbose_name=_("agent")
    )
    balance = models.DecimalField(_("float when raised"), **MONEY)
    threshold = models.DecimalField(_("threshold"), **MONEY)
    raised_at = models.DateTimeField(_("raised"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    notified_at = models.DateTimeField(_("notified"), null=True, blank=True)

    class Meta:
        ordering = ["-raised_at"]
        verbose_name = _("low-float alert")
        verbose_name_plural = _("low-float alerts")
        constraints = [
            models.UniqueConstraint(
                fields=["agent"], condition=Q(resolved_at__isnull=True), name="one_open_low_float_alert"
            )
        ]

    def __str__(self) -> str:
        return f"{self.agent.code} ¥{self.balance} < ¥{self.threshold}"
