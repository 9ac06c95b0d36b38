"""The sandbox bank's hosted pages, served by the app under /sandbox-bank/ (a real bank serves its own)."""

from urllib.parse import urlencode

from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from payers.choices import AgreementStatus, BankTradeStatus
from payers.models import SandboxBankAgreement, SandboxBankTrade
from payers.sandbox_bank import services


@require_http_methods(["GET"])
def gateway(request):
    """The merchant's signed request arrives through the payer's browser, as with a real page payment."""
    try:
        trade = services.open_trade(request.GET.dict())
    except services.BankRefused as refused:
        return HttpResponseBadRequest(f"sandbox bank: {refused}")
    return redirect("sandbox_bank:cashier", trade_no=trade.trade_no)


def cashier(request, trade_no):
    trade = get_object_or_404(SandboxBankTrade, trade_no=trade_no)
    return render(
        request,
        "sandbox_bank/cashier.html",
        {"trade": trade, "waiting": trade.status == BankTradeStatus.WAITING},
    )


@require_POST
def finish(request, trade_no):
    trade = services.finish_trade(trade_no=trade_no, pay=request.POST.get("action") == "pay")
    separator = "&" if "?" in trade.return_url else "?"
    return redirect(f"{trade.return_url}{separator}{urlencode(services.return_params(trade))}")


@require_http_methods(["GET"])
def agreement_gateway(request):
    """The merchant's signed agreement request arrives through the payer's browser (代扣签约)."""
    try:
        agreement = services.open_agreement(request.GET.dict())
    except services.BankRefused as refused:
        return HttpResponseBadRequest(f"sandbox bank: {refused}")
    return redirect("sandbox_bank:agreement", agreement_no=agreement.agreement_no)


def agreement(request, agreement_no):
    agreement = get_object_or_404(SandboxBankAgreement, agreement_no=agreement_no)
    return render(
        request,
        "sandbox_bank/agreement.html",
        {"agreement": agreement, "waiting": agreement.status == AgreementStatus.WAITING},
    )


@require_POST
def agreement_finish(request, agreement_no):
    agreement = services.finish_agreement(
        agreement_no=agreement_no, sign=request.POST.get("action") == "sign"
    )
    separator = "&" if "?" in agreement.return_url else "?"
    return redirect(
        f"{agreement.return_url}{separator}{urlencode(services.agreement_return_params(agreement))}"
    )
