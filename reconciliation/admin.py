"""The back-office of reconciliation: statements and runs (with progress), the discrepancy workbench,
settlement batches, complaints and the daily report. Rows are read-only; every change goes through a
service, which checks the role (reconciliation officer or platform admin) and audits."""

import datetime
from decimal import Decimal

from django.contrib import admin, messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from billing import untrusted_files
from billing.admin_scoping import ScopedAdminMixin, ScopedBillerListFilter
from billing.audit import action_label
from billing.exceptions import BillingError
from billing.money import format_money
from reconciliation import selectors, services, tasks
from reconciliation.choices import ComplaintStatus, DiscrepancyStatus, MatchClass
from reconciliation.forms import (
    ApproveForm,
    ComplaintActionForm,
    ConfirmationUploadForm,
    ResolveForm,
    StatementUploadForm,
)
from reconciliation.models import (
    Complaint,
    Discrepancy,
    ReconciliationRun,
    SettlementBatch,
    SettlementRun,
    StatementFile,
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

    @admin.display(description=_("progress"))
    def progress(self, obj):
        return format_html('<progress max="100" value="{}"></progress> {}%', obj.percent, obj.percent)

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
    readonly_fields = ["workbench", "trail"]
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
class SettlementBatchAdmin(ReadOnlyReconAdmin):
    list_display = [
        "reference",
        "biller",
        "business_date",
        "payment_count",
        "gross",
        "fees",
        "net",
        "status",
        "files",
    ]
    list_filter = ["status", "business_date", ("biller", ScopedBillerListFilter)]
    list_select_related = ["biller"]
    search_fields = ["reference", "biller__code"]
    exclude = ["confirmation_content", "remittance_csv", "remittance_xml"]
    raw_id_fields = ["biller", "journal_entry"]
    readonly_fields = ["trail"]

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
class SettlementRunAdmin(ReadOnlyReconAdmin):
    list_display = [
        "business_date",
        "status",
        "percent",
        "billers_done",
        "billers_total",
        "batches_built",
        "attempts",
        "finished_at",
    ]
    list_filter = ["status"]


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
