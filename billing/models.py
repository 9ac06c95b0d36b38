"""Billers, their customers' accounts and bills, payments, the double-entry ledger and the audit log."""

import datetime
import secrets
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from billing.account_patterns import AccountPatternRefused, check_account_pattern
from billing.choices import (
    BILL_ALLOCATION_KINDS,
    AllocationKind,
    AmountRule,
    BeneficiaryKind,
    BillerStatus,
    BillStatus,
    Channel,
    CheckDigit,
    EntryKind,
    LedgerAccountKind,
    PaymentMode,
    PaymentStatus,
)
from billing.masking import mask_holder_name
from billing.money import ZERO, money_field_kwargs
from billing.uscc import validate_uscc

MONEY = money_field_kwargs()

biller_code_validator = RegexValidator(
    r"^[A-Z0-9][A-Z0-9_-]{1,31}$",
    _("Use 2 to 32 capital letters, digits, dashes or underscores."),
)
period_validator = RegexValidator(r"^\d{4}-(0[1-9]|1[0-2])$", _("Write the period as YYYY-MM."))


class LocalizedNameMixin:
    """Chinese name by default; the English one when the page is in English and it exists."""

    @property
    def display_name(self) -> str:
        if (get_language() or "").startswith("en") and self.name_en:
            return self.name_en
        return self.name


class BillerCategory(LocalizedNameMixin, models.Model):
    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=60)
    name_en = models.CharField(_("English name"), max_length=60, blank=True)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent category"),
    )
    sort_order = models.PositiveSmallIntegerField(_("sort order"), default=0)

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name = _("biller category")
        verbose_name_plural = _("biller categories")

    def __str__(self) -> str:
        return self.display_name


class Biller(LocalizedNameMixin, models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True, validators=[biller_code_validator])
    name = models.CharField(_("name"), max_length=120)
    name_en = models.CharField(_("English name"), max_length=120, blank=True)
    legal_name = models.CharField(_("legal name"), max_length=200, blank=True)
    category = models.ForeignKey(
        BillerCategory, on_delete=models.PROTECT, related_name="billers", verbose_name=_("category")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=BillerStatus.choices, default=BillerStatus.DRAFT
    )
    status_reason = models.CharField(
        _("reason for the status"),
        max_length=200,
        blank=True,
        help_text=_("Shown to payers while the biller is not taking payments."),
    )
    payment_mode = models.CharField(
        _("payment mode"), max_length=16, choices=PaymentMode.choices, default=PaymentMode.STATEMENT
    )
    amount_rule = models.CharField(
        _("amount rule"),
        max_length=16,
        choices=AmountRule.choices,
        default=AmountRule.EXACT,
        help_text=_("For statement bills: how a payment may differ from the amount due."),
    )
    min_amount = models.DecimalField(_("least amount per payment"), default="0.01", **MONEY)
    max_amount = models.DecimalField(
        _("most amount per payment"),
        null=True,
        blank=True,
        **MONEY,
        help_text=_("Leave empty for no upper limit."),
    )
    account_pattern = models.CharField(
        _("account number pattern"),
        max_length=200,
        default=r"^\d{6,20}$",
        help_text=_("A regular expression the whole account number must match."),
    )
    account_check_digit = models.CharField(
        _("account number check digit"),
        max_length=16,
        choices=CheckDigit.choices,
        default=CheckDigit.NONE,
    )
    account_hint = models.CharField(
        _("account number hint"),
        max_length=200,
        blank=True,
        help_text=_("Tells payers where to find the number and what it looks like."),
    )
    account_hint_en = models.CharField(
        _("account number hint in English"),
        max_length=200,
        blank=True,
        help_text=_("Shown instead of the hint above when the page is in English."),
    )
    accepts_cash = models.BooleanField(_("counters take cash for it"), default=True)
    # Amounts that change with the payment date (billing.amounts): the late fee's daily rate and its cap.
    late_fee_daily_rate = models.DecimalField(
        _("late fee per day"),
        max_digits=7,
        decimal_places=6,
        default=Decimal("0"),
        db_default=Decimal("0"),
        help_text=_("A fraction of the bill's amount per day after the due date: 0.000500 is 0.05% a day."),
    )
    late_fee_cap_rate = models.DecimalField(
        _("late fee cap"),
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_(
            "The late fee never exceeds this fraction of the bill's amount: 1.0000 is the amount itself. "
            "Leave empty for no cap."
        ),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # Onboarding data: may stay blank while the biller is a draft; `submit_biller` requires it.
    uscc = models.CharField(
        _("unified social credit code"),
        max_length=18,
        blank=True,
        validators=[validate_uscc],
        help_text=_("The 18-character 统一社会信用代码 on the business licence."),
    )
    settlement_bank_name = models.CharField(_("settlement bank"), max_length=120, blank=True)
    settlement_account_name = models.CharField(_("settlement account name"), max_length=200, blank=True)
    settlement_account_no = models.CharField(_("settlement account number"), max_length=40, blank=True)
    contact_name = models.CharField(_("contact person"), max_length=60, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=30, blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        verbose_name=_("submitted by"),
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("biller")
        verbose_name_plural = _("billers")
        constraints = [
            models.CheckConstraint(condition=Q(min_amount__gt=0), name="biller_min_amount_positive"),
            models.CheckConstraint(
                condition=Q(max_amount__isnull=True) | Q(max_amount__gte=F("min_amount")),
                name="biller_max_not_below_min",
            ),
            models.CheckConstraint(
                condition=Q(late_fee_daily_rate__gte=0) & Q(late_fee_daily_rate__lt=Decimal("0.1")),
                name="biller_late_fee_rate_in_range",
            ),
            models.CheckConstraint(
                condition=Q(late_fee_cap_rate__isnull=True)
                | (Q(late_fee_cap_rate__gte=0) & Q(late_fee_cap_rate__lte=10)),
                name="biller_late_fee_cap_in_range",
            ),
            models.UniqueConstraint(
                fields=["uscc"],
                condition=~Q(uscc=""),
                name="biller_uscc_unique_when_set",
                violation_error_message=_("Another biller already has this unified social credit code."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.code})"

    @property
    def display_account_hint(self) -> str:
        """The account number hint in the reader's language: the English one when the page is in English and
        the biller wrote one, else the Chinese one (Chinese payers are the default audience)."""
        if (get_language() or "").startswith("en") and self.account_hint_en:
            return self.account_hint_en
        return self.account_hint

    def clean(self) -> None:
        """The account pattern must read the same in Python and in PostgreSQL (both run it)."""
        super().clean()
        try:
            check_account_pattern(self.account_pattern)
        except AccountPatternRefused as refused:
            raise ValidationError({"account_pattern": refused.message}, code=refused.code) from None

    @property
    def takes_payments(self) -> bool:
        return self.status == BillerStatus.ACTIVE


class BillerStaff(models.Model):
    """A biller operator: the user works for this biller and sees only its data."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="biller_roles",
        verbose_name=_("user"),
    )
    biller = models.ForeignKey(
        Biller, on_delete=models.CASCADE, related_name="staff", verbose_name=_("biller")
    )

    class Meta:
        verbose_name = _("biller staff member")
        verbose_name_plural = _("biller staff")
        constraints = [models.UniqueConstraint(fields=["user", "biller"], name="biller_staff_unique")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.biller.code}"


class CustomerAccount(models.Model):
    """A customer's account (户号) at one biller: the number printed on the bill."""

    # No index of its own: the unique (biller, account_no) index serves lookups by biller, and every
    # index is paid for on each of the million rows a bill import may insert.
    biller = models.ForeignKey(
        Biller, on_delete=models.PROTECT, related_name="accounts", db_index=False, verbose_name=_("biller")
    )
    account_no = models.CharField(_("account number"), max_length=40)
    holder_name = models.CharField(_("holder's name"), max_length=100)
    address = models.CharField(_("address"), max_length=200, blank=True)
    credit_balance = models.DecimalField(
        _("credit balance"),
        default=ZERO,
        **MONEY,
        help_text=_("Money paid beyond what was due, held for the account's next bills."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["biller", "account_no"]
        verbose_name = _("customer account")
        verbose_name_plural = _("customer accounts")
        constraints = [
            models.UniqueConstraint(fields=["biller", "account_no"], name="account_unique_per_biller"),
            # The target of the bills' composite foreign key (account, biller).
            models.UniqueConstraint(fields=["id", "biller"], name="account_id_biller_unique"),
            models.CheckConstraint(condition=Q(credit_balance__gte=0), name="account_credit_not_negative"),
        ]
        # The back office finds an account by its number or its first digits across all billers (issue 16).
        indexes = [
            models.Index(fields=["account_no"], opclasses=["varchar_pattern_ops"], name="account_no_prefix"),
        ]

    def __str__(self) -> str:
        return f"{self.biller.code}/{self.account_no}"

    @property
    def masked_holder_name(self) -> str:
        return mask_holder_name(self.holder_name)


class Bill(models.Model):
    # Served by the (biller, period) and unique (account, period) indexes below: no single-column ones.
    # On PostgreSQL one composite foreign key, (account, biller) → the account's (id, biller), replaces
    # the two single ones (migration 0009): it also proves that a bill's biller is its account's biller,
    # and a bill import pays for one deferred check per bill instead of two.
    biller = models.ForeignKey(
        Biller,
        on_delete=models.PROTECT,
        related_name="bills",
        db_index=False,
        db_constraint=False,
        verbose_name=_("biller"),
    )
    account = models.ForeignKey(
        CustomerAccount,
        on_delete=models.PROTECT,
        related_name="bills",
        db_index=False,
        db_constraint=False,
        verbose_name=_("account"),
    )
    period = models.CharField(_("period"), max_length=7, validators=[period_validator])
    amount_due = models.DecimalField(_("amount due"), **MONEY)
    late_fee = models.DecimalField(_("late fee"), default=ZERO, **MONEY)
    due_date = models.DateField(_("due date"))
    amount_paid = models.DecimalField(_("amount paid"), default=ZERO, **MONEY)
    status = models.CharField(_("status"), max_length=16, choices=BillStatus.choices, default=BillStatus.OPEN)
    reference = models.CharField(_("biller's reference"), max_length=64, blank=True)
    description = models.CharField(
        _("description"),
        max_length=200,
        blank=True,
        help_text=_("What the bill is for, as the payer sees it."),
    )
    # Amounts that change with the payment date (billing.amounts): paid in full by `discount_until`
    # (Beijing), the bill costs `early_discount` less; `discount_granted` is the discount its payment took.
    early_discount = models.DecimalField(_("early-payment discount"), default=ZERO, db_default=ZERO, **MONEY)
    discount_until = models.DateField(_("discount holds until"), null=True, blank=True)
    discount_granted = models.DecimalField(
        _("discount granted"), default=ZERO, db_default=ZERO, editable=False, **MONEY
    )
    # Who the bill is for (issue 17, item 6): a student, a patient, a resident, when not the account's
    # holder. Stored whole; shown masked wherever the page is public (`masked_beneficiary`).
    beneficiary_kind = models.CharField(
        _("beneficiary is a"), max_length=16, choices=BeneficiaryKind.choices, blank=True, db_default=""
    )
    beneficiary_name = models.CharField(_("beneficiary"), max_length=100, blank=True, db_default="")
    # A non-tax payment notice's number (缴款书号, issue 17 item 5): found at lookup; once paid, the fiscal
    # e-receipt refers to it (billing.fiscal). Unique per biller where set.
    notice_no = models.CharField(_("payment notice number"), max_length=32, blank=True, db_default="")
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["account", "due_date", "period"]
        verbose_name = _("bill")
        verbose_name_plural = _("bills")
        constraints = [
            models.UniqueConstraint(fields=["account", "period"], name="bill_unique_per_account_period"),
            models.UniqueConstraint(
                fields=["biller", "notice_no"],
                condition=~Q(notice_no=""),
                name="bill_notice_no_unique_per_biller",
            ),
            models.CheckConstraint(condition=Q(amount_due__gte=0), name="bill_amount_due_not_negative"),
            models.CheckConstraint(condition=Q(late_fee__gte=0), name="bill_late_fee_not_negative"),
            models.CheckConstraint(condition=Q(amount_paid__gte=0), name="bill_paid_not_negative"),
            models.CheckConstraint(
                condition=Q(amount_paid__lte=F("amount_due") + F("late_fee") - F("discount_granted")),
                name="bill_paid_not_above_due",
            ),
            models.CheckConstraint(
                condition=Q(early_discount__gte=0) & Q(early_discount__lte=F("amount_due")),
                name="bill_discount_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(discount_granted__gte=0) & Q(discount_granted__lte=F("early_discount")),
                name="bill_discount_granted_within_discount",
            ),
        ]
        indexes = [
            # No index of the payable bills: a bill's status would be in its condition, and a payment that
            # changes it could not update the bill in place (HOT) but would write an entry into each of
            # these indexes (migration 0031). An account's bills, payable or not, are read through the
            # (account, period) unique index: a year of bills is twelve rows.
            # One biller's bills, of one period or all, newest first: the biller operator's back-office
            # list (a biller's monthly file is one block of ids, so a walk of the whole table's newest ids
            # skips millions of other billers' bills first; issue 16). Also the import's period lookups.
            models.Index(fields=["biller", "period", "id"], name="bill_biller_period_id"),
            models.Index(fields=["biller", "id"], name="bill_biller_id"),
            # The back office's bill list, newest first, filtered by period (issue 16).
            models.Index(fields=["period", "id"], name="bill_period_id"),
            # The back office finds a bill by the biller's reference (issue 16).
            models.Index(fields=["reference"], name="bill_reference"),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.period}"

    @property
    def total_due(self):
        """What the bill costs as its payments left it (late fee charged, discount granted)."""
        return self.amount_due + self.late_fee - self.discount_granted

    @property
    def quote(self):
        """What the bill costs if paid today in Beijing (`billing.amounts.amount_due`), kept per instance."""
        from billing.amounts import amount_due

        cached = getattr(self, "_quote_today", None)
        if cached is None or cached.on != amount_due_today():
            cached = self._quote_today = amount_due(self)
        return cached

    @property
    def outstanding(self):
        """What is left to pay today: the late fee accrued and the discount that holds today included."""
        return self.quote.outstanding

    @property
    def holds_until(self):
        return self.quote.holds_until

    @property
    def beneficiary(self) -> str:
        """Who the bill is for, whole ("学生 张小明"): the citizen's own pages and staff; "" if unnamed."""
        return self._beneficiary(self.beneficiary_name.strip())

    @property
    def masked_beneficiary(self) -> str:
        """Who the bill is for, masked ("学生 张*明"): public pages, slips, receipts and notices."""
        return self._beneficiary(mask_holder_name(self.beneficiary_name))

    def _beneficiary(self, name: str) -> str:
        if not self.beneficiary_name.strip():
            return ""
        kind = BeneficiaryKind(self.beneficiary_kind or BeneficiaryKind.OTHER).label
        return f"{kind} {name}"


def amount_due_today():
    from billing.amounts import beijing_today

    return beijing_today()


def platform_date(moment: datetime.datetime | None = None) -> datetime.date:
    """The platform's day (TIME_ZONE) at `moment` (now): a payment's business date and its receipt's, never
    a visitor's. Asking for the default zone skips the lookup of an activated one, which, when none is (as
    on the posting path), raises and formats an AttributeError inside asgiref, twice a payment."""
    return timezone.localdate(moment, timezone.get_default_timezone())


def new_receipt_no() -> str:
    """R + business date + 16 random Crockford base-32 characters (80 bits): unique and unguessable."""
    return f"R{platform_date():%Y%m%d}{random_crockford(16)}"


CROCKFORD_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def random_crockford(length: int) -> str:
    """`length` random Crockford base-32 characters from one read of the system's random source (one
    `secrets.choice` per character read it once per character: a posting's costliest line of Python)."""
    value = int.from_bytes(secrets.token_bytes((5 * length + 7) // 8), "big")
    return "".join(CROCKFORD_BASE32[(value >> (5 * i)) & 31] for i in range(length))


# A posting key: a channel's own key, or a partner's code (up to 32) + ":" + its Idempotency-Key (up to 100,
# api.idempotency), so 133 at most; reconciliation's keys are a statement's source + ":" + its reference.
IDEMPOTENCY_KEY_MAX_LENGTH = 160


class Payment(models.Model):
    # Unique by the constraint below, not by `unique=True`, which would add a second (LIKE) index that every
    # payment pays for and no search uses: receipts are looked up whole.
    receipt_no = models.CharField(_("receipt number"), max_length=32, default=new_receipt_no)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    idempotency_key = models.CharField(_("idempotency key"), max_length=IDEMPOTENCY_KEY_MAX_LENGTH)
    request_fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    channel_ref = models.CharField(_("channel reference"), max_length=64, blank=True)
    biller = models.ForeignKey(
        Biller,
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("biller"),
        db_index=False,  # payment_biller_id and payment_biller_day lead with it
    )
    account = models.ForeignKey(
        CustomerAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payments",
        verbose_name=_("account"),
    )
    payer = models.ForeignKey(
        "payers.Payer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payments",
        db_index=False,  # partial index below: most payments have none
        verbose_name=_("payer"),
    )
    branch = models.ForeignKey(
        "branches.Branch",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payments",
        db_index=False,  # partial index below: most payments have none
        verbose_name=_("branch"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("keyed by"),
        db_index=False,  # partial index below: most payments have none
    )
    amount = models.DecimalField(_("amount"), **MONEY)
    status = models.CharField(
        _("status"), max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.POSTED
    )
    business_date = models.DateField(_("business date"), db_index=True)
    posted_at = models.DateTimeField(_("posted"), default=timezone.now)
    reversed_at = models.DateTimeField(_("reversed"), null=True, blank=True)
    reversal_reason = models.CharField(_("reason for reversal"), max_length=200, blank=True)

    class Meta:
        ordering = ["-posted_at"]
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "idempotency_key"], name="payment_idempotent_per_channel"
            ),
            models.UniqueConstraint(fields=["receipt_no"], name="payment_receipt_no_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["biller", "business_date"], name="payment_biller_day"),
            # One biller's payments newest first: its operator's back-office list (issue 16).
            models.Index(fields=["biller", "id"], name="payment_biller_id"),
            # One channel's payments newest first: the back office's channel filter (issue 16).
            models.Index(fields=["channel", "id"], name="payment_channel_id"),
            # A channel's own transaction id: the reconciliation finds the payment a refund line refunds
            # (any day) and the disputed debits theirs by it, among months of payments (issue 16).
            models.Index(fields=["channel_ref"], condition=~Q(channel_ref=""), name="payment_channel_ref"),
            # Who paid, where and who keyed it: each is empty on most payments (online and partner payments
            # have no branch, only the portal's have a payer), and a payment adds no entry where it is.
            models.Index(fields=["payer"], condition=Q(payer__isnull=False), name="payment_payer"),
            models.Index(fields=["branch"], condition=Q(branch__isnull=False), name="payment_branch"),
            models.Index(fields=["actor"], condition=Q(actor__isnull=False), name="payment_actor"),
        ]

    def __str__(self) -> str:
        return self.receipt_no


class PaymentAllocation(models.Model):
    """Where a payment's money went. Append-only: a reversal adds negative rows, so a bill's amount paid
    is always the sum of its allocations."""

    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("payment")
    )
    bill = models.ForeignKey(
        Bill,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="allocations",
        verbose_name=_("bill"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=AllocationKind.choices)
    amount = models.DecimalField(_("amount"), **MONEY)
    is_reversal = models.BooleanField(_("reversal"), default=False)

    class Meta:
        verbose_name = _("payment allocation")
        verbose_name_plural = _("payment allocations")
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="allocation_amount_not_zero"),
            models.CheckConstraint(
                condition=Q(kind__in=BILL_ALLOCATION_KINDS, bill__isnull=False)
                | (~Q(kind__in=BILL_ALLOCATION_KINDS) & Q(bill__isnull=True)),
                name="allocation_bill_iff_bill_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.payment} → {self.bill or self.get_kind_display()}: {self.amount}"


class LedgerAccount(models.Model):
    code = models.CharField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=24, choices=LedgerAccountKind.choices)
    biller = models.ForeignKey(
        Biller,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_accounts",
        verbose_name=_("biller"),
    )
    branch = models.ForeignKey(
        "branches.Branch",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_accounts",
        verbose_name=_("branch"),
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class JournalEntry(models.Model):
    """One balanced movement of money. Never edited: a mistake is undone by a reversing entry."""

    kind = models.CharField(_("kind"), max_length=16, choices=EntryKind.choices)
    payment = models.ForeignKey(
        Payment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="journal_entries",
        verbose_name=_("payment"),
    )
    # At most one reversal per entry (`entry_reversed_once`): a ForeignKey with a partial unique index rather
    # than a OneToOneField, whose unique index took an entry for every payment's entry, all of them NULL.
    reverses = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_by",
        verbose_name=_("reverses"),
        db_index=False,
    )
    memo = models.CharField(_("memo"), max_length=200, blank=True)
    business_date = models.DateField(_("business date"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
        db_index=False,  # partial index below: a payment's entry has none
    )

    class Meta:
        ordering = ["-id"]
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        constraints = [
            models.UniqueConstraint(
                fields=["reverses"], condition=Q(reverses__isnull=False), name="entry_reversed_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["created_by"], condition=Q(created_by__isnull=False), name="entry_created_by"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} {self.memo}"


class JournalLine(models.Model):
    """A signed amount on one ledger account: debit positive, credit negative. An entry's lines sum to 0."""

    entry = models.ForeignKey(
        JournalEntry, on_delete=models.PROTECT, related_name="lines", verbose_name=_("journal entry")
    )
    account = models.ForeignKey(
        LedgerAccount,
        on_delete=models.PROTECT,
        related_name="lines",
        verbose_name=_("account"),
        db_index=False,  # journalline_account_id leads with it
    )
    amount = models.DecimalField(_("amount"), **MONEY)

    class Meta:
        verbose_name = _("journal line")
        verbose_name_plural = _("journal lines")
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="journal_line_not_zero")]
        # One ledger account's lines newest first: the back office's journal-line list of a biller's
        # operator and its search by ledger account (a payable account holds millions; issue 16).
        indexes = [models.Index(fields=["account", "id"], name="journalline_account_id")]

    def __str__(self) -> str:
        return f"{self.account.code} {self.amount}"


class AuditEvent(models.Model):
    """Who did what to which object, when and why. Written by services, never by views."""

    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("who"),
    )
    action = models.CharField(_("action"), max_length=64)
    target_type = models.CharField(_("object type"), max_length=64)
    target_id = models.CharField(_("object id"), max_length=64)
    target_repr = models.CharField(_("object"), max_length=200)
    reason = models.CharField(_("why"), max_length=500, blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target")]

    def __str__(self) -> str:
        from billing.audit import action_label

        when = timezone.localtime(self.created_at)
        return f"{when:%Y-%m-%d %H:%M} {action_label(self.action)} {self.target_repr}"


class FeeSchedule(models.Model):
    """What the platform charges for a payment to one biller through one channel, from a date on.

    fee = fixed + amount × percentage, kept within [min fee, max fee]. Rows are never edited: a new
    price is a new row with a later `valid_from`.
    """

    biller = models.ForeignKey(
        Biller, on_delete=models.PROTECT, related_name="fee_schedules", verbose_name=_("biller")
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    fixed_fee = models.DecimalField(_("fixed fee"), default=ZERO, **MONEY)
    percentage = models.DecimalField(
        _("percentage of the amount"),
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.0000"),
        help_text=_("A fraction of the amount: 0.0030 is 0.30%."),
    )
    min_fee = models.DecimalField(_("least fee"), default=ZERO, **MONEY)
    max_fee = models.DecimalField(
        _("most fee"), null=True, blank=True, **MONEY, help_text=_("Leave empty for no upper limit.")
    )
    payer_pays = models.BooleanField(
        _("payer pays the fee"),
        default=False,
        help_text=_("Otherwise the biller bears the fee and it is deducted at settlement."),
    )
    valid_from = models.DateField(_("valid from"))
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["biller", "channel", "-valid_from"]
        verbose_name = _("fee schedule")
        verbose_name_plural = _("fee schedules")
        constraints = [
            models.UniqueConstraint(
                fields=["biller", "channel", "valid_from"], name="fee_schedule_unique_per_day"
            ),
            models.CheckConstraint(condition=Q(fixed_fee__gte=0), name="fee_fixed_not_negative"),
            models.CheckConstraint(
                condition=Q(percentage__gte=0) & Q(percentage__lt=1), name="fee_percentage_in_range"
            ),
            models.CheckConstraint(condition=Q(min_fee__gte=0), name="fee_min_not_negative"),
            models.CheckConstraint(
                condition=Q(max_fee__isnull=True) | Q(max_fee__gte=F("min_fee")),
                name="fee_max_not_below_min",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.biller.code} {self.get_channel_display()} {self.valid_from:%Y-%m-%d}"


class BillImportJob(models.Model):
    """A bill file imported in the background from the admin, with its progress and error report."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        REFUSED = "refused", _("Nothing imported")
        FAILED = "failed", _("Failed")

    biller = models.ForeignKey(
        Biller, on_delete=models.PROTECT, related_name="import_jobs", verbose_name=_("biller")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("started by")
    )
    created_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    file_name = models.CharField(_("file"), max_length=200)
    data = models.BinaryField(_("file contents"), editable=False)
    encoding = models.CharField(_("encoding"), max_length=20, blank=True)
    partial = models.BooleanField(_("import the valid rows, report the rest"), default=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    phase = models.CharField(_("phase"), max_length=16, blank=True)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_done = models.PositiveIntegerField(_("rows read"), default=0)
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    error_report = models.TextField(_("error report (CSV)"), blank=True, editable=False)
    message = models.CharField(_("message"), max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("bill import")
        verbose_name_plural = _("bill imports")

    def __str__(self) -> str:
        return f"{self.biller.code} {self.file_name} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def percent(self) -> int:
        if self.status in (self.Status.DONE, self.Status.REFUSED, self.Status.FAILED):
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(self.rows_done * 100 / self.rows_total))


class OutboxEvent(models.Model):
    """A money event (payment posted, reversed, refunded; settlement; write-off), written in the same
    transaction as its ledger entry, so it exists exactly when the money moved. `billing.outbox` relays it
    to webhooks and internal consumers after commit; its id is what receivers de-duplicate on."""

    id = models.UUIDField(_("event id"), primary_key=True, editable=False)
    type = models.CharField(_("event type"), max_length=40)
    aggregate_type = models.CharField(_("about"), max_length=40)
    aggregate_id = models.CharField(_("about id"), max_length=64)
    payload = models.JSONField(_("payload"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        indexes = [
            # The relay's query reads only what is unpublished: this index stays small however long the
            # platform runs.
            models.Index(
                fields=["created_at"], condition=Q(published_at__isnull=True), name="outbox_unpublished"
            ),
            models.Index(fields=["aggregate_type", "aggregate_id"], name="outbox_aggregate"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.aggregate_type}:{self.aggregate_id}"


class FailedTask(models.Model):
    """A Celery task that exhausted its retries (or failed without any): one row per task and arguments,
    counting its failures, for staff to look into and send again (the admin's "retry" action)."""

    task_name = models.CharField(_("task"), max_length=200)
    fingerprint = models.CharField(max_length=64, unique=True, editable=False)
    args = models.JSONField(_("arguments"), default=list)
    kwargs = models.JSONField(_("keyword arguments"), default=dict)
    error = models.TextField(_("error"))
    task_id = models.CharField(_("last task id"), max_length=64, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    first_failed_at = models.DateTimeField(_("first failure"), default=timezone.now)
    last_failed_at = models.DateTimeField(_("last failure"), default=timezone.now, db_index=True)
    retried_at = models.DateTimeField(_("retried"), null=True, blank=True)
    retry_count = models.PositiveIntegerField(_("times retried by staff"), default=0)

    class Meta:
        ordering = ["-last_failed_at"]
        verbose_name = _("failed task")
        verbose_name_plural = _("failed tasks")

    def __str__(self) -> str:
        return f"{self.task_name}{tuple(self.args)}"


class Instalment(models.Model):
    """One part of a bill offered in instalments (issue 17, item 3; billing.instalments): its amount and its
    own due date. What is paid is not stored here: a bill's payments cover its instalments in order, so
    paying every instalment pays the bill and paying the bill in full closes every open instalment."""

    bill = models.ForeignKey(
        Bill, on_delete=models.PROTECT, related_name="instalments", verbose_name=_("bill")
    )
    number = models.PositiveSmallIntegerField(_("instalment number"))
    amount = models.DecimalField(_("amount"), **MONEY)
    due_date = models.DateField(_("due date"))

    class Meta:
        ordering = ["bill", "number"]
        verbose_name = _("instalment")
        verbose_name_plural = _("instalments")
        constraints = [
            models.UniqueConstraint(fields=["bill", "number"], name="instalment_unique_per_bill"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="instalment_amount_positive"),
            models.CheckConstraint(condition=Q(number__gte=1), name="instalment_number_from_one"),
        ]

    def __str__(self) -> str:
        return f"{self.bill} #{self.number}"


# Live presentment (issue 17) and shared collections (issue 17, item 4): kept in their own modules,
# billing/presentment_models.py and billing/collection_models.py.
from billing.collection_models import CollectionShare  # noqa: E402, F401

# Fiscal e-receipts (issue 17): kept in their own module, see billing/fiscal_models.py.
from billing.fiscal_models import FiscalReceipt, FiscalSetup  # noqa: E402, F401
from billing.presentment_models import BillerCheck, BillerLink  # noqa: E402, F401

# Top-ups written to a card or meter (issue 17, item 8): kept in its own module, see billing/topup_models.py.
from billing.topup_models import CardWriteRule, TopUpHold  # noqa: E402, F401
