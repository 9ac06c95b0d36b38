from django import forms
from django.utils.translation import gettext_lazy as _

from branches.choices import DENOMINATIONS_FEN


class OpenTillForm(forms.Form):
    branch = forms.ModelChoiceField(queryset=None, label=_("Branch"), empty_label=None)
    opening_float = forms.DecimalField(
        label=_("Opening float (¥)"), min_value=0, max_digits=12, decimal_places=2, initial="500.00"
    )

    def __init__(self, *args, branches, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["branch"].queryset = branches
        self.fields["opening_float"].widget.attrs.update({"autofocus": True, "inputmode": "decimal"})


class VoidForm(forms.Form):
    reason = forms.CharField(label=_("Why is it voided?"), max_length=200)
    supervisor_username = forms.CharField(label=_("Supervisor's user name"), max_length=150)
    supervisor_password = forms.CharField(label=_("Supervisor's password"), widget=forms.PasswordInput)


def denomination_label(fen: int) -> str:
    return f"¥{fen // 100}" if fen >= 100 else f"¥0.{fen // 10}"


class CloseTillForm(forms.Form):
    note = forms.CharField(label=_("Note (required if the count differs)"), max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for index, fen in enumerate(DENOMINATIONS_FEN):
            field = forms.IntegerField(label=denomination_label(fen), min_value=0, initial=0, required=False)
            field.widget.attrs.update({"inputmode": "numeric", "data-fen": fen, "class": "count"})
            if index == 0:
                field.widget.attrs["autofocus"] = True
            self.fields[f"n{fen}"] = field
        self.order_fields([f"n{fen}" for fen in DENOMINATIONS_FEN] + ["note"])

    def counts(self) -> dict[int, int]:
        return {fen: self.cleaned_data.get(f"n{fen}") or 0 for fen in DENOMINATIONS_FEN}

    def denomination_fields(self):
        return [self[f"n{fen}"] for fen in DENOMINATIONS_FEN]
