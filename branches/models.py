"""Outlets that take cash: their operators, branches and the staff who work the counters; the tills the
clerks open and close, the cash payments they take, planned closures, and cash-coverage alerts."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.money import ZERO, money_field_kwargs
from branches.choices import BranchRole, BranchStatus, ClosureStatus, OperatorKind, TillStatus

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
