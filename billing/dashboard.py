"""The staff home (the admin's index): panels of figures, each a server-drawn bar chart with the same
figures as a table behind it, scoped to what the user may see.

The mechanism lives here and names no channel app: each app registers its own panels when it loads (its
`AppConfig.ready()` calls `<app>.dashboard.declare_panels()`), each reading through its own selectors with
the user, so that a biller operator's or a branch's staff see only their biller's or branch's rows. A panel
is shown to users who may view its model (`access.can_view`); a user who may view none sees no dashboard.

Two panels gather counts from several apps: APPROVALS (what waits for a second person: four eyes) and
FAILED_TASKS (work that gave up: the failed-task records of tasks past their retries, failed imports, webhook
deliveries that exhausted theirs; another app adds a line with `register_count(FAILED_TASKS, ...)`).
"""

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Model
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing import access
from billing.money import format_money

APPROVALS = "approvals"
FAILED_TASKS = "failed_tasks"


@dataclass
class Chart:
    """What a panel shows: rows of figures as a table; `bar` is the column the bars draw (the first column
    labels them), None for a table alone."""

    columns: Sequence[str]
    rows: list[tuple]
    bar: int | None = 1
    empty: str = ""
    links: list[str] = field(default_factory=list)  # per row, where to act on it ("" for none)

    # The drawing, in SVG user units: labels on the left, bars from LABEL_WIDTH, figures after each bar.
    ROW_HEIGHT = 24
    LABEL_WIDTH = 200
    BAR_WIDTH = 200
    LABEL_CHARACTERS = 16  # at 12 units a character: what fits before the bars (Chinese is widest)

    def _shown(self, value) -> str:
        return format_money(value) if isinstance(value, Decimal) else str(value)

    def table_rows(self) -> list[tuple[str, list[str]]]:
        """(link, cells) per row as the table prints it: money with two places and thousands separated."""
        links = [*self.links, *[""] * len(self.rows)]
        return [(links[index], [self._shown(cell) for cell in row]) for index, row in enumerate(self.rows)]

    def bars(self) -> list[dict]:
        """One bar per row, scaled to the largest value: its label, figure and geometry for the template."""
        if self.bar is None or not self.rows:
            return []
        largest = max((row[self.bar] for row in self.rows), default=0) or 1
        bars = []
        for index, row in enumerate(self.rows):
            width = round(self.BAR_WIDTH * row[self.bar] / largest)
            top = index * self.ROW_HEIGHT
            label = str(row[0])
            if len(label) > self.LABEL_CHARACTERS:
                label = label[: self.LABEL_CHARACTERS - 1] + "…"
            bars.append(
                {
                    "label": label,
                    "x": self.LABEL_WIDTH,
                    "value": self._shown(row[self.bar]),
                    "y": top + 4,
                    "text_y": top + 17,
                    "width": max(width, 1 if row[self.bar] else 0),
                    "value_x": self.LABEL_WIDTH + width + 6,
                }
            )
        return bars

    @property
    def height(self) -> int:
        return self.ROW_HEIGHT * len(self.rows)


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    order: int
    model: type[Model]  # shown to those who may view it
    read: Callable[..., Chart]  # read(user, today) -> Chart
    link: str = ""  # the admin URL name where its rows are worked on


@dataclass(frozen=True)
class Count:
    """One line of a panel that gathers counts from several apps (APPROVALS, FAILED_TASKS)."""

    label: str
    model: type[Model]
    count: Callable[..., int]  # count(user, today) -> int, one query
    link: str = ""


PANELS: dict[str, Panel] = {}
COUNTS: dict[str, dict[str, Count]] = {APPROVALS: {}, FAILED_TASKS: {}}


def register_panel(panel: Panel) -> None:
    """Declare a panel (again, the same key replaces it: apps may load twice in tests)."""
    PANELS[panel.key] = panel


def register_count(panel_key: str, key: str, count: Count) -> None:
    """Add a line to a gathering panel: `register_count(FAILED_TASKS, "tasks", Count(...))`."""
    COUNTS[panel_key][key] = count


def _url(name: str) -> str:
    try:
        return reverse(name) if name else ""
    except NoReverseMatch:
        return ""


@dataclass
class ShownPanel:
    key: str
    title: str
    chart: Chart
    url: str = ""


def _gathered(panel_key: str, user, today) -> Chart | None:
    lines = [line for line in COUNTS[panel_key].values() if access.can_view(user, line.model)]
    if not lines:
        return None
    return Chart(
        columns=[str(_("What")), str(_("Count"))],
        rows=[(str(line.label), line.count(user, today)) for line in lines],
        links=[_url(line.link) for line in lines],
    )


GATHERING_TITLES = {
    APPROVALS: _("Waiting for a second person (four eyes)"),
    FAILED_TASKS: _("Failed tasks"),
}


def panels_for(user, today: datetime.date | None = None) -> list[ShownPanel]:
    """The panels the user may see, read now: one query per panel (a gathering panel: one per line)."""
    today = today or timezone.localdate()
    shown: list[tuple[int, ShownPanel]] = []
    for panel in PANELS.values():
        if access.can_view(user, panel.model):
            chart = panel.read(user, today)
            shown.append((panel.order, ShownPanel(panel.key, str(panel.title), chart, _url(panel.link))))
    for order, key in ((30, APPROVALS), (80, FAILED_TASKS)):
        chart = _gathered(key, user, today)
        if chart is not None:
            shown.append((order, ShownPanel(key, str(GATHERING_TITLES[key]), chart)))
    return [panel for _order, panel in sorted(shown, key=lambda item: item[0])]


def declare_panels() -> None:
    """Billing's own panels: today's payments by channel and by hour, collections by biller, billers
    waiting for approval, failed bill imports."""
    from billing import selectors
    from billing.choices import Channel
    from billing.models import Biller, BillImportJob, FailedTask, Payment

    def by_channel(user, today):
        rows = selectors.payments_by_channel(user, today)
        return Chart(
            columns=[str(_("Channel")), str(_("Payments")), str(_("Amount (¥)"))],
            rows=[(str(Channel(row["channel"]).label), row["count"], row["total"]) for row in rows],
            empty=str(_("No payment today yet.")),
        )

    def by_hour(user, today):
        counts = selectors.payments_by_hour(user, today)
        return Chart(
            columns=[str(_("Hour")), str(_("Payments")), str(_("Amount (¥)"))],
            rows=[(f"{hour:02d}:00", count, total) for hour, count, total in counts],
            empty=str(_("No payment today yet.")),
        )

    def by_biller(user, today):
        rows = selectors.collections_by_biller(user, today.replace(day=1), today)
        return Chart(
            columns=[str(_("Biller")), str(_("Amount (¥)")), str(_("Payments"))],
            rows=[(name, total, count) for name, total, count in rows],
            empty=str(_("Nothing collected this month yet.")),
        )

    register_panel(
        Panel(
            "payments_by_channel",
            _("Today's payments by channel"),
            10,
            Payment,
            by_channel,
            "admin:billing_payment_changelist",
        )
    )
    register_panel(Panel("payments_by_hour", _("Today's payments by hour"), 11, Payment, by_hour))
    register_panel(
        Panel("collections_by_biller", _("Collections by biller this month (top 10)"), 20, Payment, by_biller)
    )
    register_count(
        APPROVALS,
        "billers",
        Count(
            _("Billers submitted, waiting for a second administrator's approval"),
            Biller,
            selectors.billers_awaiting_approval,
            "admin:billing_biller_changelist",
        ),
    )
    register_count(
        FAILED_TASKS,
        "tasks",
        Count(
            _("Tasks that gave up after every retry, not yet sent again"),
            FailedTask,
            selectors.failed_tasks_to_look_into,
            "admin:billing_failedtask_changelist",
        ),
    )
    register_count(
        FAILED_TASKS,
        "bill_imports",
        Count(
            _("Bill imports that failed (last 7 days)"),
            BillImportJob,
            selectors.failed_bill_imports,
            "admin:billing_billimportjob_changelist",
        ),
    )
