"""The portal's and the counter's dispute pages: thin, each a call to disputes.services or selectors."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.views.decorators.http import require_POST

from billing.exceptions import BillingError
from branches import selectors as branch_selectors
from branches.views import counter_staff_required
from disputes import selectors, services
from disputes.choices import DisputeChannel
from disputes.forms import CounterDisputeForm, DisputeForm

FIELD_OF_ERROR = {
    "dispute_payment_unknown": "receipt_no",
    "dispute_payment_required": "receipt_no",
    "dispute_biller_required": "biller_code",
    "dispute_contact_required": "contact_email",
}


def _raise(request, form, *, channel: str, source: str = ""):
    try:
        return services.raise_dispute(
            channel=channel,
            source=source,
            user=request.user,
            actor=request.user,
            language=get_language(),
            **form.cleaned_data,
        )
    except BillingError as exc:
        form.add_error(FIELD_OF_ERROR.get(exc.code), exc.message)
        return None


@login_required(login_url="account_login")
def my_disputes(request):
    disputes = selectors.disputes_raised_by(DisputeChannel.PORTAL, user=request.user)[:100]
    return render(request, "disputes/portal_list.html", {"disputes": disputes})


@login_required(login_url="account_login")
def portal_new(request):
    initial = {"receipt_no": request.GET.get("receipt", ""), "contact_email": request.user.email}
    form = DisputeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        dispute = _raise(request, form, channel=DisputeChannel.PORTAL)
        if dispute is not None:
            return redirect("disputes:portal_detail", ref=dispute.ref)
    return render(request, "disputes/portal_new.html", {"form": form})


@login_required(login_url="account_login")
def portal_detail(request, ref):
    dispute = _mine_or_404(request, ref)
    return render(request, "disputes/portal_detail.html", {"dispute": dispute})


@require_POST
@login_required(login_url="account_login")
def portal_close(request, ref):
    services.close_dispute(dispute=_mine_or_404(request, ref), actor=request.user)
    return redirect("disputes:portal_detail", ref=ref)


def _mine_or_404(request, ref):
    from django.http import Http404

    try:
        return selectors.dispute_raised_by(DisputeChannel.PORTAL, ref, user=request.user)
    except BillingError:
        raise Http404 from None


@counter_staff_required
def counter_new(request):
    form = CounterDisputeForm(request.POST or None, initial={"receipt_no": request.GET.get("receipt", "")})
    if request.method == "POST" and form.is_valid():
        branches = branch_selectors.counter_branches(request.user)
        dispute = _raise(
            request, form, channel=DisputeChannel.COUNTER, source=branches[0].code if branches else ""
        )
        if dispute is not None:
            return render(request, "disputes/counter_raised.html", {"dispute": dispute})
    return render(request, "disputes/counter_new.html", {"form": form})
