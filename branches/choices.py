from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class OperatorKind(models.TextChoices):
    POST_OFFICE = "post_office", _("Post office")
    BANK = "bank", _("Bank")
    CONVENIENCE_STORE = "convenience_store", _("Convenience store chain")
    COMMUNITY_CENTRE = "community_centre", _("Community service centre")


class BranchStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("branch status", "Open")
    SUSPENDED = "suspended", _("Temporarily suspended")
    CLOSED = "closed", _("Closed")


class BranchRole(models.TextChoices):
    SUPERVISOR = "supervisor", _("Branch supervisor")
    CLERK = "clerk", _("Branch clerk")
