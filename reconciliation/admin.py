"""The back-office of reconciliation: statements and runs (with progress), the discrepancy workbench,
settlement batches, complaints and the daily report. Rows are read-only; every change goes through a
service, which checks the role (reconciliation officer or platform admin) and audits."""

import datetime
from decimal import Decimal

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from billing import untrusted_files
from billing.admin_audit import AuditedAdminMixin
from billing.admin_scoping import ScopedAdminMixin, ScopedBillerListFilter
from billing.audit import action_label
from billing.exceptions import BillingError
from billing.money import format_money
from reconciliation import selectors, services, tasks
from reconciliation.choices import ComplaintStatus, DiscrepancyStatus, MatchClass, RunStatus
from reconciliation.forms import (
    ApproveForm,
    ComplaintActionForm,
    ConfirmationUploadForm,
    ResolveForm,
    SettleDayForm,
    StatementUploadForm,
)
from reconciliation.models import (
    Complaint,
    Discrepancy,
    ReconciliationRun,
    SettlementBatch,
    SettlementRun,
    StatementFile,
    WorkingDayOverride,
)


def _progress_bar(obj):
    return format_html('<progress max="100" value="{}"></progress> {}%', obj.percent, obj.percent)


class SettleMixin:
    """Settling a day from the admin: refused on the spot, in words, when the day is not settleable yet
    (not over, before its T+1 working day, still reconciling); else the settle task runs on the worker
    and its progress shows on the day's settlement run."""

    def _queue_settlement(self, request, day: datetime.date) -> str | None:
        """None when queued, else why not."""
        try:
            services.check_day_closed(day)
        except BillingError as refused:
            return refused.message
        actor_id = request.user.pk
        transaction.on_commit(lambda: tasks.settle_day.delay(day.isoformat(), actor_id))
        return None

    def settle_view(self, request):
        if not self._workbench(request):
            return HttpResponse(status=403)
        form = SettleDayForm(
            request.POST or None, initial={"day": timezone.localdate() - datetime.timedelta(1)}
        )
        if request.method == "POST" and form.is_valid():
            day = form.cleaned_data["day"]
            refused = self._queue_settlement(request, day)
            if refused is None:
                return self._done(
                    request,
                    reverse("admin:reconciliation_settlementrun_changelist"),
                    _("Settlement of %(day)s started: its progress shows below.") % {"day": day},
                )
            form.add_error("day", refused)
        return self._render_form(request, form, _("Settle a day"))

    def changelist_view(self, request, extra_context=None):
        """The list's settle links show only to those the settle page lets in (`_workbench`), not a 403."""
        return super().changelist_view(
            request, {**(extra_context or {}), "can_settle": self._workbench(request)}
        )


class ReadOnlyReconAdmin(ScopedAdminMixin, admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _workbench(self, request) -> bool:
        return services.is_recon_staff(request.user)

    def _submit(self, request, form, action, success, error_field=None):
        """The workbench's forms each run one service call, `action(cleaned_data)`. None while the form is
        not posted or not valid, or when the service refused (its message then stands on the form); else
        what `success(result)` answers."""
        if request.method != "POST" or not form.is_valid():
            return None
        try:
            result = action(form.cleaned_data)
        except BillingError as exc:
            form.add_error(error_field, exc.message)
            return None
        return success(result)

    def _done(self, request, url, message=None):
        messages.success(request, message or _("Done."))
        return HttpResponseRedirect(url)

    def _render_form(self, request, form, title, obj=None):
        """The workbench's one form page: a form bound to a service action, inside the admin's frame."""
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": title,
            "opts": self.model._meta,
        }
        if obj is not None:
            context["object"] = obj
        return TemplateResponse(request, "reconciliation/admin_form.html", context)

    def trail(self, obj):
        events = selectors.audit_trail(obj) if obj and obj.pk else []
        if not events:
            return "—"
        return format_html(
            "<ol>{}</ol>",
            format_html_join(
                "",
                "<li>{} · {} · {} ({}) {}</li>",
                (
                    (
                        timezone.localtime(e.created_at).strftime("%Y-%m-%d %H:%M"),
                        e.actor or _("system"),
                        action_label(e.action),
                        e.action,
                        e.reason,
                    )
                    for e in events
                ),
            ),
        )

    trail.short_description = _("audit trail")


@admin.register(StatementFile)
class StatementFileAdmin(ReadOnlyReconAdmin):
    list_display = [
        "channel_code",
        "business_date",
        "format",
        "file_name",
        "line_count",
        "payments_total",
        "refunds_total",
        "short_hash",
        "imported_at",
    ]
    list_filter = ["format", "channel_code", "business_date"]
    search_fields = ["file_name", "sha256", "channel_code"]
    exclude = ["content"]
    readonly_fields = ["trail"]
    date_hierarchy = "business_date"

    @admin.display(description=_("SHA-256"))
    def short_hash(self, obj):
        return obj.sha256[:12]

    def get_urls(self):
        return [
            path(
                "upload/",
                self.admin_site.admin_view(self.upload_view),
                name="reconciliation_statementfile_upload",
            ),
            path(
                "<int:pk>/download/",
                self.admin_site.admin_view(self.download_view),
                name="reconciliation_statementfile_download",
            ),
            *super().get_urls(),
        ]

    def upload_view(self, request):
        if not self._workbench(request):
            return HttpResponse(status=403)
        form = StatementUploadForm(request.POST or None, request.FILES or None)

        def imported(result):
            if result.created:
                tasks.run_reconciliation.delay(result.run.pk)
                messages.success(request, _("The statement was imported and is being reconciled."))
            else:
                messages.warning(request, _("This file was imported before: nothing was counted twice."))
            return HttpResponseRedirect(
                reverse("admin:reconciliation_reconciliationrun_change", args=[result.run.pk])
            )

        return self._submit(
            request,
            form,
            lambda data: services.import_statement(
                channel_code=data["channel_code"],
                business_date=data["business_date"],
                data=untrusted_files.read_upload(data["file"], "statement"),
                file_name=data["file"].name,
                fmt=data["format"] or None,
                actor=request.user,
            ),
            imported,
            error_field="file",
        ) or self._render_form(request, form, _("Import a channel statement"))

    def download_view(self, request, pk):
        statement = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_view_permission(request, statement):
            return HttpResponse(status=403)
        response = HttpResponse(bytes(statement.content), content_type="application/octet-stream")
        response["Content-Disposition"] = f'attachment; filename="{statement.sha256[:12]}-{statement.pk}"'
        return response


def _run_results(run) -> list[tuple[str, int, str]]:
    """(match class in the reader's language, lines, amount) for each class the run counted, in the
    classes' own order; a class this code does not know keeps its code rather than vanish."""
    counts = run.counts or {}
    known = [klass for klass in MatchClass.values if klass in counts]
    unknown = sorted(set(counts) - set(known))
    return [
        (
            str(MatchClass(klass).label) if klass in MatchClass.values else klass,
            int(counts[klass].get("count", 0)),
            format_money(Decimal(str(counts[klass].get("amount", "0")))),
        )
        for klass in known + unknown
    ]


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyReconAdmin):
    list_display = [
        "channel_code",
        "business_date",
        "status",
        "progress",
        "loaded_lines",
        "total_lines",
        "summary",
        "attempts",
        "finished_at",
    ]
    list_filter = ["status", "channel_code", "business_date"]
    exclude = ["counts"]  # shown as the results table below, not as raw JSON
    readonly_fields = ["results_table", "trail"]
    date_hierarchy = "business_date"
    actions = ["run_now"]

    def get_actions(self, request):
        found = super().get_actions(request)
        if not self._workbench(request):
            found.pop("run_now", None)
        return found

    @admin.action(description=_("Reconcile the selected statements now"))
    def run_now(self, request, queryset):
        """A statement imported (say, the demo's closed day) and not yet reconciled, or a run that failed:
        run it (a finished run is final and left alone)."""
        waiting = [run.pk for run in queryset if run.statement_id and run.status != RunStatus.DONE]
        for run_id in waiting:
            tasks.run_reconciliation.delay(run_id)
        messages.success(request, _("%(count)s statements are being reconciled.") % {"count": len(waiting)})

    @admin.display(description=_("progress"))
    def progress(self, obj):
        return _progress_bar(obj)

    @admin.display(description=_("results"))
    def summary(self, obj):
        return "，".join(f"{label} {count}" for label, count, _amount in _run_results(obj) if count)

    @admin.display(description=_("results"))
    def results_table(self, obj):
        rows = _run_results(obj)
        if not rows:
            return "—"
        return format_html(
            '<table><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            _("result"),
            _("lines"),
            _("amount"),
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>¥{}</td></tr>", rows),
        )

    def get_urls(self):
        return [
            path("report/", self.admin_site.admin_view(self.report_view), name="reconciliation_report"),
            *super().get_urls(),
        ]

    def report_view(self, request):
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        try:
            day = datetime.date.fromisoformat(request.GET.get("day", ""))
        except ValueError:
            day = timezone.localdate() - datetime.timedelta(days=1)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Daily reconciliation report"),
            "report": selectors.daily_report(day),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "reconciliation/report.html", context)


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReadOnlyReconAdmin):
    list_display = [
        "__str__",
        "klass",
        "channel_code",
        "business_date",
        "reference",
        "line_amount",
        "payment_amount",
        "candidates",
        "status",
        "assignee",
        "resolution",
    ]
    list_filter = [
        "status",
        "klass",
        "channel_code",
        "business_date",
        ("biller", ScopedBillerListFilter),
        "assignee",
    ]
    list_select_related = ["line", "payment", "assignee"]
    search_fields = ["line__channel_ref", "payment__receipt_no", "payment__channel_ref"]
    raw_id_fields = ["line", "payment", "resolution_payment", "till"]
    readonly_fields = ["cash_count", "workbench", "trail"]
    actions = ["assign_to_me"]
    date_hierarchy = "business_date"

    def get_actions(self, request):
        found = super().get_actions(request)
        if not self._workbench(request):
            found.pop("assign_to_me", None)
        return found

    @admin.action(description=_("Assign to me"))
    def assign_to_me(self, request, queryset):
        done = 0
        for discrepancy in queryset:
            try:
                services.assign_discrepancy(
                    discrepancy=discrepancy, assignee=request.user, actor=request.user
                )
                done += 1
            except BillingError as exc:
                messages.error(request, exc.message)
        messages.success(request, _("%(count)s discrepancies assigned to you.") % {"count": done})

    @admin.display(description=_("cash count"))
    def cash_count(self, obj):
        """A till's difference as what it is: expected, counted and the signed difference."""
        difference = selectors.till_difference(obj.till) if obj.till_id else None
        return difference.describe() if difference else "—"

    @admin.display(description=_("reference"))
    def reference(self, obj):
        return obj.reference

    @admin.display(description=_("workbench"))
    def workbench(self, obj):
        if obj.status == DiscrepancyStatus.RESOLVED:
            return obj.get_resolution_display()
        links = [(reverse("admin:reconciliation_discrepancy_resolve", args=[obj.pk]), _("Resolve"))]
        if obj.status == DiscrepancyStatus.AWAITING_APPROVAL:
            links = [
                (
                    reverse("admin:reconciliation_discrepancy_approve", args=[obj.pk]),
                    _("Approve or send back the write-off"),
                )
            ]
        return format_html_join(" · ", '<a class="button" href="{}">{}</a>', links)

    def get_urls(self):
        return [
            path(
                "<int:pk>/resolve/",
                self.admin_site.admin_view(self.resolve_view),
                name="reconciliation_discrepancy_resolve",
            ),
            path(
                "<int:pk>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name="reconciliation_discrepancy_approve",
            ),
            *super().get_urls(),
        ]

    def resolve_view(self, request, pk):
        if not self._workbench(request):
            return HttpResponse(status=403)
        discrepancy = get_object_or_404(self.get_queryset(request), pk=pk)
        form = ResolveForm(request.POST or None, actions=services.allowed_resolutions(discrepancy))
        return self._submit(
            request,
            form,
            lambda data: services.resolve_discrepancy(discrepancy=discrepancy, actor=request.user, **data),
            lambda _result: self._done(
                request, reverse("admin:reconciliation_discrepancy_change", args=[pk])
            ),
        ) or self._render_form(request, form, _("Resolve %(d)s") % {"d": discrepancy}, discrepancy)

    def approve_view(self, request, pk):
        if not self._workbench(request):
            return HttpResponse(status=403)
        discrepancy = get_object_or_404(self.get_queryset(request), pk=pk)
        form = ApproveForm(request.POST or None)

        def decide(data):
            decide_write_off = (
                services.approve_write_off if data["decision"] == "approve" else services.reject_write_off
            )
            return decide_write_off(discrepancy=discrepancy, actor=request.user, note=data["note"])

        return self._submit(
            request,
            form,
            decide,
            lambda _result: self._done(
                request, reverse("admin:reconciliation_discrepancy_change", args=[pk])
            ),
        ) or self._render_form(request, form, _("Write-off of %(d)s") % {"d": discrepancy}, discrepancy)


@admin.register(SettlementBatch)
class SettlementBatchAdmin(SettleMixin, ReadOnlyReconAdmin):
    list_display = [
        "reference",
        "biller",
        "business_date",
        "value_date",
        "payment_count",
        "gross",
        "fees",
        "net",
        "shared",
        "status",
        "files",
    ]
    list_filter = ["status", "business_date", ("biller", ScopedBillerListFilter)]
    list_select_related = ["biller"]
    search_fields = ["reference", "biller__code"]
    exclude = ["confirmation_content", "remittance_csv", "remittance_xml"]
    raw_id_fields = ["biller", "journal_entry"]
    readonly_fields = ["remitted_to", "settled_items", "trail"]

    @admin.display(description=_("remitted to"))
    def remitted_to(self, obj):
        """One credit per bank account (issue 17, item 4): the biller's own, net of the fees, and each
        co-beneficiary's part, with its reference and whether its bank confirmed it."""
        rows = selectors.remittance_rows(obj)
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            _("paid to"),
            _("bank account"),
            _("reference"),
            _("amount"),
            _("confirmed"),
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (row["who"], row["account"], row["reference"], f"{row['amount']:.2f}", row["confirmed"])
                    for row in rows
                ),
            ),
        )

    @admin.display(description=_("settled items"))
    def settled_items(self, obj):
        """The settlement report of the batch: each item with its own day, those carried marked."""
        rows = selectors.settlement_report_rows(obj)
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            _("receipt"),
            _("kind"),
            _("business day"),
            _("amount"),
            _("fee"),
            _("carried"),
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        row["receipt_no"],
                        row["kind"],
                        row["business_date"],
                        row["amount"],
                        row["fee"],
                        row["carried"],
                    )
                    for row in rows
                ),
            ),
        )

    @admin.display(description=_("remittance"))
    def files(self, obj):
        return format_html(
            '<a href="{}">CSV</a> · <a href="{}">camt.054</a>',
            reverse("admin:reconciliation_settlementbatch_file", args=[obj.pk, "csv"]),
            reverse("admin:reconciliation_settlementbatch_file", args=[obj.pk, "xml"]),
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/file.<str:kind>",
                self.admin_site.admin_view(self.file_view),
                name="reconciliation_settlementbatch_file",
            ),
            path(
                "confirm/",
                self.admin_site.admin_view(self.confirm_view),
                name="reconciliation_settlementbatch_confirm",
            ),
            path(
                "settle/",
                self.admin_site.admin_view(self.settle_view),
                name="reconciliation_settlementbatch_settle",
            ),
            *super().get_urls(),
        ]

    def file_view(self, request, pk, kind):
        batch = get_object_or_404(self.get_queryset(request), pk=pk)
        if kind == "csv":
            response = HttpResponse(batch.remittance_csv, content_type="text/csv; charset=utf-8")
        else:
            response = HttpResponse(batch.remittance_xml, content_type="application/xml")
        response["Content-Disposition"] = f'attachment; filename="{batch.reference}.{kind}"'
        return response

    def confirm_view(self, request):
        if not self._workbench(request):
            return HttpResponse(status=403)
        form = ConfirmationUploadForm(request.POST or None, request.FILES or None)
        return self._submit(
            request,
            form,
            lambda data: services.import_settlement_confirmation(
                data=untrusted_files.read_upload(data["file"], "confirmation"), actor=request.user
            ),
            lambda batches: self._done(
                request,
                reverse("admin:reconciliation_settlementbatch_changelist"),
                _("%(count)s settlement batches confirmed.") % {"count": len(batches)},
            ),
            error_field="file",
        ) or self._render_form(request, form, _("Import a settlement confirmation"))


@admin.register(SettlementRun)
class SettlementRunAdmin(SettleMixin, ReadOnlyReconAdmin):
    list_display = [
        "business_date",
        "status",
        "progress",
        "billers_done",
        "billers_total",
        "batches_built",
        "attempts",
        "error",
        "finished_at",
    ]
    list_filter = ["status"]
    actions = ["settle"]

    @admin.display(description=_("progress"))
    def progress(self, obj):
        return _progress_bar(obj)

    def get_actions(self, request):
        found = super().get_actions(request)
        if not self._workbench(request):
            found.pop("settle", None)
        return found

    @admin.action(description=_("Settle"))
    def settle(self, request, queryset):
        """Settle the selected days again (a failed run resumes; what became settleable waits for the
        next day's batch, so a rerun never pays anything twice)."""
        for run in queryset.order_by("business_date"):
            refused = self._queue_settlement(request, run.business_date)
            if refused is None:
                messages.success(request, _("Settlement of %(day)s started.") % {"day": run.business_date})
            else:
                messages.error(request, refused)

    def changelist_view(self, request, extra_context=None):
        """The list follows a settlement under way: it reloads every few seconds until none is."""
        following = SettlementRun.objects.filter(status__in=services.settlement.UNFINISHED_RUNS).exists()
        return super().changelist_view(request, {**(extra_context or {}), "following": following})

    def get_urls(self):
        return [
            path(
                "settle/",
                self.admin_site.admin_view(self.settle_view),
                name="reconciliation_settlementrun_settle",
            ),
            *super().get_urls(),
        ]


@admin.register(WorkingDayOverride)
class WorkingDayOverrideAdmin(ScopedAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    """The operator's days over China's published calendar (a bank closure, a year the calendar
    package does not know yet); every change is audited."""

    list_display = ["day", "is_working_day", "note", "created_by", "created_at"]
    list_filter = ["is_working_day"]
    date_hierarchy = "day"
    fields = ["day", "is_working_day", "note"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Complaint)
class ComplaintAdmin(ReadOnlyReconAdmin):
    list_display = ["__str__", "payment", "status", "assignee", "created_at", "clock", "linked"]
    list_filter = ["status", "reason"]
    list_select_related = ["payment", "assignee"]
    search_fields = ["payment__receipt_no", "contact_name"]
    exclude = ["token", "discrepancies"]
    raw_id_fields = ["payment"]
    readonly_fields = ["clock", "linked", "act", "trail"]

    @admin.display(description=_("response time"))
    def clock(self, obj):
        end = obj.resolved_at or timezone.now()
        hours = (end - obj.created_at).total_seconds() / 3600
        overdue = obj.status != ComplaintStatus.RESOLVED and timezone.now() > obj.due_at
        text = _("%(hours).1f h (overdue)") if overdue else _("%(hours).1f h")
        return text % {"hours": hours}

    @admin.display(description=_("discrepancies"))
    def linked(self, obj):
        return (
            format_html_join(
                ", ",
                '<a href="{}">{}</a>',
                (
                    (reverse("admin:reconciliation_discrepancy_change", args=[d.pk]), str(d))
                    for d in obj.discrepancies.all()
                ),
            )
            or "—"
        )

    @admin.display(description=_("actions"))
    def act(self, obj):
        if obj.status == ComplaintStatus.RESOLVED:
            return obj.outcome
        return format_html(
            '<a class="button" href="{}">{}</a>',
            reverse("admin:reconciliation_complaint_act", args=[obj.pk]),
            _("Work on it"),
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/act/",
                self.admin_site.admin_view(self.act_view),
                name="reconciliation_complaint_act",
            ),
            *super().get_urls(),
        ]

    def act_view(self, request, pk):
        if not self._workbench(request):
            return HttpResponse(status=403)
        complaint = get_object_or_404(self.get_queryset(request), pk=pk)
        form = ComplaintActionForm(request.POST or None)

        def act(data):
            if data["action"] == "assign":
                return services.assign_complaint(
                    complaint=complaint, assignee=request.user, actor=request.user
                )
            if data["action"] == "escalate":
                return services.escalate_complaint(complaint=complaint, actor=request.user, note=data["note"])
            return services.resolve_complaint(complaint=complaint, outcome=data["note"], actor=request.user)

        return self._submit(
            request,
            form,
            act,
            lambda _result: self._done(request, reverse("admin:reconciliation_complaint_change", args=[pk])),
        ) or self._render_form(request, form, str(complaint), complaint)
