"""Outlets that take cash: their operators, branches and the staff who work the counters."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from branches.choices import BranchRole, BranchStatus, OperatorKind


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
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="branches")
    district = models.CharField(_("district"), max_length=60)
    address = models.CharField(_("address"), max_length=200)
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    opening_hours = models.CharField(_("opening hours"), max_length=120, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=BranchStatus.choices, default=BranchStatus.OPEN
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("branch")
        verbose_name_plural = _("branches")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class BranchStaff(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="branch_roles")
    branch = models.ForeignKey(Branch, on_delete=models.CASCADE, related_name="staff")
    role = models.CharField(_("role"), max_length=16, choices=BranchRole.choices)

    class Meta:
        verbose_name = _("branch staff member")
        verbose_name_plural = _("branch staff")
        constraints = [models.UniqueConstraint(fields=["user", "branch"], name="branch_staff_unique")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.branch.code} ({self.get_role_display()})"
