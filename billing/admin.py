"""Back-office screens. Ledger rows are read-only: they change only through the posting service."""

from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from billing import access, collection_shares, instalments, selectors, services
from billing.admin_access import linked_billers
from billing.admin_audit import AuditedAdminMixin
from billing.admin_import import (
    AccountResource,
    BillImportExportMixin,
    PaymentResource,
    ScopedExportMixin,
)
from billing.admin_paging import (
    CappedBillerListFilter,
    CappedBranchListFilter,
    EstimatedCountPaginator,
    LargeTableAdminMixin,
    RecentPeriodListFilter,
    related_ids,
)
from billing.admin_scoping import (
    ScopedAdminMixin,
    ScopedBillerListFilter,
    ScopedInlineMixin,
)
from billing.audit import action_label, record_audit
from billing.choices import BillStatus, Channel, PaymentMode
from billing.exceptions import BillingError
from billing.models import (
    AuditEvent,
    Bill,
    Biller,
    BillerCategory,
    BillerStaff,
    BillImportJob,
    CollectionShare,
    CustomerAccount,
    FailedTask,
    FeeSchedule,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    OutboxEvent,
    Payment,
    PaymentAllocation,
)
from billing.money import ZERO, format_money


class ReadOnlyAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """For append-only records: viewable, never added, changed or deleted by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BillerCategory)
class BillerCategoryAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["code", "name", "name_en", "parent", "sort_order"]
    list_select_related = ["parent"]


class OnboardingActionForm(helpers.ActionForm):
    """The action bar of the billers list, with the reason every onboarding step records."""

    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=200,
        help_text=_("Required to suspend or close a biller; payers are shown it."),
    )


def _save_fee_row(row: FeeSchedule, *, actor) -> None:
    """Save a fee row the admin built (unsaved) through the pricing service, which audits it."""
    schedule = services.set_fee_schedule(
        biller=row.biller,
        channel=row.channel,
        fixed=row.fixed_fee,
        percentage=row.percentage,
        min_fee=row.min_fee,
        max_fee=row.max_fee,
        payer_pays=row.payer_pays,
        valid_from=row.valid_from,
        actor=actor,
    )
    row.pk, row.created_at = schedule.pk, schedule.created_at


class FeeScheduleInlineForm(forms.ModelForm):  # the inline supplies its Meta
    """A new price on the biller's page: a second price for the same channel and day is refused on the form
    (the inline's biller is left out of Django's own unique check)."""

    def clean(self):
        cleaned = super().clean()
        row, channel, valid_from = self.instance, cleaned.get("channel"), cleaned.get("valid_from")
        if not (row.pk is None and row.biller_id and channel and valid_from):
            return cleaned
        if selectors.fee_schedule_exists(biller_id=row.biller_id, channel=channel, valid_from=valid_from):
            refused = BillingError(
                "fee_schedule_exists",
                biller=row.biller.display_name,
                channel=Channel(channel).label,
                valid_from=valid_from.isoformat(),
            )
            raise forms.ValidationError(refused.message)
        return cleaned


class FeeScheduleInline(ScopedInlineMixin, admin.TabularInline):
    """A biller's prices, shown on it; those who may add fee schedules add a new price here too (the biller
    is the page's, never typed). Existing rows are read-only: a new price is a new row from a later date,
    saved through `set_fee_schedule` by BillerAdmin.save_formset."""

    model = FeeSchedule
    form = FeeScheduleInlineForm
    extra = 0
    can_delete = False
    fields = [
        "channel",
        "fixed_fee",
        "percentage",
        "min_fee",
        "max_fee",
        "payer_pays",
        "valid_from",
    ]

    def has_add_permission(self, request, obj=None):
        return (
            obj is not None
            and access.can(request.user, "add", FeeSchedule)
            and super().has_add_permission(request, obj)
        )

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CollectionShareFormSet(forms.BaseInlineFormSet):
    """The biller's parts are checked together (billing.collection_shares): a refusal names the part and
    the rule, and nothing is saved. A post of the biller's page without this inline's management form (a
    script or an older form) changes no part, instead of refusing the whole page."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.is_bound and f"{self.prefix}-TOTAL_FORMS" not in self.data:
            self.data = self.data.copy()
            for name in ("TOTAL_FORMS", "INITIAL_FORMS"):
                self.data[f"{self.prefix}-{name}"] = "0"

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        shares = [form.instance for form in self.forms if form.instance.pk or form.has_changed()]
        for share in shares:
            share.code = (share.code or "").strip().upper()
        try:
            collection_shares.check_shares(biller=self.instance, shares=shares)
        except BillingError as refused:
            raise forms.ValidationError(refused.message, code=refused.code) from None


class CollectionShareInline(ScopedInlineMixin, admin.TabularInline):
    """Shared collections (issue 17, item 4): who shares the biller's collections, by a fixed amount per
    bill or a percentage, and the bank account each is remitted to. Saved through `set_collection_shares`
    (audited on the biller) by BillerAdmin.save_formset; a part is switched off, never deleted."""

    model = CollectionShare
    formset = CollectionShareFormSet
    extra = 0
    can_delete = False
    fields = [
        "position",
        "code",
        "name",
        "name_en",
        "rule",
        "fixed_amount",
        "percentage",
        "settlement_bank_name",
        "settlement_account_name",
        "settlement_account_no",
        "active",
    ]

    def has_delete_permission(self, request, obj=None):
        return False


class BillerAdminForm(forms.ModelForm):  # the admin supplies its Meta (model and fields)
    """A donation biller may be created without a code: it is given the next DON0001-style code. Every
    other biller needs one (its code is in its payment links, statements and API calls)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "code" in self.fields and not self.instance.pk:
            self.fields["code"].required = False
            self.fields["code"].help_text = _("Leave empty for a donation biller: it gets the next DON code.")
        if "late_fee_daily_rate" in self.fields:
            self.fields["late_fee_daily_rate"].required = False  # empty: no late fee (billing.amounts)

    def clean_late_fee_daily_rate(self):
        return self.cleaned_data.get("late_fee_daily_rate") or Decimal("0")

    def clean(self):
        cleaned = super().clean()
        if "code" in self.fields and not cleaned.get("code") and "code" not in self.errors:
            if cleaned.get("payment_mode") == PaymentMode.DONATION and not self.instance.pk:
                cleaned["code"] = selectors.next_donation_biller_code()
            else:
                self.add_error("code", forms.ValidationError(self.fields["code"].error_messages["required"]))
        return cleaned


@admin.register(Biller)
class BillerAdmin(ScopedAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    form = BillerAdminForm
    # A province's 20,000 billers: searched by a scan of one small table; counted without a full COUNT.
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_display = ["code", "name", "category", "status", "payment_mode", "amount_rule", "accepts_cash"]
    list_filter = ["status", "payment_mode", ("category", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["category"]
    search_fields = ["code", "name", "name_en", "legal_name"]
    readonly_fields = ["status", "status_reason", "submitted_by", "created_at", "updated_at"]
    inlines = [FeeScheduleInline, CollectionShareInline]
    action_form = OnboardingActionForm
    actions = ["submit_for_approval", "approve", "activate", "suspend", "close"]

    def _onboarding_step(self, request, queryset, step, done_message):
        """Run an onboarding service on each selected biller; each refusal is shown with its reason."""
        reason = (request.POST.get("reason") or "").strip()
        done = 0
        for biller in queryset.order_by("code"):
            try:
                step(biller=biller, actor=request.user, reason=reason)
            except BillingError as refused:
                self.message_user(request, f"{biller.code}: {refused.message}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, done_message % {"count": done}, messages.SUCCESS)

    def save_formset(self, request, form, formset, change):
        """New fee rows go through the pricing service (audited on the biller), the shared collection parts
        through theirs; nothing else is saved here."""
        if formset.model is CollectionShare:
            changed = formset.save(commit=False)
            if changed:
                services.set_collection_shares(biller=form.instance, shares=changed, actor=request.user)
            return None
        if formset.model is not FeeSchedule:
            return super().save_formset(request, form, formset, change)
        for row in formset.save(commit=False):
            row.biller = form.instance
            _save_fee_row(row, actor=request.user)
        return None

    @admin.action(description=_("Submit for approval"), permissions=["change"])
    def submit_for_approval(self, request, queryset):
        self._onboarding_step(
            request,
            queryset,
            lambda biller, actor, reason: services.submit_biller(biller=biller, actor=actor),
            _("%(count)s billers submitted for approval."),
        )

    @admin.action(description=_("Approve (a second administrator)"), permissions=["change"])
    def approve(self, request, queryset):
        self._onboarding_step(request, queryset, services.approve_biller, _("%(count)s billers approved."))

    @admin.action(description=_("Activate: start taking payments"), permissions=["change"])
    def activate(self, request, queryset):
        self._onboarding_step(request, queryset, services.activate_biller, _("%(count)s billers activated."))

    @admin.action(description=_("Suspend (give the reason)"), permissions=["change"])
    def suspend(self, request, queryset):
        self._onboarding_step(request, queryset, services.suspend_biller, _("%(count)s billers suspended."))

    @admin.action(description=_("Close for good (give the reason)"), permissions=["change"])
    def close(self, request, queryset):
        self._onboarding_step(request, queryset, services.close_biller, _("%(count)s billers closed."))


@admin.register(FeeSchedule)
class FeeScheduleAdmin(ScopedAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    """Prices per biller and channel. Added through `set_fee_schedule` (audited on the biller); a row is
    never edited or deleted: a new price is a new row from a later date."""

    list_display = [
        "biller",
        "channel",
        "fixed_fee",
        "percentage",
        "min_fee",
        "max_fee",
        "payer_pays",
        "valid_from",
    ]
    list_filter = ["channel", ("biller", ScopedBillerListFilter)]
    list_select_related = ["biller"]
    raw_id_fields = ["biller"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        _save_fee_row(obj, actor=request.user)
        # The service audits the new price on the biller; the schedule's own history gets the add too.
        self._pending_audit = (obj, False, list(form.changed_data), {})


@admin.register(BillerStaff)
class BillerStaffAdmin(ScopedAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "biller"]
    list_select_related = ["user", "biller"]
    raw_id_fields = ["user", "biller"]


@admin.register(CustomerAccount)
class CustomerAccountAdmin(
    LargeTableAdminMixin, ScopedAdminMixin, AuditedAdminMixin, ScopedExportMixin, admin.ModelAdmin
):
    resource_classes = [AccountResource]
    list_display = ["account_no", "biller", "masked_holder_name", "credit_balance"]
    list_filter = [("biller", CappedBillerListFilter)]
    list_select_related = ["biller"]
    # Column order, not the biller's name: the unique (biller, account_no) index gives it without a sort.
    ordering = ["biller_id", "account_no"]
    search_fields = ["account_no"]
    search_help_text = _("The account number, or its first digits.")
    raw_id_fields = ["biller"]
    readonly_fields = ["credit_balance", "created_at"]

    @admin.display(description=_("Account holder"))
    def masked_holder_name(self, obj):
        return obj.masked_holder_name

    def search_condition(self, term):
        return Q(account_no__startswith=term)


class BillAdminForm(forms.ModelForm):  # the admin supplies its Meta (model and fields)
    """An early-payment discount is optional (empty is none) and holds until a date (billing.amounts)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "early_discount" in self.fields:
            self.fields["early_discount"].required = False

    def clean_early_discount(self):
        return self.cleaned_data.get("early_discount") or ZERO

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("early_discount")
            and not cleaned.get("discount_until")
            and "discount_until" in self.fields
        ):
            self.add_error("discount_until", _("Say until which day the early-payment discount holds."))
        return cleaned


class InstalmentPlanForm(forms.Form):
    count = forms.IntegerField(
        label=_("Number of instalments"),
        min_value=instalments.MIN_INSTALMENTS,
        max_value=instalments.MAX_INSTALMENTS,
        initial=3,
    )
    first_due = forms.DateField(label=_("First instalment due"), help_text=_("YYYY-MM-DD"))
    months_apart = forms.IntegerField(
        label=_("Months between instalments"), min_value=1, max_value=6, initial=1
    )
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


@admin.register(Bill)
class BillAdmin(
    LargeTableAdminMixin, ScopedAdminMixin, AuditedAdminMixin, BillImportExportMixin, admin.ModelAdmin
):
    form = BillAdminForm
    list_display = ["account", "period", "amount_due", "late_fee", "amount_paid", "due_date", "status"]
    list_filter = ["status", RecentPeriodListFilter, ("biller", CappedBillerListFilter)]
    list_select_related = ["account__biller"]
    # Newest first by the primary key: ordering by the account would sort every bill by biller code.
    ordering = ["-pk"]
    newest_first_by_biller = "biller"
    search_fields = ["account__account_no", "reference"]
    search_help_text = _("The account number or its first digits, or the biller's reference of the bill.")
    raw_id_fields = ["account", "biller"]
    readonly_fields = ["amount_paid", "status", "instalment_plan", "created_at", "updated_at"]
    change_form_template = "billing/admin/bill_change_form.html"

    def search_condition(self, term):
        return Q(reference=term) | Q(account__in=related_ids(CustomerAccount, account_no__startswith=term))

    @admin.display(description=_("instalments"))
    def instalment_plan(self, obj):
        """The plan as the payer sees it (offered through "Offer in instalments", never edited here)."""
        plan = instalments.states(obj) if obj and obj.pk else []
        if not plan:
            return "—"
        return format_html(
            "<ol>{}</ol>",
            format_html_join(
                "",
                "<li>{} · ¥{} · {} ¥{}</li>",
                (
                    (
                        date_format(part.due_date, "Y-m-d"),
                        format_money(part.amount),
                        _("paid so far"),
                        format_money(part.paid),
                    )
                    for part in plan
                ),
            ),
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/instalments/",
                self.admin_site.admin_view(self.instalments_view),
                name="billing_bill_instalments",
            ),
            *super().get_urls(),
        ]

    def instalments_view(self, request, pk):
        """Offer an unpaid bill in equal instalments, a month or more apart (the remainder's fen on the
        first): staff who may change the bill, through the one service that checks and audits it."""
        bill = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, bill):
            raise PermissionDenied
        form = InstalmentPlanForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            parts = instalments.equal_parts(
                bill.amount_due,
                count=data["count"],
                first_due=data["first_due"],
                months_apart=data["months_apart"],
            )
            try:
                services.offer_instalments(bill=bill, parts=parts, actor=request.user, reason=data["reason"])
            except BillingError as refused:
                form.add_error(None, refused.message)
            else:
                messages.success(
                    request, _("The bill is offered in %(count)s instalments.") % {"count": len(parts)}
                )
                return HttpResponseRedirect(reverse("admin:billing_bill_change", args=[bill.pk]))
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "object": bill,
            "title": _("Offer in instalments"),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "billing/admin/bill_instalments.html", context)

    def get_readonly_fields(self, request, obj=None):
        """What was paid is never changed by hand, as an import never changes it."""
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and (obj.amount_paid or obj.status == BillStatus.CANCELLED):
            fields += [
                "account",
                "biller",
                "period",
                "amount_due",
                "late_fee",
                "due_date",
                "early_discount",
                "discount_until",
            ]
        return fields


class PaymentAllocationInline(ScopedInlineMixin, admin.TabularInline):
    model = PaymentAllocation
    extra = 0
    can_delete = False
    readonly_fields = ["bill", "kind", "amount", "is_reversal"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("bill__account__biller")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(LargeTableAdminMixin, ScopedExportMixin, ReadOnlyAdmin):
    resource_classes = [PaymentResource]
    list_display = [
        "receipt_no",
        "channel",
        "biller",
        "account",
        "amount",
        "status",
        "business_date",
        "posted_at",
    ]
    list_filter = [
        "channel",
        "status",
        "business_date",
        ("biller", CappedBillerListFilter),
        ("branch", CappedBranchListFilter),
    ]
    list_select_related = ["biller", "account__biller"]
    # Newest first by the primary key (payments are numbered as they are posted), served by its index.
    ordering = ["-pk"]
    newest_first_by_biller = "biller"
    search_fields = ["receipt_no", "idempotency_key", "account__account_no"]
    search_help_text = _("The receipt number, the channel's idempotency key, or an account number.")
    inlines = [PaymentAllocationInline]
    readonly_fields = ["owed_to"]

    @admin.display(description=_("owed to"))
    def owed_to(self, obj):
        """Who the payment's money is owed to: the biller, its late fee, each co-beneficiary's part."""
        return format_html_join(
            "", "<div>{}: ¥{}</div>", ((who, f"{amount:.2f}") for who, amount in selectors.payment_split(obj))
        )

    def search_condition(self, term):
        # The key is unique per channel: naming every channel lets that index answer.
        return (
            Q(receipt_no=term.upper())
            | Q(channel__in=Channel.values, idempotency_key=term)
            | Q(account__in=related_ids(CustomerAccount, account_no__startswith=term))
        )


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "kind"]
    list_filter = ["kind"]
    search_fields = ["code", "name"]


class JournalLineInline(ScopedInlineMixin, admin.TabularInline):
    model = JournalLine
    extra = 0
    can_delete = False
    readonly_fields = ["account", "amount"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(LargeTableAdminMixin, ReadOnlyAdmin):
    list_display = ["id", "kind", "memo", "business_date", "created_at"]
    list_filter = ["kind", "business_date"]
    list_select_related = True
    search_fields = ["payment__receipt_no"]
    search_help_text = _("A payment's receipt number, or an entry number.")
    inlines = [JournalLineInline]

    def search_condition(self, term):
        by_receipt = Q(payment__in=related_ids(Payment, receipt_no=term.upper()))
        return by_receipt | Q(pk=int(term)) if term.isdigit() else by_receipt


@admin.register(JournalLine)
class JournalLineAdmin(LargeTableAdminMixin, ReadOnlyAdmin):
    """Every line of the ledger, newest first: what moved on one ledger account, found by its code."""

    list_display = ["id", "entry", "business_date", "account", "amount"]
    list_filter = ["account__kind", "entry__kind", "entry__business_date"]
    list_select_related = ["entry", "account"]
    search_fields = ["account__code", "entry__payment__receipt_no"]
    search_help_text = _("A ledger account's code (e.g. PAYABLE:WATER), or a payment's receipt number.")
    ordering = ["-pk"]

    @admin.display(description=_("business date"), ordering="entry__business_date")
    def business_date(self, obj):
        return obj.entry.business_date

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if access.scope_filter(request.user, JournalLine) is None:
            return queryset
        # A biller's operator reaches its lines through their ledger account's biller, a join that makes
        # PostgreSQL sort every line of a payable account holding millions (5 s for the province's grid,
        # issue 16). Naming the accounts as well (narrower never, the scope still applies) lets it walk
        # the (account, id) index newest first.
        accounts = LedgerAccount.objects.filter(biller__in=linked_billers(request.user))
        return queryset.filter(account__in=list(accounts.values_list("pk", flat=True)))

    def search_condition(self, term):
        return Q(account__in=related_ids(LedgerAccount, code=term.upper())) | Q(
            entry__in=related_ids(JournalEntry, payment__receipt_no=term.upper())
        )


class AuditActionListFilter(admin.SimpleListFilter):
    """Filter the trail by action, listed by their readable names."""

    title = _("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        codes = model_admin.get_queryset(request).order_by("action").values_list("action", flat=True)
        codes = codes.distinct()
        return [(code, action_label(code)) for code in codes]

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "action_name", "target_repr", "reason"]
    list_filter = [AuditActionListFilter, "target_type"]
    list_select_related = ["actor"]
    search_fields = ["target_repr", "target_id", "reason"]

    @admin.display(description=_("action"), ordering="action")
    def action_name(self, obj):
        return format_html('{} <small lang="en">({})</small>', action_label(obj.action), obj.action)


@admin.register(BillImportJob)
class BillImportJobAdmin(ReadOnlyAdmin):
    """Background bill imports: who started which file, how far it got, and its error report."""

    list_display = ["created_at", "biller", "file_name", "status", "progress", "error_count", "created_by"]
    list_filter = ["status", ("biller", ScopedBillerListFilter)]
    list_select_related = ["biller", "created_by"]
    exclude = ["data", "error_report"]

    @admin.display(description=_("progress"))
    def progress(self, obj):
        url = reverse("admin:billing_bill_import_job", args=[obj.pk])
        return format_html('<a href="{}">{}%</a>', url, obj.percent)


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    """Money events as written with their ledger entries, and when the relay published them."""

    list_display = ["created_at", "type", "aggregate_type", "aggregate_id", "published_at", "id"]
    list_filter = ["type", ("published_at", admin.EmptyFieldListFilter)]
    search_fields = ["=id", "=aggregate_id"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(FailedTask)
class FailedTaskAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Celery tasks that exhausted their retries; "retry" sends the chosen ones again (audited)."""

    list_display = [
        "task_name",
        "short_args",
        "attempts",
        "first_failed_at",
        "last_failed_at",
        "retry_count",
        "retried_at",
    ]
    list_filter = ["task_name"]
    search_fields = ["task_name", "error"]
    readonly_fields = [
        "task_name",
        "args",
        "kwargs",
        "error",
        "task_id",
        "attempts",
        "first_failed_at",
        "last_failed_at",
        "retried_at",
        "retry_count",
    ]
    fields = readonly_fields
    actions = ["retry"]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("arguments"))
    def short_args(self, obj):
        return str(tuple(obj.args))[:80]

    @admin.action(description=_("Retry the selected tasks"), permissions=["change"])
    def retry(self, request, queryset):
        from billing import failed_tasks

        for failed in queryset:
            failed_tasks.retry_failed_task(failed_task=failed, actor=request.user)
        self.message_user(request, _("%(count)s tasks sent again.") % {"count": queryset.count()})


# The back office is named after the platform, not "Django administration" (issue 14).
admin.site.site_header = settings.PLATFORM_NAME
admin.site.site_title = settings.PLATFORM_NAME
admin.site.index_title = _("Back office")

# Staff accounts and role groups: managed by platform admins, seen by auditors (see billing.access).
User = get_user_model()
for model in (User, Group):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(User)
class StaffUserAdmin(ScopedAdminMixin, AuditedAdminMixin, UserAdmin):
    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = self.get_object(request, id)
            record_audit(actor=request.user, action="admin.password_changed", target=user)
        return response


@admin.register(Group)
class RoleGroupAdmin(ScopedAdminMixin, AuditedAdminMixin, GroupAdmin):
    pass


# Locked-out logins and their "Unlock" action (issue 12); links to billers' own systems (issue 17); card
# top-ups written to a card or meter (issue 17, item 8); fiscal e-receipts (issue 17, item 5).
from billing import admin_fiscal, admin_logins, admin_presentment, admin_topups  # noqa: E402, F401
