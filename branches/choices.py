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


# Which branch status may follow which; `change_branch_status` refuses anything else. A closed branch
# stays closed: a new outlet at the same place is a new branch.
BRANCH_TRANSITIONS: dict[str, frozenset[str]] = {
    BranchStatus.OPEN: frozenset({BranchStatus.SUSPENDED, BranchStatus.CLOSED}),
    BranchStatus.SUSPENDED: frozenset({BranchStatus.OPEN, BranchStatus.CLOSED}),
    BranchStatus.CLOSED: frozenset(),
}


class BranchRole(models.TextChoices):
    SUPERVISOR = "supervisor", _("Branch supervisor")
    CLERK = "clerk", _("Branch clerk")


class ClosureStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    IN_EFFECT = "in_effect", _("In effect")
    ENDED = "ended", _("Ended")
    CANCELLED = "cancelled", _("Cancelled")


class TillStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("till status", "Open")
    CLOSED = "closed", pgettext_lazy("till status", "Closed")


# Renminbi notes and coins a till counts, in fen (the form shows yuan).
DENOMINATIONS_FEN: tuple[int, ...] = (10000, 5000, 2000, 1000, 500, 100, 50, 10)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class AgentKind(models.TextChoices):
    VILLAGE_OFFICER = "village_officer", _("Village officer")
    SHOP = "shop", _("Shop")
    COMMUNITY_CENTRE = "community_centre", _("Community centre")


class AgentStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    CLOSED = "closed", pgettext_lazy("agent status", "Closed")


AGENT_TRANSITIONS: dict[str, frozenset[str]] = {
    AgentStatus.ACTIVE: frozenset({AgentStatus.SUSPENDED, AgentStatus.CLOSED}),
    AgentStatus.SUSPENDED: frozenset({AgentStatus.ACTIVE, AgentStatus.CLOSED}),
    AgentStatus.CLOSED: frozenset(),
}


class AgentPaymentSource(models.TextChoices):
    PAGES = "pages", _("Agent pages")
    API = "api", _("Agent app (partner API)")
