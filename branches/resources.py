"""Bulk import and export of branches with django-import-export (admin and `manage.py import_branches`).

A branch's status is not imported: new branches open, existing ones keep theirs, and every status change
goes through `branches.services.change_branch_status`."""

from decimal import Decimal, InvalidOperation

from import_export import fields, resources, widgets

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
    def clean(self, value, row=None, **kwargs):
        if value is None or str(value).strip() == "":
            raise ValueError("required")
        try:
            return super().clean(str(value).strip(), row, **kwargs)
        except self.model.DoesNotExist:
            raise ValueError(f"no {self.model._meta.verbose_name} with the code {value!r}") from None


class StrictManyToManyWidget(widgets.ManyToManyWidget):
    def clean(self, value, row=None, **kwargs):
        codes = [code.strip() for code in str(value or "").split(self.separator) if code.strip()]
        found = list(self.model.objects.filter(**{f"{self.field}__in": codes}))
        missing = set(codes) - {getattr(obj, self.field) for obj in found}
        if missing:
            raise ValueError(f"unknown codes: {', '.join(sorted(missing))}")
        return found


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
        clean_model_instances = True
        skip_diff = True
        skip_unchanged = False

    def before_save_instance(self, instance, row, **kwargs):
        if not instance.opening_hours and instance.weekly_hours:
            instance.opening_hours = format_weekly_hours(instance.weekly_hours)[:120]
        if instance.takes_all_billers is None:
            instance.takes_all_billers = True
