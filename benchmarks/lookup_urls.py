"""The project's URLs plus `/bench-floor/<biller id>/<account no>/`: the framework's floor for a database
page (one indexed ORM lookup, a tiny template), measured beside the lookup page in the same run."""

from django.http import Http404, HttpResponse
from django.template import engines
from django.urls import path

from billing.models import CustomerAccount
from config.urls import urlpatterns as project_urlpatterns

TINY = engines["django"].from_string(
    "<!doctype html><title>{{ account.account_no }}</title>"
    "<p>{{ account.account_no }} {{ account.holder_name }}</p>"
)


def floor(request, biller_id: int, account_no: str):
    account = CustomerAccount.objects.filter(biller_id=biller_id, account_no=account_no).first()
    if account is None:
        raise Http404
    return HttpResponse(TINY.render({"account": account}, request))


urlpatterns = [path("bench-floor/<int:biller_id>/<str:account_no>/", floor), *project_urlpatterns]
