"""Bulk import and export of branches with django-import-export (admin and `manage.py import_branches`).

A branch's status is not imported: new branches open, existing ones keep theirs, and every status change
goes through `branches.services.change_branch_status`."""

from decimal import Decimal, InvalidOperation

from import_export import fields, resources, widgets
from import_export.instance_loaders import CachedInstanceLoader

from billing.models import Biller, BillerCategory
from branches.hours import HoursError, format_weekly_hours, parse_weekly_hours
from branches.models import Branch, Operator


class CoordinateWidget(widgets.DecimalWidget):
    def __init__(self, limit: int, **kwargs):
        self.limit = limit
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs):
        if value is None or str(value).strip() == "":
            return None
        try:
            number = Decimal(str(value).strip()).quantize(Decimal("0.000001"))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
        if abs(number) > self.limit:
            raise ValueError(f"{value} is outside -{self.limit}..{self.limit}")
        return number


class WeeklyHoursWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        try:
            return parse_weekly_hours(str(value or ""))
        except HoursError as error:
            raise ValueError(str(error)) from None

    def render(self, value, obj=None, **kwargs):
        return format_weekly_hours(value or {})


class StrictForeignKeyWidget(widgets.ForeignKeyWidget):
    """By code, from a table read once per import (operators are few, rows are thousands)."""

    def clean(self, value, row=None, **kwargs):
        code = str(value or "").strip()
        if not code:
            raise ValueError("required")
        if not hasattr(self, "_by_code"):
            self._by_code = {getattr(obj, self.field): obj for obj in self.model.objects.all()}
        if code not in self._by_code:
            raise ValueError(f"no {self.model._meta.verbose_name} with the code {value!r}")
        return self._by_code[code]


class StrictManyToManyWidget(widgets.ManyToManyWidget):
    """Codes separated by `;`, every one of which must exist; looked up in a table read once."""

    def clean(self, value, row=None, **kwargs):
        codes = [code.strip() for code in str(value or "").split(self.separator) if code.strip()]
        if not codes:
            return []
        if not hasattr(self, "_by_code"):
            self._by_code = {getattr(obj, self.field): obj for obj in self.model.objects.all()}
        missing = sorted(set(codes) - set(self._by_code))
        if missing:
            raise ValueError(f"unknown codes: {', '.join(missing)}")
        return [self._by_code[code] for code in codes]


REQUIRED_COLUMNS = ("code", "name", "district", "address")


class BranchResource(resources.ModelResource):
    operator = fields.Field(
        attribute="operator", column_name="operator", widget=StrictForeignKeyWidget(Operator, field="code")
    )
    latitude = fields.Field(attribute="latitude", column_name="latitude", widget=CoordinateWidget(90))
    longitude = fields.Field(attribute="longitude", column_name="longitude", widget=CoordinateWidget(180))
    weekly_hours = fields.Field(
        attribute="weekly_hours", column_name="weekly_hours", widget=WeeklyHoursWidget()
    )
    cash_billers = fields.Field(
        attribute="cash_billers",
        column_name="cash_billers",
        widget=StrictManyToManyWidget(Biller, field="code", separator=";"),
    )
    cash_categories = fields.Field(
        attribute="cash_categories",
        column_name="cash_categories",
        widget=StrictManyToManyWidget(BillerCategory, field="code", separator=";"),
    )
    takes_all_billers = fields.Field(
        attribute="takes_all_billers", column_name="takes_all_billers", widget=widgets.BooleanWidget()
    )

    class Meta:
        model = Branch
        import_id_fields = ["code"]
        fields = [
            "code",
            "name",
            "operator",
            "district",
            "address",
            "latitude",
            "longitude",
            "opening_hours",
            "weekly_hours",
            "phone",
            "takes_all_billers",
            "cash_billers",
            "cash_categories",
        ]
        export_order = fields
        # The widgets and `before_import_row` validate; a model full_clean would cost a query a row.
        clean_model_instances = False
        instance_loader_class = CachedInstanceLoader
        skip_diff = True
        skip_unchanged = False

    def before_import_row(self, row, **kwargs):
        missing = [column for column in REQUIRED_COLUMNS if not str(row.get(column) or "").strip()]
        if missing:
            raise ValueError(f"required: {', '.join(missing)}")
        if len(str(row.get("code"))) > 32:
            raise ValueError("code: at most 32 characters")

    def before_save_instance(self, instance, row, **kwargs):
        if not instance.opening_hours and instance.weekly_hours:
            instance.opening_hours = format_weekly_hours(instance.weekly_hours)[:120]
        if instance.takes_all_billers is None:
            instance.takes_all_billers = True
