"""Shared collections (issue 17, item 4): a biller's co-beneficiaries, each taking a fixed amount per bill
or a percentage of each payment, credited to its own payable account and remitted to its own bank
account (billing.collection_shares computes the split; billing.models imports this module)."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from billing.choices import ShareRule
from billing.models import LocalizedNameMixin  # defined before billing.models imports this module
from billing.money import money_field_kwargs


class CollectionShare(LocalizedNameMixin, models.Model):
    """One co-beneficiary of a biller's collections (a province taking part of a city's fines, an agency's
    fee). Never deleted once money was credited to it: switched off instead, so settlement still finds the
    bank account of what its payable account holds."""

    biller = models.ForeignKey(
        "billing.Biller", on_delete=models.PROTECT, related_name="collection_shares", verbose_name=_("biller")
    )
    code = models.CharField(
        _("code"),
        max_length=16,
        help_text=_("2 to 16 capital letters or digits; names its payable account PAYABLE:<biller>:<code>."),
    )
    name = models.CharField(_("name"), max_length=120)
    name_en = models.CharField(_("English name"), max_length=120, blank=True)
    rule = models.CharField(_("rule"), max_length=8, choices=ShareRule.choices)
    fixed_amount = models.DecimalField(
        _("fixed amount per bill"), null=True, blank=True, **money_field_kwargs()
    )
    percentage = models.DecimalField(
        _("percentage"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Percent of each payment left after the fixed amounts and the late fee, such as 40.00."),
    )
    position = models.PositiveSmallIntegerField(_("order"), default=1)
    active = models.BooleanField(_("takes its part"), default=True)
    settlement_bank_name = models.CharField(_("settlement bank"), max_length=120)
    settlement_account_name = models.CharField(_("settlement account name"), max_length=200)
    settlement_account_no = models.CharField(_("settlement account number"), max_length=40)

    class Meta:
        ordering = ["biller", "position", "code"]
        verbose_name = _("shared collection part")
        verbose_name_plural = _("shared collection parts")
        constraints = [
            models.UniqueConstraint(fields=["biller", "code"], name="collection_share_code_per_biller"),
            models.CheckConstraint(
                condition=(
                    Q(rule=ShareRule.FIXED, fixed_amount__gt=0, percentage__isnull=True)
                    | Q(
                        rule=ShareRule.PERCENT,
                        percentage__gt=0,
                        percentage__lte=100,
                        fixed_amount__isnull=True,
                    )
                ),
                name="collection_share_rule_has_its_value",
                violation_error_message=_(
                    "A fixed part needs an amount above zero and no percentage; a percentage part needs a "
                    "percentage above 0 and at most 100, and no amount."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.code})"

    @property
    def ledger_code(self) -> str:
        return f"PAYABLE:{self.biller.code}:{self.code}"
