from django import forms
from django.utils.translation import gettext_lazy as _

from reconciliation.choices import ComplaintReason, Resolution, StatementFormat


class StatementUploadForm(forms.Form):
    channel_code = forms.CharField(
        label=_("Channel"), max_length=48, help_text=_("ONLINE:<gateway> or PARTNER:<code>")
    )
    business_date = forms.DateField(
        label=_("Business day"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    format = forms.ChoiceField(
        label=_("Format"), choices=[("", _("Recognise it")), *list(StatementFormat.choices)], required=False
    )
    file = forms.FileField(label=_("Statement file"))


class ResolveForm(forms.Form):
    action = forms.ChoiceField(label=_("Action"), choices=Resolution.choices)
    note = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 3}))
    biller_code = forms.CharField(
        label=_("Biller code"), required=False, help_text=_("For posting a missing payment.")
    )
    account_no = forms.CharField(label=_("Account number"), required=False)

    def __init__(self, *args, actions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [(value, Resolution(value).label) for value in actions]


class ApproveForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"), choices=[("approve", _("Approve")), ("reject", _("Send back"))]
    )
    note = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 3}), required=False)


class SettleDayForm(forms.Form):
    day = forms.DateField(
        label=_("Business day"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )


class ConfirmationUploadForm(forms.Form):
    file = forms.FileField(label=_("Confirmation (camt.054)"))


class ComplaintActionForm(forms.Form):
    action = forms.ChoiceField(
        label=_("Action"),
        choices=[
            ("assign", _("Assign to me")),
            ("escalate", _("Escalate")),
            ("resolve", _("Resolve and tell the citizen")),
        ],
    )
    note = forms.CharField(
        label=_("Note or outcome"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )


class ComplaintForm(forms.Form):
    receipt_no = forms.CharField(label=_("Receipt number"), max_length=32)
    reason = forms.ChoiceField(
        label=_("What went wrong"), choices=ComplaintReason.choices, widget=forms.RadioSelect
    )
    details = forms.CharField(
        label=_("Details"), widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=4000
    )
    contact_name = forms.CharField(label=_("Your name"), max_length=60)
    contact_email = forms.EmailField(label=_("E-mail"), required=False)
    contact_phone = forms.CharField(label=_("Phone"), max_length=30, required=False)
