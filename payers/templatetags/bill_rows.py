"""`{% bill_rows lookup.bills %}`: the rows of the bill-lookup page's table of open bills, made in Python.

A row in the template language was ~15 nodes (variables through `localize` and escaping, six `{% if %}`),
about a tenth of the page's cost per bill (docs/benchmarks.md, "Bill-lookup page"). The markup is the
`{% for %}` loop's it replaced, byte for byte (tests/payers/test_bill_rows.py renders both): a bill's id,
amount and texts are localized and escaped as `{{ }}` does; the few rows that have more to say (who the bill
is for, an auto-pay date, a late fee, a discount, a date the amount holds until) render those partials as the
loop's `{% include %}` did, with `bill` (and `quote`) in the context.
"""

from django import template
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from config.templatetags.per_process import kept

register = template.Library()

ROW = (
    "\n            <tr><td>"
    '<input type="checkbox" name="bill" value="{pk}" id="bill-{pk}" checked aria-label="{pay_label}"></td>'
    '\n              <td><label for="bill-{pk}">{period}</label>{description}{beneficiary}</td>'
    "\n              <td>{due_date}{overdue}{autopay}</td>"
    "\n              <td>¥{outstanding}{notes}</td>"
    '\n              <td><a href="{qr_url}">{print_qr}</a></td></tr>'
    "\n          "
)


def _partial(context, name: str, **values) -> str:
    with context.push(**values):
        return context.template.engine.get_template(name).render(context)


def _row(context, bill, overdue_tag: str, print_qr: str) -> str:
    pk = conditional_escape(localize(bill.pk))
    quote = bill.quote
    return ROW.format(
        pk=pk,
        pay_label=conditional_escape(bill.pay_label),
        period=conditional_escape(bill.period),
        description=f"<br><small>{conditional_escape(bill.description)}</small>" if bill.description else "",
        beneficiary=(
            _partial(context, "partials/beneficiary.html", bill=bill) if bill.beneficiary_name else ""
        ),
        due_date=conditional_escape(bill.due_date.isoformat()),
        overdue=f" {overdue_tag}" if bill.overdue else "",
        autopay=_partial(context, "payers/partials/autopay_tag.html", bill=bill) if bill.autopay_on else "",
        outstanding=conditional_escape(localize(quote.outstanding)),
        notes=(
            _partial(context, "partials/amount_due.html", bill=bill, quote=quote) if quote.has_notes else ""
        ),
        qr_url=conditional_escape(bill.qr_url),
        print_qr=print_qr,
    )


class BillRowsNode(template.Node):
    def __init__(self, bills):
        self.bills = bills

    def render(self, context):
        language = get_language()
        overdue_tag = kept(
            ("bill_row_overdue", language),
            lambda: f'<span class="tag tag-overdue">{conditional_escape(_("Overdue"))}</span>',
        )
        print_qr = kept(("bill_row_print_qr", language), lambda: conditional_escape(_("Print QR")))
        return mark_safe(
            "".join(_row(context, bill, overdue_tag, print_qr) for bill in self.bills.resolve(context))
        )


@register.tag("bill_rows")
def bill_rows(parser, token):
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError(f"{bits[0]} takes the bills")
    return BillRowsNode(parser.compile_filter(bits[1]))
