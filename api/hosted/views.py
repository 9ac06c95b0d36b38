"""The hosted checkout's pages for a partner's payers (api.checkout): thin, like the portal's views."""

import logging

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.http import require_GET, require_POST

from api import checkout
from billing.exceptions import BillingError
from payers.gateways import available_gateways
from payers.views import gateway_redirect

logger = logging.getLogger(__name__)


def _refused(request, error: BillingError, *, status: int = 400):
    logger.warning("hosted checkout refused: code=%s", error.code)
    return render(request, "api/hosted/refused.html", {"error": error}, status=status)


@require_GET
def start(request):
    """A partner's signed link: checked, accepted once, and the payer sent on to its own page (reloading
    that page is fine; opening the link again is a replay and refused). The link's `lang` (the language
    the partner's user reads) is the page's, refusals included."""
    language = request.GET.get("lang", "")
    if language not in dict(settings.LANGUAGES):
        language = translation.get_language()
    with translation.override(language):
        repeated = [name for name, values in request.GET.lists() if len(values) > 1]
        if repeated:  # which of two values was signed? Neither is taken.
            return _refused(request, checkout.CheckoutRefused("link_invalid", field=repeated[0][:32]))
        try:
            hosted = checkout.open_checkout(params=request.GET.dict())
        except BillingError as error:
            return _refused(request, error)
    response = redirect("hosted:page", token=hosted.token)
    if request.GET.get("lang") in dict(settings.LANGUAGES):
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, samesite="Lax")
    return response


def _hosted(token: str):
    hosted = checkout.checkout_for_token(token)
    if hosted is None:
        raise Http404
    return hosted


def _page_context(hosted) -> dict:
    bills = checkout.open_bills(hosted)
    status = checkout.status_of(hosted)[0]
    return {
        "hosted": hosted,
        "bills": bills,
        "holds_until": checkout.holds_until(bills),
        "status": status,
        "pending": status == checkout.Status.PENDING,
        "gateways": available_gateways(),
    }


@require_GET
def page(request, token):
    """What the payer pays, before paying; the bank's return comes back here too. Once the order is final
    the payer goes back to the partner with the signed result."""
    hosted = _hosted(token)
    if checkout.is_final(hosted):
        return redirect(checkout.signed_return_url(hosted))
    return render(request, "api/hosted/page.html", _page_context(hosted))


@require_GET
def status(request, token):
    """The pending page's polled region; once final, htmx follows HX-Redirect back to the partner."""
    hosted = _hosted(token)
    if checkout.is_final(hosted):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = checkout.signed_return_url(hosted)
        return response
    return render(request, "api/hosted/_status.html", _page_context(hosted))


@require_POST
def pay(request, token):
    hosted = _hosted(token)
    try:
        order = checkout.start_payment(
            hosted=hosted, gateway_code=request.POST.get("gateway", ""), user=request.user
        )
    except BillingError as error:
        messages.error(request, error.message)
        return redirect("hosted:page", token=hosted.token)
    return gateway_redirect(
        request, order, return_url=request.build_absolute_uri(reverse("hosted:page", args=[hosted.token]))
    )


@require_GET
def back(request, token):
    """ "Back to the service" without paying: the partner is told the checkout's state as it is."""
    return redirect(checkout.signed_return_url(_hosted(token)))
