"""Channel statements, the matching engine's results, discrepancies, settlement batches and complaints."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.money import ZERO, money_field_kwargs
from reconciliation.choices import (
    ComplaintReason,
    ComplaintStatus,
    DiscrepancyStatus,
    LineKind,
    MatchClass,
    MatchMethod,
    Resolution,
    RunStatus,
    SettlementItemKind,
    SettlementStatus,
    StatementFormat,
)

MONEY = money_field_kwargs()
USER = settings.AUTH_USER_MODEL


def new_public_token() -> str:
    return secrets.token_urlsafe(18)


class StatementFile(models.Model):
    """One imported statement file, kept whole with its hash for audit; a hash is imported once."""

    channel_code = models.CharField(_("channel"), max_length=48)
    business_date = models.DateField(_("business day"))
    format = models.CharField(_("format"), max_length=16, choices=StatementFormat.choices)
    file_name = models.CharField(_("file name"), max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    # SHA-256 over the channel, the day and the decoded lines (ParsedStatement.fingerprint): the same
    # statement re-sent in another encoding, line ends or packing is recognised. Empty on statements
    # imported before it existed (they are fingerprinted from their kept content when compared).
    content_fingerprint = models.CharField(_("content fingerprint"), max_length=64, blank=True, default="")
    size = models.PositiveBigIntegerField(_("size in bytes"))
    content = models.BinaryField(_("content"), editable=False)
    line_count = models.PositiveIntegerField(_("lines"))
    payments_total = models.DecimalField(_("payments total"), default=ZERO, **MONEY)
    refunds_total = models.DecimalField(_("refunds total"), default=ZERO, **MONEY)
    fees_total = models.DecimalField(_("fees total"), default=ZERO, **MONEY)
    imported_at = models.DateTimeField(_("imported"), default=timezone.now)
    imported_by = models.ForeignKey(
        USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("imported by")
    )

    class Meta:
        ordering = ["-business_date", "channel_code"]
        verbose_name = _("channel statement")
        verbose_name_plural = _("channel statements")
        indexes = [models.Index(fields=["channel_code", "business_date"], name="recon_stmt_channel_day")]
        constraints = [
            # One statement per channel and day (a second, different one is refused: it would reopen what
            # the first matched). Rows from before the fingerprint have none and are checked by the service.
            models.UniqueConstraint(
                fields=["channel_code", "business_date"],
                condition=~Q(content_fingerprint=""),
                name="recon_stmt_one_per_channel_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel_code} {self.business_date:%Y-%m-%d} ({self.file_name})"


class StatementLine(models.Model):
    """One money movement the channel reports."""

    # No index of its own: the unique (statement, line_no) one serves every look-up by statement, and a
    # million-line import writes one index fewer.
    statement = models.ForeignKey(
        StatementFile,
        on_delete=models.CASCADE,
        related_name="lines",
        verbose_name=_("statement"),
        db_index=False,
    )
    line_no = models.PositiveIntegerField(_("line"))
    kind = models.CharField(_("kind"), max_length=8, choices=LineKind.choices)
    channel_ref = models.CharField(_("channel reference"), max_length=64)
    original_ref = models.CharField(_("refunded payment's reference"), max_length=64, blank=True)
    merchant_ref = models.CharField(_("merchant order number"), max_length=128, blank=True)
    receipt_no = models.CharField(_("receipt number"), max_length=32, blank=True)
    biller_code = models.CharField(_("biller code"), max_length=32, blank=True)
    account_no = models.CharField(_("account number"), max_length=40, blank=True)
    amount = models.DecimalField(_("amount"), **MONEY)
    fee = models.DecimalField(_("channel fee"), default=ZERO, **MONEY)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    occurred_at = models.DateTimeField(_("occurred"), null=True, blank=True)

    class Meta:
        ordering = ["statement", "line_no"]
        verbose_name = _("statement line")
        verbose_name_plural = _("statement lines")
        constraints = [
            models.UniqueConstraint(fields=["statement", "line_no"], name="recon_line_unique_no"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="recon_line_amount_positive"),
        ]
        indexes = [
            # A reference's lines with their statement and kind in the index: the matching engine asks,
            # for each line of a file, whether an earlier file of the channel had its reference, and
            # reads the answer from the index (issue 16: months of a channel's lines).
            models.Index(
                fields=["channel_ref", "statement"], include=["kind"], name="recon_line_ref_statement"
            )
        ]

    def __str__(self) -> str:
        return f"{self.statement.channel_code} #{self.line_no} {self.channel_ref}"


class ReconciliationRun(models.Model):
    """Matching one statement against the platform's payments; resumable, with visible progress."""

    statement = models.OneToOneField(
        StatementFile,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="run",
        verbose_name=_("statement"),
    )
    branch = models.ForeignKey(
        "branches.Branch",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("For the cash channel: the branch whose till closings were reconciled."),
        verbose_name=_("branch"),
    )
    channel_code = models.CharField(_("channel"), max_length=48)
    business_date = models.DateField(_("business day"))
    status = models.CharField(
        _("status"), max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING
    )
    total_lines = models.PositiveIntegerField(_("lines in the file"), default=0)
    loaded_lines = models.PositiveIntegerField(_("lines loaded"), default=0)
    percent = models.PositiveSmallIntegerField(_("progress %"), default=0)
    counts = models.JSONField(_("results"), default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.TextField(_("last error"), blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    amount_tolerance = models.DecimalField(_("amount tolerance"), default=ZERO, **MONEY)
    time_window_seconds = models.PositiveIntegerField(_("time window (seconds)"), default=900)

    class Meta:
        ordering = ["-business_date", "channel_code"]
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        constraints = [
            models.UniqueConstraint(
                fields=["branch", "business_date"],
                condition=Q(branch__isnull=False),
                name="recon_cash_run_once_per_branch_day",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel_code} {self.business_date:%Y-%m-%d}"


class MatchResult(models.Model):
    """Where one statement line and/or one platform payment ended. Written as a set by the engine, in the
    transaction that holds its run locked, so the links carry no database constraint: a million deferred
    foreign-key checks would cost more than the matching itself (docs/benchmarks.md)."""

    run = models.ForeignKey(
        ReconciliationRun,
        on_delete=models.CASCADE,
        db_constraint=False,
        db_index=False,
        related_name="results",
        verbose_name=_("reconciliation run"),
    )
    klass = models.CharField(_("class"), max_length=20, choices=MatchClass.choices)
    method = models.CharField(_("matched by"), max_length=16, choices=MatchMethod.choices, blank=True)
    line = models.ForeignKey(
        StatementLine,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("statement line"),
    )
    payment = models.ForeignKey(
        "billing.Payment",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("payment"),
    )
    line_amount = models.DecimalField(_("channel amount"), null=True, blank=True, **MONEY)
    payment_amount = models.DecimalField(_("platform amount"), null=True, blank=True, **MONEY)
    candidates = models.PositiveIntegerField(_("candidate payments"), default=0)
    till = models.ForeignKey(
        "branches.Till",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("till"),
    )

    class Meta:
        verbose_name = _("match result")
        verbose_name_plural = _("match results")
        # One index besides the key (no index per link either): every read goes through the run (a day's
        # report, settlement of a day, a run's discrepancies); each index costs seconds per million rows.
        indexes = [models.Index(fields=["run", "klass"], name="recon_result_run_class")]

    def __str__(self) -> str:
        return f"{self.get_klass_display()} #{self.pk}"


class Discrepancy(models.Model):
    """A result that is not `matched`: a person resolves it with an action that keeps the ledger balanced."""

    run = models.ForeignKey(
        ReconciliationRun,
        on_delete=models.PROTECT,
        related_name="discrepancies",
        verbose_name=_("reconciliation run"),
    )
    result = models.OneToOneField(
        MatchResult, on_delete=models.PROTECT, related_name="discrepancy", verbose_name=_("match result")
    )
    klass = models.CharField(_("class"), max_length=20, choices=MatchClass.choices)
    channel_code = models.CharField(_("channel"), max_length=48)
    business_date = models.DateField(_("business day"))
    line = models.ForeignKey(
        StatementLine,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="discrepancies",
        verbose_name=_("statement line"),
    )
    payment = models.ForeignKey(
        "billing.Payment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="discrepancies",
        verbose_name=_("payment"),
    )
    biller = models.ForeignKey(
        "billing.Biller",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("biller"),
    )
    till = models.ForeignKey(
        "branches.Till",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="discrepancies",
        help_text=_("A till whose count differed from its payments."),
        verbose_name=_("till"),
    )
    line_amount = models.DecimalField(_("channel amount"), null=True, blank=True, **MONEY)
    payment_amount = models.DecimalField(_("platform amount"), null=True, blank=True, **MONEY)
    candidates = models.PositiveIntegerField(
        _("candidate payments"), default=0, help_text=_("More than one: ambiguous, a person must choose.")
    )
    status = models.CharField(
        _("status"), max_length=20, choices=DiscrepancyStatus.choices, default=DiscrepancyStatus.OPEN
    )
    assignee = models.ForeignKey(
        USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("assigned to")
    )
    resolution = models.CharField(_("resolution"), max_length=16, choices=Resolution.choices, blank=True)
    resolution_note = models.TextField(_("note"), blank=True)
    resolution_payment = models.ForeignKey(
        "billing.Payment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("payment posted to resolve it"),
    )
    resolution_entry = models.ForeignKey(
        "billing.JournalEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("journal entry"),
    )
    write_off_requested_by = models.ForeignKey(
        USER,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("write off requested by"),
    )
    resolved_by = models.ForeignKey(
        USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("resolved by")
    )
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    created_at = models.DateTimeField(_("found"), default=timezone.now)

    class Meta:
        ordering = ["-business_date", "channel_code", "id"]
        verbose_name = _("discrepancy")
        verbose_name_plural = _("discrepancies")
        indexes = [models.Index(fields=["status", "business_date"], name="recon_disc_status_day")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=DiscrepancyStatus.RESOLVED) | ~Q(resolution=""),
                name="recon_disc_resolved_has_action",
            )
        ]

    def __str__(self) -> str:
        return f"D{self.pk} {self.get_klass_display()} {self.channel_code} {self.business_date:%Y-%m-%d}"

    @property
    def difference(self):
        return (self.line_amount or ZERO) - (self.payment_amount or ZERO)

    @property
    def reference(self) -> str:
        if self.line_id:
            return self.line.channel_ref
        return self.payment.channel_ref or self.payment.receipt_no if self.payment_id else ""


class SettlementBatch(models.Model):
    """What one biller is paid at the cut-off of one business day: everything settleable up to that day
    and in no earlier batch (late money carried from older days included). One batch per biller and
    cut-off day; each item is settled once (SettlementItem)."""

    reference = models.CharField(_("reference"), max_length=40, unique=True)
    biller = models.ForeignKey(
        "billing.Biller", on_delete=models.PROTECT, related_name="settlements", verbose_name=_("biller")
    )
    business_date = models.DateField(_("business day"))
    value_date = models.DateField(
        _("value date"), null=True, blank=True, help_text=_("The working day the biller's bank credits it.")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=SettlementStatus.choices, default=SettlementStatus.BUILT
    )
    payment_count = models.PositiveIntegerField(_("payments"), default=0)
    gross = models.DecimalField(_("collected"), **MONEY)
    fees = models.DecimalField(_("fees"), **MONEY)
    net = models.DecimalField(_("to pay the biller"), **MONEY)
    shared = models.DecimalField(
        _("to its co-beneficiaries"),
        default=0,
        help_text=_("The part of the net remitted to the biller's co-beneficiaries (SettlementShare)."),
        **MONEY,
    )
    journal_entry = models.OneToOneField(
        "billing.JournalEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("journal entry"),
    )
    remittance_csv = models.TextField(_("remittance file (CSV)"), blank=True)
    remittance_xml = models.TextField(_("remittance file (camt.054)"), blank=True)
    confirmation_sha256 = models.CharField(_("confirmation file SHA-256"), max_length=64, blank=True)
    confirmation_content = models.BinaryField(_("confirmation file"), null=True, blank=True, editable=False)
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    created_at = models.DateTimeField(_("built"), default=timezone.now)
    created_by = models.ForeignKey(
        USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("created by")
    )

    class Meta:
        ordering = ["-business_date", "biller"]
        verbose_name = _("settlement batch")
        verbose_name_plural = _("settlement batches")
        constraints = [
            models.UniqueConstraint(fields=["biller", "business_date"], name="recon_settlement_once_per_day"),
        ]

    def __str__(self) -> str:
        return self.reference


class SettlementShare(models.Model):
    """What a batch remits to one co-beneficiary of its biller (issue 17, item 4): its parts of the batch's
    payments, less its parts of the reversals, credited to its own bank account (kept as it was when the
    batch was built) under its own reference; the biller pays the batch's fees from its own part."""

    batch = models.ForeignKey(
        SettlementBatch, on_delete=models.CASCADE, related_name="shares", verbose_name=_("settlement batch")
    )
    share = models.ForeignKey(
        "billing.CollectionShare",
        on_delete=models.PROTECT,
        related_name="settlements",
        verbose_name=_("shared collection part"),
    )
    reference = models.CharField(_("reference"), max_length=60, unique=True)
    amount = models.DecimalField(_("amount"), **MONEY)
    bank_name = models.CharField(_("settlement bank"), max_length=120)
    account_name = models.CharField(_("settlement account name"), max_length=200)
    account_no = models.CharField(_("settlement account number"), max_length=40)
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)

    class Meta:
        ordering = ["batch", "share__position", "share__code"]
        verbose_name = _("remittance to a co-beneficiary")
        verbose_name_plural = _("remittances to co-beneficiaries")
        constraints = [models.UniqueConstraint(fields=["batch", "share"], name="recon_settle_share_once")]

    def __str__(self) -> str:
        return self.reference


class SettlementChannelTotal(models.Model):
    batch = models.ForeignKey(
        SettlementBatch,
        on_delete=models.CASCADE,
        related_name="channel_totals",
        verbose_name=_("settlement batch"),
    )
    channel = models.CharField(_("channel"), max_length=16)
    payment_count = models.PositiveIntegerField(_("payments"))
    gross = models.DecimalField(_("collected"), **MONEY)
    fees = models.DecimalField(_("fees"), **MONEY)
    net = models.DecimalField(_("net"), **MONEY)

    class Meta:
        verbose_name = _("settlement per channel")
        verbose_name_plural = _("settlement per channel")
        constraints = [models.UniqueConstraint(fields=["batch", "channel"], name="recon_settle_channel_once")]

    def __str__(self) -> str:
        return f"{self.batch} {self.channel}"


class SettlementItem(models.Model):
    """One settled item of a batch: a payment, or the reversal of a payment settled before (negative).
    Each is settled once (unique on payment and kind), with the business day it belongs to, which is
    older than the batch's day when it became settleable late (carried)."""

    batch = models.ForeignKey(
        SettlementBatch, on_delete=models.CASCADE, related_name="items", verbose_name=_("settlement batch")
    )
    kind = models.CharField(
        _("kind"), max_length=16, choices=SettlementItemKind.choices, default=SettlementItemKind.PAYMENT
    )
    payment = models.ForeignKey(
        "billing.Payment",
        on_delete=models.PROTECT,
        related_name="settlement_items",
        verbose_name=_("payment"),
    )
    business_date = models.DateField(_("business day"))
    amount = models.DecimalField(_("amount"), **MONEY)
    fee = models.DecimalField(_("fee"), **MONEY)

    class Meta:
        ordering = ["business_date", "id"]
        verbose_name = _("settled item")
        verbose_name_plural = _("settled items")
        constraints = [
            models.UniqueConstraint(fields=["payment", "kind"], name="recon_settle_item_once"),
        ]

    def __str__(self) -> str:
        return f"{self.batch} {self.payment_id}"

    @property
    def carried(self) -> bool:
        return self.business_date < self.batch.business_date


class SettlementRun(models.Model):
    """`settle --date`: one row per day, with progress; restartable biller by biller."""

    business_date = models.DateField(_("business day"), unique=True)
    status = models.CharField(
        _("status"), max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING
    )
    billers_total = models.PositiveIntegerField(_("billers"), default=0)
    billers_done = models.PositiveIntegerField(_("billers done"), default=0)
    percent = models.PositiveSmallIntegerField(_("progress %"), default=0)
    batches_built = models.PositiveIntegerField(_("batches built"), default=0)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.TextField(_("last error"), blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-business_date"]
        verbose_name = _("settlement run")
        verbose_name_plural = _("settlement runs")

    def __str__(self) -> str:
        return f"{self.business_date:%Y-%m-%d}"


class Complaint(models.Model):
    """A citizen's dispute about a payment, raised from its receipt number."""

    token = models.CharField(_("token"), max_length=32, unique=True, default=new_public_token, editable=False)
    payment = models.ForeignKey(
        "billing.Payment", on_delete=models.PROTECT, related_name="complaints", verbose_name=_("payment")
    )
    reason = models.CharField(_("reason"), max_length=20, choices=ComplaintReason.choices)
    details = models.TextField(_("details"), blank=True)
    contact_name = models.CharField(_("your name"), max_length=60)
    contact_email = models.EmailField(_("e-mail"), blank=True)
    contact_phone = models.CharField(_("phone"), max_length=30, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=ComplaintStatus.choices, default=ComplaintStatus.LOGGED
    )
    assignee = models.ForeignKey(
        USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("assigned to")
    )
    discrepancies = models.ManyToManyField(
        Discrepancy, blank=True, related_name="complaints", verbose_name=_("discrepancies")
    )
    outcome = models.TextField(_("outcome told to the citizen"), blank=True)
    outcome_resolution = models.CharField(
        _("resolved by"),
        max_length=20,
        choices=Resolution.choices,
        blank=True,
        help_text=_(
            "When the complaint closed with its discrepancy: the action, told in the citizen's language."
        ),
    )
    language = models.CharField(
        _("language"),
        max_length=10,
        choices=settings.LANGUAGES,
        default=settings.LANGUAGE_CODE,
        help_text=_("The language the citizen complained in; every answer is written in it."),
    )
    created_at = models.DateTimeField(_("raised"), default=timezone.now)
    due_at = models.DateTimeField(_("answer due"))
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("complaint")
        verbose_name_plural = _("complaints")

    def __str__(self) -> str:
        return f"C{self.pk} {self.get_reason_display()}"

    @property
    def outcome_told(self) -> str:
        """What the citizen is told, in the active language: the officer's words, after the workbench
        action that corrected their payment when that is what closed the complaint."""
        if not self.outcome_resolution:
            return self.outcome
        return gettext("The difference on your payment was found and corrected: %(action)s. %(note)s") % {
            "action": Resolution(self.outcome_resolution).label,
            "note": self.outcome,
        }


class WorkingDayOverride(models.Model):
    """The operator's word on one day of the working calendar, over China's published one (a bank's
    own closure, or a year the calendar package does not know yet)."""

    day = models.DateField(_("day"), unique=True)
    is_working_day = models.BooleanField(_("working day"))
    note = models.CharField(_("note"), max_length=200)
    created_by = models.ForeignKey(
        USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("set by")
    )
    created_at = models.DateTimeField(_("set"), default=timezone.now)

    class Meta:
        ordering = ["-day"]
        verbose_name = _("working calendar override")
        verbose_name_plural = _("working calendar overrides")

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d}"
