"""Citizens' complaints: a public form asking for the receipt number and a contact, and a status page
behind an unguessable link."""

from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import get_language
from django.views.decorators.http import require_http_methods

from billing.exceptions import BillingError
from reconciliation import services
from reconciliation.forms import ComplaintForm
from reconciliation.models import Complaint


@require_http_methods(["GET", "POST"])
def complaint_new(request):
    form = ComplaintForm(request.POST or None, initial={"receipt_no": request.GET.get("receipt", "")})
    if request.method == "POST" and form.is_valid():
        try:
            complaint = services.raise_complaint(**form.cleaned_data, language=get_language())
        except BillingError as exc:
            field = (
                "receipt_no"
                if exc.code == "receipt_unknown"
                else ("contact_email" if exc.code == "contact_required" else None)
            )
            form.add_error(field, exc.message)
        else:
            return redirect("complaint_status", token=complaint.token)
    return render(request, "reconciliation/complaint_new.html", {"form": form})


def complaint_status(request, token):
    complaint = get_object_or_404(Complaint.objects.select_related("payment"), token=token)
    return render(request, "reconciliation/complaint_status.html", {"complaint": complaint})
