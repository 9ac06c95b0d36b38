"""Back-office change lists that stay fast over millions of rows (issue 16).

Django's admin counts the whole table on every page and offers every value of a filter by reading the
column. At a province's size (24 million bills, 10 million payments) that is seconds a page. Here:
- `EstimatedCountPaginator`: an unfiltered list shows PostgreSQL's own estimate of the table's rows
  (pg_class.reltuples, kept by autovacuum's ANALYZE); a filtered or searched one counts at most
  `COUNT_CAP` + 1 rows, so the count is exact up to the cap and "more than the cap" beyond it;
- `LargeTableAdminMixin`: that paginator, no second full count, and a search made of indexed conditions
  only (`search_condition`), where a lookup through a foreign key is first turned into at most
  `RELATED_SEARCH_LIMIT` ids, so the database ORs index scans instead of joining every row;
- list filters whose choices cost no scan of the big table: recent bill periods by the calendar, and
  biller or branch choices capped at `FILTER_CHOICES_CAP` (the one chosen is always offered).
"""

from functools import cached_property

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing import access
from billing.admin_scoping import ScopedBillerListFilter, ScopedBranchListFilter

COUNT_CAP = 10_000
RELATED_SEARCH_LIMIT = 500
FILTER_CHOICES_CAP = 100
RECENT_PERIODS = 24


class EstimatedCountPaginator(Paginator):
    """Counts without reading millions of rows: the planner's estimate for a whole table, a count capped
    at `COUNT_CAP` for anything filtered."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is None:  # a list, in tests or callers that pass one
            return len(queryset)
        if not query.where and not query.distinct and not query.combinator:
            estimate = self._estimated_rows(queryset)
            if estimate > COUNT_CAP:
                return estimate
        # In the list's own order: the page found its rows walking that order's index, and the count meets
        # the same rows first. Unordered, PostgreSQL may walk the same index from its other end: the grid
        # operator's open bills counted from its oldest bills, five million paid ones first (2.3 s).
        return queryset[: COUNT_CAP + 1].count()

    @staticmethod
    def _estimated_rows(queryset) -> int:
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                [queryset.model._meta.db_table],
            )
            row = cursor.fetchone()
        return max(int(row[0]), 0) if row else 0


class LargeTableAdminMixin:
    """For change lists over tables of millions of rows. Subclasses say what their search box finds in
    `search_condition(term)`; `search_fields` only shows the box (and is never used to build a query)."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # The field a biller's staff are scoped by, on a model listed newest first with an index on
    # (that field, id): see `get_ordering`.
    newest_first_by_biller: str | None = None

    def get_ordering(self, request):
        """Newest first; for the staff of one biller, by (biller, id), which lists the same rows in the same
        order but follows the (biller, id) index: by id alone PostgreSQL walks the whole table's newest
        ids and skips those of other billers, a million when another biller's file came last (0.3–0.6 s
        for the province grid's operator). `access.scope_filter` scopes them by a range of their one id,
        so that the biller stays in the ordering."""
        ordering = list(super().get_ordering(request))
        field = self.newest_first_by_biller
        if field and ordering == ["-pk"]:
            scope = access.scope_filter(request.user, self.model)
            children = scope.children if scope is not None else []
            one_biller = f"{field}__pk__range"
            if len(children) == 1 and isinstance(children[0], tuple) and children[0][0] == one_biller:
                return [f"-{field}_id", "-pk"]
        return ordering

    def search_condition(self, term: str) -> Q | None:  # pragma: no cover - every user overrides it
        raise NotImplementedError

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = self.search_condition(term)
        if condition is None:
            return queryset.none(), False
        return queryset.filter(condition), False


def related_ids(model, **lookup) -> list[int]:
    """The ids of at most `RELATED_SEARCH_LIMIT` rows of `model` matching `lookup` (an indexed one)."""
    return list(
        model._default_manager.filter(**lookup).order_by().values_list("pk", flat=True)[:RELATED_SEARCH_LIMIT]
    )


class RecentPeriodListFilter(admin.SimpleListFilter):
    """A bill's period among the last `RECENT_PERIODS` months, listed from the calendar rather than by
    reading every bill's period."""

    title = _("period")
    parameter_name = "period"

    def lookups(self, request, model_admin):
        today = timezone.localdate()
        year, month = today.year, today.month
        periods = []
        for _step in range(RECENT_PERIODS):
            periods.append(f"{year:04d}-{month:02d}")
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        return [(period, period) for period in periods]

    def queryset(self, request, queryset):
        return queryset.filter(period=self.value()) if self.value() else queryset


class CappedBillerListFilter(ScopedBillerListFilter):
    """The biller filter of a big table: at most `FILTER_CHOICES_CAP` billers offered (a province has
    20,000), read from the billers, never from the big table. Offered only to those who may view billers:
    for others Django would read every biller id of the table."""

    def field_choices(self, field, request, model_admin):
        if not access.can_view(request.user, field.related_model):
            return []
        return _capped_choices(access.visible_billers(request.user), self.field_path, request)


class CappedBranchListFilter(ScopedBranchListFilter):
    """The branch filter of a big table: at most `FILTER_CHOICES_CAP` of a province's 5,000 outlets, to
    those who may view branches."""

    def field_choices(self, field, request, model_admin):
        if not access.can_view(request.user, field.related_model):
            return []
        rows = access.scoped_queryset(request.user, field.related_model)
        return _capped_choices(rows, self.field_path, request)


def _capped_choices(rows, field_path: str, request) -> list:
    """The first `FILTER_CHOICES_CAP` rows by code, and the chosen one if it is further down."""
    rows = rows.order_by("code")
    choices = [(row.pk, str(row)) for row in rows[:FILTER_CHOICES_CAP]]
    chosen = request.GET.get(f"{field_path}__id__exact", "")
    if chosen.isdigit() and all(str(pk) != chosen for pk, _label in choices):
        choices += [(row.pk, str(row)) for row in rows.filter(pk=int(chosen))]
    return choices
