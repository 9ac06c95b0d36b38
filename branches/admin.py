"""Back-office screens of the branch registry and the cash counter. Status changes go through the
services (admin actions and `save_model`); tills and counter payments are read-only records."""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin

from billing import access
from billing.admin_import import NamedColumnsExportForm
from billing.admin_scoping import ScopedAdminMixin, ScopedBranchListFilter
from billing.exceptions import BillingError
from branches import agents, selectors, services
from branches.choices import BranchStatus
from branches.models import (
    Agent,
    AgentPayment,
    AgentStaff,
    Branch,
    BranchStaff,
    BranchStatusChange,
    CounterPayment,
    CoverageAlert,
    CoverageThreshold,
    FloatTopUp,
    LowFloatAlert,
    Operator,
    OutletNotice,
    PlannedClosure,
    Till,
)
from branches.resources import BranchResource


class ReadOnlyMixin:
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DistinctScopedMixin(ScopedAdminMixin):
    """Operators and agents are scoped through the operator's branches: a supervisor of two of its
    branches would see each row twice without `distinct()`."""

    def get_queryset(self, request):
        return super().get_queryset(request).distinct()

    def get_field_queryset(self, db, db_field, request):
        return super().get_field_queryset(db, db_field, request).distinct()


@admin.register(Operator)
class OperatorAdmin(DistinctScopedMixin, admin.ModelAdmin):
    list_display = ["code", "name", "kind"]
    search_fields = ["code", "name"]


class StatusChangeForm(forms.Form):
    to_status = forms.ChoiceField(label=_("New status"), choices=BranchStatus.choices)
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)
    until = forms.DateField(
        label=_("Expected to reopen"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


@admin.register(Branch)
class BranchAdmin(ScopedAdminMixin, ImportExportMixin, admin.ModelAdmin):
    resource_classes = [BranchResource]
    export_form_class = NamedColumnsExportForm
    list_display = ["code", "name", "operator", "district", "status", "status_since", "status_until"]
    list_filter = ["status", "district", ("operator", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["operator"]
    search_fields = ["code", "name", "address"]
    raw_id_fields = ["operator"]
    filter_horizontal = ["cash_billers", "cash_categories"]
    readonly_fields = ["status", "status_reason", "status_since", "status_until", "created_at"]
    actions = ["change_status"]

    def has_import_permission(self, request):
        return access.can(request.user, "add", Branch)

    def has_export_permission(self, request):
        return access.can_view(request.user, Branch)

    @admin.action(description=_("Change the status of the selected branches"))
    def change_status(self, request, queryset):
        if not access.can_change(request.user, Branch):
            self.message_user(request, _("You may not change branches."), messages.ERROR)
            return None
        if "apply" in request.POST:
            form = StatusChangeForm(request.POST)
            if form.is_valid():
                done = 0
                for branch in queryset:
                    try:
                        services.change_branch_status(
                            branch=branch,
                            to_status=form.cleaned_data["to_status"],
                            actor=request.user,
                            reason=form.cleaned_data["reason"],
                            until=form.cleaned_data["until"],
                        )
                        done += 1
                    except BillingError as error:
                        self.message_user(request, f"{branch}: {error.message}", messages.ERROR)
                if done:
                    self.message_user(request, _("%(n)d branches changed.") % {"n": done}, messages.SUCCESS)
                return redirect(request.get_full_path())
        else:
            form = StatusChangeForm()
        return render(
            request,
            "branches/admin/change_status.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "branches": queryset,
                "opts": self.model._meta,
            },
        )


@admin.register(BranchStaff)
class BranchStaffAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "branch", "role"]
    list_select_related = ["user", "branch"]
    raw_id_fields = ["user", "branch"]


@admin.register(BranchStatusChange)
class BranchStatusChangeAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "branch",
        "from_status",
        "to_status",
        "effective_on",
        "until",
        "reason",
        "actor",
    ]
    list_filter = ["to_status", ("branch", ScopedBranchListFilter)]
    list_select_related = ["branch", "actor"]
    search_fields = ["branch__code", "branch__name", "reason"]


@admin.register(OutletNotice)
class OutletNoticeAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    """Who was told of an outlet's suspension or planned closure, by e-mail or text, in which language."""

    list_display = ["sent_at", "outlet", "cause", "email", "phone", "language"]
    list_filter = ["language"]
    list_select_related = ["status_change__branch", "closure__branch"]
    search_fields = ["email", "phone", "status_change__branch__code", "closure__branch__code"]
    date_hierarchy = "sent_at"

    @admin.display(description=_("outlet"))
    def outlet(self, obj):
        change = obj.status_change or obj.closure
        return change.branch

    @admin.display(description=_("cause"))
    def cause(self, obj):
        return obj.status_change or obj.closure


@admin.register(PlannedClosure)
class PlannedClosureAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["branch", "to_status", "starts_on", "ends_on", "status", "reason", "planned_by"]
    list_filter = ["status", "to_status"]
    list_select_related = ["branch", "planned_by"]
    raw_id_fields = ["branch"]
    fields = ["branch", "to_status", "starts_on", "ends_on", "reason", "status", "planned_by", "created_at"]
    readonly_fields = ["status", "planned_by", "created_at"]
    actions = ["cancel"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return self.fields
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return
        saved = services.plan_closure(
            branch=obj.branch,
            to_status=obj.to_status,
            starts_on=obj.starts_on,
            ends_on=obj.ends_on,
            reason=obj.reason,
            actor=request.user,
        )
        obj.pk = saved.pk

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class ClosureForm(form):
            def clean(self):
                cleaned = super().clean()
                branch, to_status, starts_on = (cleaned.get(k) for k in ("branch", "to_status", "starts_on"))
                if obj is None and branch and to_status and starts_on:
                    try:
                        services.validate_closure(
                            branch=branch,
                            to_status=to_status,
                            starts_on=starts_on,
                            ends_on=cleaned.get("ends_on"),
                            reason=cleaned.get("reason", ""),
                        )
                    except BillingError as error:
                        raise forms.ValidationError(error.message) from error
                return cleaned

        return ClosureForm

    @admin.action(description=_("Cancel the selected planned closures"))
    def cancel(self, request, queryset):
        for closure in queryset:
            try:
                services.cancel_closure(closure=closure, actor=request.user)
            except BillingError as error:
                self.message_user(request, f"{closure}: {error.message}", messages.ERROR)


@admin.register(Till)
class TillAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "business_date",
        "branch",
        "clerk",
        "status",
        "opening_float",
        "expected_cash",
        "counted_cash",
        "variance",
    ]
    list_filter = ["status", "business_date", ("branch", ScopedBranchListFilter)]
    list_select_related = ["branch", "clerk"]
    search_fields = ["branch__code", "clerk__username"]
    date_hierarchy = "business_date"


@admin.register(CounterPayment)
class CounterPaymentAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "receipt_no", "branch", "till", "amount", "tendered", "change", "voided_at"]
    list_filter = [("branch", ScopedBranchListFilter)]
    list_select_related = ["payment", "branch", "till", "till__branch", "till__clerk"]
    search_fields = ["payment__receipt_no"]

    @admin.display(description=_("receipt number"), ordering="payment__receipt_no")
    def receipt_no(self, obj):
        return obj.payment.receipt_no

    @admin.display(description=_("amount"), ordering="payment__amount")
    def amount(self, obj):
        return obj.payment.amount


@admin.register(CoverageThreshold)
class CoverageThresholdAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["district", "min_open_outlets"]
    search_fields = ["district"]


@admin.register(CoverageAlert)
class CoverageAlertAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "raised_at",
        "district",
        "biller",
        "open_outlets",
        "threshold",
        "resolved_at",
        "emailed_at",
    ]
    list_filter = ["district", ("resolved_at", admin.EmptyFieldListFilter)]
    list_select_related = ["biller"]


# --- agents with a float (issue 18, item 4) ---------------------------------------------------------


@admin.register(Agent)
class AgentAdmin(DistinctScopedMixin, admin.ModelAdmin):
    """Operator staff (the supervisors of its branches) register the operator's agents; saved through
    `branches.agents.save_agent`. An agent is closed, never deleted (its payments name it)."""

    list_display = [
        "code",
        "name",
        "kind",
        "operator",
        "region_code",
        "status",
        "float_left",
        "low_float_threshold",
    ]
    list_filter = ["status", "kind", ("operator", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["operator"]
    search_fields = ["code", "name", "address", "region_code"]
    filter_horizontal = ["billers"]
    readonly_fields = ["created_at"]
    fieldsets = [
        (None, {"fields": ["code", "name", "kind", "operator", "status"]}),
        (_("Place"), {"fields": ["region_code", "address", "latitude", "longitude"]}),
        (_("What it may take"), {"fields": ["billers", "account_prefixes"]}),
        (
            _("Float and commission"),
            {
                "fields": [
                    "low_float_threshold",
                    "commission_fixed",
                    "commission_percentage",
                    "commission_max",
                ]
            },
        ),
        (None, {"fields": ["created_at"]}),
    ]

    def get_queryset(self, request):
        return selectors.with_float_balance(super().get_queryset(request))

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("float left"), ordering="float_left")
    def float_left(self, obj):
        return obj.float_left

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "billers":
            kwargs["queryset"] = selectors.billers_agents_may_take()
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        agents.save_agent(agent=obj, actor=request.user, created=not change)


@admin.register(AgentStaff)
class AgentStaffAdmin(DistinctScopedMixin, admin.ModelAdmin):
    list_display = ["user", "agent", "terminal_id"]
    list_select_related = ["user", "agent"]
    raw_id_fields = ["user", "agent"]
    search_fields = ["user__username", "agent__code", "terminal_id"]


@admin.register(AgentPayment)
class AgentPaymentAdmin(ReadOnlyMixin, DistinctScopedMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "receipt_no",
        "agent",
        "terminal_id",
        "region_code",
        "amount",
        "float_after",
        "commission",
        "source",
    ]
    list_filter = ["source", ("agent", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["payment", "agent"]
    search_fields = ["payment__receipt_no", "agent__code", "terminal_id"]
    date_hierarchy = "created_at"

    @admin.display(description=_("receipt number"), ordering="payment__receipt_no")
    def receipt_no(self, obj):
        return obj.payment.receipt_no

    @admin.display(description=_("amount"), ordering="payment__amount")
    def amount(self, obj):
        return obj.payment.amount


@admin.register(FloatTopUp)
class FloatTopUpAdmin(ReadOnlyMixin, DistinctScopedMixin, admin.ModelAdmin):
    list_display = ["credited_at", "agent", "amount", "bank_ref", "statement_line_id"]
    list_select_related = ["agent"]
    search_fields = ["bank_ref", "agent__code"]


@admin.register(LowFloatAlert)
class LowFloatAlertAdmin(ReadOnlyMixin, DistinctScopedMixin, admin.ModelAdmin):
    list_display = ["raised_at", "agent", "balance", "threshold", "resolved_at", "notified_at"]
    list_filter = [("resolved_at", admin.EmptyFieldListFilter)]
    list_select_related = ["agent"]
