"""Bill import and formula-safe exports in the admin, with django-import-export.

Import-export gives the screens (upload, preview, confirm) and the file formats; the rules are
`billing.bill_import`'s, the same as the command's and the biller API's. Files are read as bytes by our
formats, so GBK/GB18030 and UTF-8-with-BOM CSV files from Excel work as they do on the command line.
A file with more rows than `BILL_IMPORT_ASYNC_ROWS` is imported by a Celery task after the preview, with a
progress page and a downloadable error report.
"""

from __future__ import annotations

import base64

import tablib
from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources
from import_export.admin import ExportMixin, ImportMixin
from import_export.formats import base_formats
from import_export.forms import ConfirmImportForm, ImportForm
from import_export.results import Result, RowResult

from billing import access, untrusted_files
from billing.bill_import import (
    COLUMN_LABELS,
    COLUMNS,
    BillImportError,
    RowError,
    error_report_csv,
    import_bills,
    read_table,
    validate_table,
)
from billing.choices import BillerStatus
from billing.exports import safe_cell
from billing.models import Bill, BillImportJob, CustomerAccount, Payment

PREVIEW_ROWS = 100


# Formats: the file's bytes are kept, and read by billing.bill_import -------------------------------


class _RawBillFile:
    """Keeps the uploaded bytes on the dataset; the rows shown in import-export's screens are only for
    display, the import reads the bytes again with `read_table`."""

    def is_binary(self):
        return True

    def get_read_mode(self):
        return "rb"

    def create_dataset(self, in_stream, **kwargs):
        data = in_stream if isinstance(in_stream, bytes) else in_stream.encode("utf-8")
        dataset = tablib.Dataset()
        dataset.billpay_data = data
        dataset.billpay_error = None
        try:
            table = read_table(data, filename=f"upload.{self.get_extension()}")
            headers = ["" if h is None else str(h) for h in table.headers]
            dataset.headers = headers
            width = len(headers)
            for values in table.rows:
                values = ["" if v is None else v for v in list(values)[:width]]
                dataset.append(values + [""] * (width - len(values)))
        except BillImportError as refused:
            # Refused part-way (a line past the caps, bad encoding further down): start the dataset
            # again, as the rows read so far have another width.
            dataset = tablib.Dataset()
            dataset.billpay_data = data
            dataset.billpay_error = refused
            dataset.headers = ["error"]
            dataset.append([refused.message])
        return dataset


class BillCSV(_RawBillFile, base_formats.CSV):
    pass


class BillXLSX(_RawBillFile, base_formats.XLSX):
    pass


# Exports: every text cell neutralised against formula injection ---------------------------------


class SafeExportResource(resources.ModelResource):
    """Text cells that a spreadsheet would run as a formula get a leading apostrophe."""

    def export_field(self, field, instance, **kwargs):
        return safe_cell(super().export_field(field, instance, **kwargs))

    def get_export_headers(self, selected_fields=None):
        return [safe_cell(header) for header in super().get_export_headers(selected_fields)]


class BillResource(SafeExportResource):
    biller = fields.Field(attribute="biller__code", column_name="biller")
    account_no = fields.Field(attribute="account__account_no", column_name="account_no")
    customer_name = fields.Field(attribute="account__holder_name", column_name="customer_name")

    class Meta:
        model = Bill
        fields = (
            "biller",
            "account_no",
            "customer_name",
            "period",
            "amount_due",
            "due_date",
            "late_fee",
            "reference",
            "amount_paid",
            "status",
        )
        export_order = fields

    def __init__(self, biller=None, partial: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.biller, self.partial = biller, partial

    def get_user_visible_fields(self):
        return [fields.Field(column_name=column) for column in COLUMNS]

    def import_data(self, dataset, dry_run=False, raise_errors=False, **kwargs):
        """Validate (and, unless a dry run, write) with billing.bill_import; the result is shaped for
        import-export's preview: invalid rows with their column errors, valid rows as new/update/skip."""
        result = Result()
        result.diff_headers = [column_heading(column) for column in COLUMNS]
        result.billpay_errors = []
        if self.biller is None:
            raise PermissionDenied
        refused = dataset.billpay_error
        if refused is not None:
            result.billpay_errors = [RowError.make(0, "", refused.code, **refused.params)]
            result.append_invalid_row(1, {}, ValidationError(refused.message))
            return result
        table = read_table(dataset.billpay_data, filename=f"upload.{'xlsx' if _is_xlsx(dataset) else 'csv'}")
        if dry_run:
            valid, errors, count = validate_table(self.biller, table)
            result.total_rows = count
            return self._preview(result, valid, errors)
        report = import_bills(
            self.biller, table, actor=kwargs.get("user"), partial=self.partial, source="admin"
        )
        result.billpay_report = report
        result.billpay_errors = report.errors
        result.totals[RowResult.IMPORT_TYPE_NEW] = report.created
        result.totals[RowResult.IMPORT_TYPE_UPDATE] = report.updated
        result.totals[RowResult.IMPORT_TYPE_SKIP] = report.unchanged
        result.total_rows = report.rows
        if not report.imported:
            self._add_invalid_rows(result, report.errors)
        return result

    def _preview(self, result, valid, errors):
        existing = set(
            Bill.objects.filter(
                biller=self.biller,
                account__account_no__in=[row.account_no for row in valid[:PREVIEW_ROWS]],
            ).values_list("account__account_no", "period")
        )
        for row in valid[:PREVIEW_ROWS]:
            row_result = RowResult()
            is_update = (row.account_no, row.period) in existing
            row_result.import_type = RowResult.IMPORT_TYPE_UPDATE if is_update else RowResult.IMPORT_TYPE_NEW
            row_result.diff = [
                row.account_no,
                row.customer_name,
                row.period,
                f"{row.amount_due:,.2f}",
                row.due_date.isoformat(),
                f"{row.late_fee:,.2f}",
                row.reference,
            ]
            result.append_row_result(row_result)
        result.billpay_errors = errors
        result.billpay_valid_count = len(valid)
        if errors and (not self.partial or errors[0].row <= 1):
            self._add_invalid_rows(result, errors)
        return result

    def _add_invalid_rows(self, result, errors):
        by_row: dict[int, dict[str, list[str]]] = {}
        for error in errors[:PREVIEW_ROWS]:
            column = column_heading(error.column) if error.column else "__all__"
            by_row.setdefault(error.row, {}).setdefault(column, []).append(error.message)
        for number, column_messages in by_row.items():
            result.append_invalid_row(number, {}, ValidationError(column_messages))


def column_heading(column: str) -> str:
    """户号 (account_no): the column's name in the reader's language, with the code the file uses."""
    label = COLUMN_LABELS.get(column)
    return f"{label} ({column})" if label is not None else column


def _is_xlsx(dataset) -> bool:
    return dataset.billpay_data[:4] == b"PK\x03\x04"


class AccountResource(SafeExportResource):
    biller = fields.Field(attribute="biller__code", column_name="biller")

    class Meta:
        model = CustomerAccount
        fields = ("biller", "account_no", "holder_name", "address", "credit_balance", "created_at")
        export_order = fields


class PaymentResource(SafeExportResource):
    biller = fields.Field(attribute="biller__code", column_name="biller")
    account_no = fields.Field(attribute="account__account_no", column_name="account_no")

    class Meta:
        model = Payment
        fields = (
            "receipt_no",
            "channel",
            "biller",
            "account_no",
            "amount",
            "status",
            "business_date",
            "posted_at",
            "channel_ref",
        )
        export_order = fields


# Forms --------------------------------------------------------------------------------------------


class BillImportForm(ImportForm):
    biller = forms.ModelChoiceField(queryset=None, label=_("Biller"))
    partial = forms.BooleanField(
        required=False,
        label=_("Import the valid rows and report the rest"),
        help_text=_("Otherwise a file with any error imports nothing."),
    )
    field_order = ["biller", "import_file", "format", "partial"]

    def __init__(self, formats, resources, *, billers=None, **kwargs):
        super().__init__(formats, resources, **kwargs)
        self.fields["biller"].queryset = billers
        if billers is not None and billers.count() == 1:
            self.fields["biller"].initial = billers.first()

    def clean_import_file(self):
        """A bill file over its limit is refused on the form, before import-export reads it."""
        upload = self.cleaned_data["import_file"]
        try:
            untrusted_files.check_size(upload.size, "bill_file")
        except untrusted_files.FileRefused as refused:
            raise forms.ValidationError(refused.message, code=refused.code) from None
        return upload


class BillConfirmImportForm(ConfirmImportForm):
    biller = forms.ModelChoiceField(queryset=None, widget=forms.HiddenInput())
    partial = forms.BooleanField(required=False, widget=forms.HiddenInput())

    def __init__(self, *args, billers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["biller"].queryset = billers


def importable_billers(user):
    """Billers whose bills the user may import: those it sees, that are not closed."""
    return access.visible_billers(user).exclude(status=BillerStatus.CLOSED).order_by("code")


def async_threshold() -> int:
    return getattr(settings, "BILL_IMPORT_ASYNC_ROWS", 5000)


# The admin mixins ---------------------------------------------------------------------------------


class ScopedExportMixin(ExportMixin):
    """CSV and XLSX exports of exactly the rows the changelist shows the user (already role-scoped),
    for those who may view the model."""

    formats = [base_formats.CSV, base_formats.XLSX]

    def has_export_permission(self, request):
        return access.can_view(request.user, self.model)


class BillImportExportMixin(ImportMixin, ScopedExportMixin):
    resource_classes = [BillResource]
    import_form_class = BillImportForm
    confirm_form_class = BillConfirmImportForm
    import_template_name = "billing/admin/bill_import.html"
    skip_admin_log = True  # the import is audited once, by billing.bill_import

    def get_import_formats(self):
        return [BillCSV, BillXLSX]

    def has_import_permission(self, request):
        return access.can(request.user, "add", Bill) and access.can(request.user, "change", Bill)

    def get_import_form_kwargs(self, request):
        kwargs = super().get_import_form_kwargs(request)
        kwargs["billers"] = importable_billers(request.user)
        return kwargs

    def get_confirm_form_kwargs(self, request, import_form=None):
        kwargs = super().get_confirm_form_kwargs(request, import_form)
        kwargs["billers"] = importable_billers(request.user)
        return kwargs

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["biller"] = import_form.cleaned_data["biller"].pk
            initial["partial"] = import_form.cleaned_data["partial"]
        return initial

    def get_import_resource_kwargs(self, request, **kwargs):
        resource_kwargs = super().get_import_resource_kwargs(request, **kwargs)
        form = kwargs.get("form")
        cleaned = getattr(form, "cleaned_data", None) or {}
        resource_kwargs["biller"] = cleaned.get("biller")
        resource_kwargs["partial"] = bool(cleaned.get("partial"))
        return resource_kwargs

    def get_import_context_data(self, **kwargs):
        context = super().get_import_context_data(**kwargs)
        context["async_rows"] = async_threshold()
        return context

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        result = getattr(response, "context_data", {}).get("result")
        if result is not None and getattr(result, "billpay_errors", None):
            csv_text = error_report_csv(result.billpay_errors)
            response.context_data["error_report_href"] = "data:text/csv;charset=utf-8;base64," + (
                base64.b64encode(("\ufeff" + csv_text).encode("utf-8")).decode("ascii")
            )
        return response

    def process_dataset(self, dataset, form, request, **kwargs):
        biller = form.cleaned_data["biller"]
        if dataset.billpay_error is None and dataset.height > async_threshold():
            job = BillImportJob.objects.create(
                biller=biller,
                created_by=request.user,
                file_name=(form.cleaned_data.get("original_file_name") or "")[:200],
                data=dataset.billpay_data,
                partial=form.cleaned_data["partial"],
                rows_total=dataset.height,
            )
            from billing.tasks import run_bill_import

            transaction.on_commit(lambda: run_bill_import.delay(job.pk))
            result = Result()
            result.billpay_job = job
            return result
        return super().process_dataset(dataset, form, request, **kwargs)

    def process_result(self, result, request):
        job = getattr(result, "billpay_job", None)
        if job is not None:
            return HttpResponseRedirect(reverse("admin:billing_bill_import_job", args=[job.pk]))
        report = getattr(result, "billpay_report", None)
        if report is not None and not report.imported:
            messages.error(
                request, _("Nothing was imported: %(count)s errors.") % {"count": report.error_count}
            )
            return HttpResponseRedirect(reverse("admin:billing_bill_changelist"))
        if report is not None:
            messages.success(
                request,
                _(
                    "Import finished: %(created)s new, %(updated)s updated, %(unchanged)s unchanged bills; "
                    "%(errors)s rows reported."
                )
                % {
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                    "errors": report.error_count,
                },
            )
        return HttpResponseRedirect(reverse("admin:billing_bill_changelist"))

    # The background import's status page, its JSON and its error report.

    def get_urls(self):
        urls = super().get_urls()
        view = self.admin_site.admin_view
        return [
            path("import-jobs/<int:pk>/", view(self.import_job_view), name="billing_bill_import_job"),
            path(
                "import-jobs/<int:pk>/status.json",
                view(self.import_job_status),
                name="billing_bill_import_job_status",
            ),
            path(
                "import-jobs/<int:pk>/status/",
                view(self.import_job_fragment),
                name="billing_bill_import_job_fragment",
            ),
            path(
                "import-jobs/<int:pk>/errors.csv",
                view(self.import_job_errors),
                name="billing_bill_import_job_errors",
            ),
            *urls,
        ]

    def _job(self, request, pk) -> BillImportJob:
        if not self.has_import_permission(request):
            raise PermissionDenied
        jobs = BillImportJob.objects.filter(biller__in=access.visible_billers(request.user))
        return get_object_or_404(jobs.select_related("biller"), pk=pk)

    def _job_context(self, job) -> dict:
        return {
            "job": job,
            "page_url": reverse("admin:billing_bill_import_job", args=[job.pk]),
            "fragment_url": reverse("admin:billing_bill_import_job_fragment", args=[job.pk]),
            "errors_url": reverse("admin:billing_bill_import_job_errors", args=[job.pk]),
        }

    def import_job_view(self, request, pk):
        """The job's progress page; its status region polls import_job_fragment (htmx) until it is done."""
        job = self._job(request, pk)
        context = {
            **self.admin_site.each_context(request),
            **self._job_context(job),
            "title": _("Bill import"),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "billing/admin/bill_import_job.html", context)

    def import_job_fragment(self, request, pk):
        """The progress page's status region alone, for its poller."""
        job = self._job(request, pk)
        return TemplateResponse(request, "billing/admin/_bill_import_job_status.html", self._job_context(job))

    def import_job_status(self, request, pk):
        job = self._job(request, pk)
        return JsonResponse(
            {
                "status": job.status,
                "status_display": str(job.get_status_display()),
                "phase": job.phase,
                "rows_total": job.rows_total,
                "rows_done": job.rows_done,
                "percent": job.percent,
                "summary": job.summary,
                "error_count": job.error_count,
                "message": job.message,
                "finished": job.finished_at is not None,
            }
        )

    def import_job_errors(self, request, pk):
        job = self._job(request, pk)
        response = HttpResponse("\ufeff" + job.error_report, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="bill-import-{job.pk}-errors.csv"'
        return response
