from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from disputes import taxonomy


def _reason_choices():
    return [(r.code, f"{r.code} {r.label}") for r in taxonomy.REASONS]


class DisputeForm(forms.Form):
    """The portal's and the counter's dispute: one of the taxonomy's reasons on a receipt number."""

    reason = forms.ChoiceField(label=_("What went wrong"), choices=_reason_choices)
    receipt_no = forms.CharField(
        label=_("Receipt number"),
        max_length=32,
        required=False,
        help_text=_("Printed on the receipt. Needed for every reason about a payment."),
    )
    biller_code = forms.CharField(
        label=_("Biller code"), max_length=32, required=False, help_text=_("Only when there is no receipt.")
    )
    account_no = forms.CharField(label=_("Account number"), max_length=40, required=False)
    amount = forms.DecimalField(
        label=_("Amount taken (yuan)"),
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
    )
    channel_ref = forms.CharField(
        label=_("Order or bank transaction number"),
        max_length=64,
        required=False,
        help_text=_(
            "For money taken without a payment (D11): the order number, or the number on your bank's record."
        ),
    )
    details = forms.CharField(
        label=_("Details"), widget=forms.Textarea(attrs={"rows": 4}), max_length=4000, required=False
    )
    contact_name = forms.CharField(label=_("Your name"), max_length=60, required=False)
    contact_email = forms.EmailField(label=_("E-mail"), required=False)
    contact_phone = forms.CharField(label=_("Mobile number"), max_length=30, required=False)


class CounterDisputeForm(DisputeForm):
    contact_name = forms.CharField(label=_("Customer's name"), max_length=60)
    contact_phone = forms.CharField(label=_("Customer's mobile number"), max_length=30)
