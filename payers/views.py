"""The citizen portal's pages: thin views that parse input, call a selector or a service, and render."""

import csv
import datetime
import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing import amounts, fiscal, instalments, untrusted_files
from billing.choices import PaymentMode, PaymentStatus
from billing.exceptions import BillingError
from billing.money import format_money, parse_amount
from billing.paylinks import pay_token
from billing.rules import normalize_account_no
from billing.selectors import account_no_for_notice, categories_with_active_billers, topup_hold_of
from billing.services import list_text
from config import ratelimit
from config.client_ip import client_ip
from config.fixed_urls import fixed_reverse
from payers import family as family_payment
from payers import handoff, mandates, proxy, receipts, selectors, services
from payers.choices import LineOutcome, NotificationResult, OrderKind, OrderStatus
from payers.exceptions import GatewayError, GatewayRefused, PortalError
from payers.gateways import available_gateways, get_gateway

ELDERLY_COOKIE = "elderly_mode"
# Start here, finish there (payers.handoff): the QR token a device showed, and the orders it took over.
HANDOFF_TOKENS_KEY = "handoff_tokens"
HANDOFF_CLAIMED_KEY = "handoff_claimed"

logger = logging.getLogger(__name__)


def _rate_limited(request, scope: str) -> bool:
    limit, window = settings.PORTAL_RATE_LIMITS[scope]
    return not ratelimit.allow(scope, client_ip(request), limit=limit, window=window)


def _too_many(request):
    return render(request, "payers/429.html", status=429)


def _with_billers(categories):
    """Only the categories that have an active biller, directly or in a sub-category (already prefetched)."""
    return [
        category
        for category in categories
        if category.billers.all() or any(child.billers.all() for child in category.children.all())
    ]


def home(request):
    return render(
        request,
        "payers/home.html",
        {"categories": _with_billers(categories_with_active_billers()), "query": request.GET.get("q", "")},
    )


def biller_list(request):
    category = selectors.category_by_code(request.GET.get("category", ""))
    query = request.GET.get("q", "")[:50]
    billers = selectors.search_billers(category_code=category.code if category else "", query=query)
    return render(request, "payers/billers.html", {"category": category, "query": query, "billers": billers})


def biller_page(request, code):
    """Enter the account number; the lookup answers with the masked name and the open bills."""
    raw = request.GET.get("account_no", "")
    if raw:
        if _rate_limited(request, "lookup"):
            return _too_many(request)
        biller, found = selectors.biller_with_lookup(code=code, account_no=raw)
        if isinstance(found, BillingError) and (
            notice_account := account_no_for_notice(biller_code=code, notice_no=raw)
        ):  # a payment notice's number (缴款书号) finds the account it was issued to
            raw = notice_account
            biller, found = selectors.biller_with_lookup(code=code, account_no=raw)
    else:
        biller, found = selectors.active_biller(code), None
    if biller is None:
        raise Http404
    # Every name the template tests is given (a missing one costs the template a raised and caught error).
    context = {
        "biller": biller,
        "gateways": available_gateways(),
        "account_no": "",
        "lookup": None,
        "error": "",
    }
    if raw and biller.payment_mode != PaymentMode.DONATION:
        context["account_no"] = normalize_account_no(raw)[:40]
        if isinstance(found, BillingError):
            context["error"] = found.message
        else:
            context["lookup"] = found
            if found.bills:  # strings made here: a template tag per row costs more
                qr_pattern = fixed_reverse("payers:pay_link_qr", "TOKEN")
                label = _("Pay the bill for %(period)s")
                for bill in found.bills:
                    bill.qr_url = qr_pattern.replace("TOKEN", pay_token(bill))
                    bill.pay_label = label % {"period": bill.period}
            selectors.mark_overdue(found.bills)
            context.update(_totals(found.bills))
            if request.COOKIES.get("elderly_mode") == "1" and request.GET.get("amount"):
                context.update(_own_amount_step(found, request.GET["amount"]))
    return render(request, "payers/biller.html", context)


def _totals(bills) -> dict:
    """The total of the open bills and what it pays for, in the visitor's language: the page states both
    before any payment, and the large-text mode's one button says what it pays."""
    if not bills:
        return {"bills_summary": "", "pay_all_label": "", "bills_total": "", "bills_holds": ""}
    values = {
        "count": len(bills),
        "total": selectors.bills_total(bills),
        "periods": list_text(bill.period for bill in bills),
    }
    if len(bills) == 1:
        summary = _("Open bill: %(count)s bill (%(periods)s), ¥%(total)s in total")
        pay_all = _("Pay %(count)s bill, ¥%(total)s in total")
    else:
        summary = _("All open bills: %(count)s bills (%(periods)s), ¥%(total)s in total")
        pay_all = _("Pay all %(count)s bills, ¥%(total)s in total")
    holds_until = amounts.holds_until_of([bill.quote for bill in bills])
    return {
        "bills_summary": summary % values,
        "pay_all_label": pay_all % values,
        "bills_total": values["total"],
        "bills_holds": (
            _("This total holds until the end of %(day)s (Beijing time).")
            % {"day": date_format(holds_until, "Y-m-d")}
            if holds_until
            else ""
        ),
    }


def _own_amount_step(lookup, raw: str) -> dict:
    """Large-text mode's own amount, one decision per screen: the typed amount is checked by the biller's
    rule (the one checkout applies) and, if allowed, the next screen states it on its one pay button
    before the payer leaves for the bank; if refused, the reason stands by the field."""
    try:
        line = services.line_for_chosen_amount(
            account=lookup.account, bills=lookup.bills, amount=parse_amount(raw[:20])
        )
    except BillingError as refused:
        return {"amount_error": refused.message}
    values = {
        "amount": format_money(line.amount),
        "count": len(lookup.bills),
        "periods": list_text(bill.period for bill in lookup.bills),
    }
    return {
        "own_amount": values["amount"],
        "own_amount_summary": _("You pay ¥%(amount)s now towards %(count)s open bills (%(periods)s)")
        % values,
        "own_amount_label": _("Pay ¥%(amount)s now") % values,
    }


def pay_link(request, token):
    """The page a printed QR code opens: one bill, its masked holder, one big button."""
    bill = selectors.bill_for_pay_token(token)
    if bill is None:
        return render(request, "payers/link_invalid.html", status=404)
    return render(
        request,
        "payers/pay_link.html",
        {
            "bill": bill,
            "token": token,
            "gateways": available_gateways(),
            "payable": bill.status in ("open", "partly_paid"),
            "instalments": instalments.states(bill),
            "next_instalment": instalments.next_open(bill),
        },
    )


def pay_link_qr(request, token):
    """A printable page with the bill's QR code (the same link the counter prints on its slips)."""
    bill = selectors.bill_for_pay_token(token)
    if bill is None:
        return render(request, "payers/link_invalid.html", status=404)
    url = request.build_absolute_uri(reverse("payers:pay_link", args=[token]))
    return render(
        request, "payers/pay_link_qr.html", {"bill": bill, "url": url, "qr": receipts.qr_svg(url, 220)}
    )


def gateway_redirect(request, order, *, return_url: str = ""):
    """Off to the order's bank; the browser comes back to `return_url` (the hosted checkout's page,
    api.hosted) or by default to the bank's return address here."""
    gateway = get_gateway(order.gateway)
    notify_url = request.build_absolute_uri(reverse("payers:notify", args=[gateway.code]))
    return_url = return_url or request.build_absolute_uri(reverse("payers:bank_return", args=[gateway.code]))
    return redirect(gateway.payment_url(order, notify_url=notify_url, return_url=return_url))


def _wechat_order(token):
    """A pending WeChat order of this access token, while WeChat is switched on; 404 otherwise."""
    order = selectors.order_for_token(token)
    if order is None or order.gateway != "WECHAT":
        raise Http404
    try:
        return get_gateway(order.gateway), order
    except PortalError:
        raise Http404 from None


@require_GET
def wechat_pay(request, token):
    """WeChat Native payment: the QR code to scan with WeChat, and on a phone the H5 button."""
    gateway, order = _wechat_order(token)
    if order.status != OrderStatus.PENDING:  # paid or closed meanwhile: nothing more to scan
        return redirect("payers:order", token=order.access_token)
    notify_url = request.build_absolute_uri(reverse("payers:notify", args=[gateway.code]))
    try:
        code_url = gateway.native_code_url(order, notify_url=notify_url)
    except GatewayError as error:
        logger.warning("wechat native order refused: order_no=%s code=%s", order.order_no, error.code)
        messages.error(request, _("WeChat Pay cannot take this payment now. Please try again later."))
        return redirect("payers:order", token=order.access_token)
    return render(request, "payers/wechat_pay.html", {"order": order, "qr": receipts.qr_svg(code_url, 220)})


@require_POST
def wechat_h5(request, token):
    """WeChat H5 payment from a phone's browser: off to WeChat's page, and back to the order's page."""
    gateway, order = _wechat_order(token)
    if order.status != OrderStatus.PENDING:
        return redirect("payers:order", token=order.access_token)
    try:
        url = gateway.h5_url(
            order,
            notify_url=request.build_absolute_uri(reverse("payers:notify", args=[gateway.code])),
            return_url=request.build_absolute_uri(reverse("payers:order", args=[order.access_token])),
            client_ip=client_ip(request),
        )
    except GatewayError as error:
        logger.warning("wechat h5 order refused: order_no=%s code=%s", order.order_no, error.code)
        messages.error(request, _("WeChat Pay cannot take this payment now. Please try again later."))
        return redirect("payers:order", token=order.access_token)
    return redirect(url)


def _subject(lines) -> str:
    names = sorted({line.biller.display_name for line in lines})
    text = list_text(names[:3])  # the bank shows the subject to the payer: in the payer's language
    return (
        text
        if len(names) <= 3
        else _("%(names)s and %(count)s more") % {"names": text, "count": len(names) - 3}
    )


def _checkout_lines(request):
    """Turn the posted form into checkout lines, checking the visitor may pay what it names."""
    source = request.POST.get("source", "")
    if source == "link":
        bill = selectors.bill_for_pay_token(request.POST.get("token", ""))
        if bill is None:
            raise PortalError("nothing_to_pay")
        if request.POST.get("instalment") == "next":
            return OrderKind.BILLS, [services.line_for_next_instalment(bill)]
        return OrderKind.BILLS, services.lines_for_bills([bill.pk])
    bill_ids = [int(value) for value in request.POST.getlist("bill") if value.isdigit()]
    if source == "mine":
        if not request.user.is_authenticated:
            raise PortalError("nothing_to_pay")
        return OrderKind.BILLS, services.lines_for_bills(
            selectors.bills_of_bound_accounts(request.user, bill_ids)
        )
    biller = selectors.active_biller(request.POST.get("biller", ""))
    if biller is None:
        raise PortalError("nothing_to_pay")
    if biller.payment_mode == PaymentMode.DONATION:
        line = services.CheckoutLine(
            biller=biller,
            amount=parse_amount(request.POST.get("amount", "")),
            note=request.POST.get("donor", "").strip()[:100],
            anonymous=bool(request.POST.get("anonymous")),
        )
        return OrderKind.DONATION, [line]
    lookup = selectors.lookup_account(biller=biller, account_no=request.POST.get("account_no", ""))
    if biller.payment_mode == PaymentMode.PREPAID:
        line = services.CheckoutLine(
            biller=biller, account=lookup.account, amount=parse_amount(request.POST.get("amount", ""))
        )
        return OrderKind.TOPUP, [line]
    chosen = [bill for bill in lookup.bills if bill.pk in bill_ids or request.POST.get("all")]
    own_amount = request.POST.get("amount", "").strip()
    if own_amount:  # a partial (or advance) payment where the biller's amount rule allows one
        line = services.line_for_chosen_amount(
            account=lookup.account, bills=chosen, amount=parse_amount(own_amount)
        )
        return OrderKind.BILLS, [line]
    return OrderKind.BILLS, services.lines_for_bills([bill.pk for bill in chosen])


@require_POST
def checkout(request):
    if request.POST.get("source") not in ("mine", "link") and _rate_limited(request, "lookup"):
        return _too_many(request)  # a checkout looks the account up too: same limit, no enumeration
    try:
        kind, lines = _checkout_lines(request)
        order = services.start_checkout(
            lines=lines,
            kind=kind,
            user=request.user,
            gateway_code=request.POST.get("gateway") or settings.PORTAL_DEFAULT_GATEWAY,
            subject=_subject(lines),
        )
    except BillingError as error:
        messages.error(request, error.message)
        back = request.POST.get("back", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = reverse("payers:home")
        return redirect(back)
    if request.POST.get("handoff"):  # "finish on my phone": the order's QR instead of the bank's page
        return _show_handoff(request, order)
    return gateway_redirect(request, order)


def _show_handoff(request, order):
    try:
        _handoff, token = handoff.start_handoff(order=order, user=request.user)
    except BillingError as error:
        messages.error(request, error.message)
        return redirect("payers:order", token=order.access_token)
    request.session[HANDOFF_TOKENS_KEY] = {
        **request.session.get(HANDOFF_TOKENS_KEY, {}),
        order.order_no: token,
    }
    return redirect("payers:order_handoff", token=order.access_token)


@require_http_methods(["GET", "POST"])
def order_handoff(request, token):
    """The first device's QR code for the pending order (POST: a new one); its status region polls, and
    says so once the order was continued on another device."""
    context = _order_status_context(request, token)
    order = context["order"]
    if request.method == "POST":
        return _show_handoff(request, order)
    qr_token = request.session.get(HANDOFF_TOKENS_KEY, {}).get(order.order_no, "")
    shown = handoff.handoff_for_token(qr_token) if qr_token else None
    if shown is not None and shown.claimed_at is None and shown.expires_at > timezone.now():
        url = request.build_absolute_uri(reverse("payers:handoff", args=[qr_token]))
        context.update(
            {"handoff_url": url, "qr": receipts.qr_svg(url, 240), "handoff_expires": shown.expires_at}
        )
    return render(request, "payers/order_handoff.html", context)


@require_http_methods(["GET", "POST"])
def handoff_open(request, token):
    """The second device opens the QR's link: it says what it continues; confirming (POST) takes the order
    over, once. Nothing is written by looking."""
    if request.method == "POST":
        try:
            order = handoff.claim_handoff(token=token, user=request.user)
        except BillingError as error:
            found = handoff.handoff_for_token(token)
            if found and found.order_id in request.session.get(HANDOFF_CLAIMED_KEY, []):
                return redirect("payers:order", token=found.order.access_token)  # this device's own 2nd tap
            return render(request, "payers/handoff.html", {"error": error}, status=410)
        request.session[HANDOFF_CLAIMED_KEY] = [*request.session.get(HANDOFF_CLAIMED_KEY, []), order.pk]
        return redirect("payers:order", token=order.access_token)
    found = handoff.handoff_for_token(token)
    try:
        handoff.check_claimable(found)
    except BillingError as error:
        return render(request, "payers/handoff.html", {"error": error}, status=410)
    return render(request, "payers/handoff.html", {"order": found.order})


@require_POST
def order_pay(request, token):
    """Off to the bank for a pending order: from its page again, or on the device that took it over."""
    context = _order_status_context(request, token)
    if not context["may_pay"]:
        return redirect("payers:order", token=token)
    return gateway_redirect(request, context["order"])


def _order_status_context(request, token) -> dict:
    """What the order page and its polled status fragment show: the order, its lines with their receipts,
    and whether it was continued on another device (payers.handoff) than this one."""
    order = selectors.order_for_token(token)
    if order is None:
        raise Http404
    lines = list(order.lines.all())
    for line in lines:
        line.receipt_token = selectors.receipt_token(line.payment) if line.payment else ""
    pending = order.status == OrderStatus.PENDING
    continued_here = order.pk in request.session.get(HANDOFF_CLAIMED_KEY, [])
    elsewhere = pending and not continued_here and handoff.handed_off(order)
    return {
        "elsewhere": elsewhere,
        "may_pay": pending and not elsewhere,
        "order": order,
        "lines": lines[:100],
        "line_count": len(lines),
        "settled": sum(1 for line in lines if line.outcome != LineOutcome.WAITING),
        "pending": order.status == OrderStatus.PENDING
        or (order.status == OrderStatus.PAID and any(line.outcome == LineOutcome.WAITING for line in lines)),
        "has_receipts": any(line.payment_id for line in lines),
    }


def order_page(request, token):
    """The order's status, whenever the payer comes back (closing the tab mid-payment loses nothing). While it
    is pending, its status region polls order_status (htmx) instead of reloading the page."""
    return render(request, "payers/order.html", _order_status_context(request, token))


def order_status(request, token):
    """The order page's status region alone, for its poller; it stops polling once the order is final."""
    return render(request, "payers/_order_status.html", _order_status_context(request, token))


@csrf_exempt
@require_POST
def notify(request, gateway_code):
    """The bank's asynchronous server notification: the only thing that leads to a posted payment. A
    gateway that is unknown or switched off has no notification address (404); any other refusal gets the
    bank's "not accepted" answer, so that a genuine bank tries again and staff can see why."""
    try:
        gateway = get_gateway(gateway_code)
    except PortalError:
        gateway = None  # refused (and recorded) by the service below, for the same reason
    refusals: list[PortalError] = []
    try:
        result = services.apply_notification(
            gateway_code=gateway_code,
            params=gateway.notification_params(request) if gateway else request.POST.dict(),
            refusals=refusals,
        )
    except GatewayRefused:
        raise Http404 from None
    status, content_type, body = gateway.notification_http(
        accepted=result != NotificationResult.REJECTED,
        message=str(refusals[0].message) if refusals else "",
    )
    return HttpResponse(body, status=status, content_type=content_type)


@require_GET
def bank_return(request, gateway_code):
    """The browser comes back from the bank: show the order's page, whatever it says now. Only a switched-on
    gateway's return is believed, and only for its own orders: a return opens the order's page (its access
    token), so one signed with a switched-off gateway's key (the sandbox's demo key is public) or for
    another gateway's order opens nothing. The payer of an order whose gateway was switched off meanwhile
    finds it under "My payments" (signed in), and the trade query still settles it."""
    try:
        gateway = get_gateway(gateway_code)
    except PortalError:
        raise Http404 from None
    try:
        order_no = gateway.parse_return(request.GET.dict())
    except GatewayError as error:
        logger.warning("bank return refused: gateway=%s code=%s", gateway.code, error.code)
        return HttpResponseBadRequest(_("The bank's return address was not signed correctly."))
    order = selectors.order_by_no(order_no)
    if order is None or order.gateway != gateway.code:
        logger.warning(
            "bank return refused: gateway=%s code=order_unknown order_no=%r", gateway.code, order_no[:32]
        )
        raise Http404
    return redirect("payers:order", token=order.access_token)


def _verify_link(request, payment):
    path, code = selectors.verification_path(payment)
    return request.build_absolute_uri(path), code


def receipt_page(request, token):
    payment = selectors.payment_for_receipt_token(token)
    if payment is None:
        raise Http404
    url, code = _verify_link(request, payment)
    return render(
        request,
        "payers/receipt.html",
        {
            "payment": payment,
            "rows": receipts.receipt_lines(payment),
            "token": token,
            "verify_url": url,
            "code": code,
            "qr": receipts.qr_svg(url, 140),
            "hold": topup_hold_of(payment),
            **_fiscal_context(payment, token),
        },
    )


def receipt_card_write(request, token):
    """The receipt's live part for a top-up written to a card (billing.topups): polled while it waits for
    the write, final once written or refunded."""
    payment = selectors.payment_for_receipt_token(token)
    hold = topup_hold_of(payment)
    if hold is None:
        raise Http404
    return render(
        request, "payers/_card_write_status.html", {"payment": payment, "hold": hold, "token": token}
    )


def _fiscal_context(payment, token) -> dict:
    return {
        "fiscal": fiscal.receipt_of(payment),
        "fiscal_working": fiscal.WORKABLE,
        "fiscal_pdf_url": reverse("payers:receipt_fiscal_pdf", args=[token]),
        "fiscal_status_url": reverse("payers:receipt_fiscal_status", args=[token]),
        "fiscal_page_url": reverse("payers:receipt", args=[token]),
    }


def receipt_fiscal_status(request, token):
    """The fiscal e-receipt's region of the receipt page alone, for its poller."""
    payment = selectors.payment_for_receipt_token(token)
    if payment is None:
        raise Http404
    return render(request, "partials/fiscal_receipt.html", _fiscal_context(payment, token))


def receipt_fiscal_pdf(request, token):
    """The official fiscal e-receipt's file, as its issuer made it."""
    payment = selectors.payment_for_receipt_token(token)
    found = fiscal.issued_pdf(payment) if payment is not None else None
    if found is None:
        raise Http404
    receipt, pdf = found
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="fiscal-{receipt.invoice_code}-{receipt.invoice_no}.pdf"'
    )
    return response


def receipt_pdf(request, token):
    payment = selectors.payment_for_receipt_token(token)
    if payment is None:
        raise Http404
    url, code = _verify_link(request, payment)
    response = HttpResponse(receipts.receipts_pdf([(payment, url, code)]), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="receipt-{payment.receipt_no}.pdf"'
    return response


def verify(request, receipt_no="", code=""):
    """Anyone holding a receipt can check it is genuine; the page shows nothing the receipt does not."""
    receipt_no = receipt_no or request.GET.get("receipt_no", "")
    code = code or request.GET.get("code", "")
    context = {"receipt_no": receipt_no, "code": code, "asked": bool(receipt_no or code)}
    if context["asked"]:
        if _rate_limited(request, "verify"):
            return _too_many(request)
        payment = selectors.payment_for_verification(receipt_no, code)
        context["payment"] = payment
        if payment is not None:
            context["masked_account"] = (
                receipts.mask_account_no(payment.account.account_no) if payment.account_id else ""
            )
    return render(request, "payers/verify.html", context)


def _parse_date(value: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _history_filters(request) -> dict:
    status = request.GET.get("status", "")
    return {
        "biller_code": request.GET.get("biller", "")[:32],
        "date_from": _parse_date(request.GET.get("from", "")),
        "date_to": _parse_date(request.GET.get("to", "")),
        "status": status if status in PaymentStatus.values else "",
    }


@login_required(login_url="account_login")
def history(request):
    filters = _history_filters(request)
    payments = list(selectors.filtered_history(request.user, **filters)[:200])
    tokens = {payment.pk: selectors.receipt_token(payment) for payment in payments}
    beneficiaries = selectors.beneficiaries_of(payments)
    for payment in payments:
        payment.receipt_token = tokens[payment.pk]
        payment.beneficiaries = beneficiaries.get(payment.pk, "")
    return render(
        request,
        "payers/history.html",
        {
            "payments": payments,
            "filters": filters,
            "statuses": PaymentStatus.choices,
            "query": request.GET.urlencode(),
            "orders": list(selectors.orders_of(request.user)[:10]),
        },
    )


def csv_safe(value) -> str:
    """Spreadsheet formula injection: a cell starting with = + - @ (or a tab/CR) is prefixed with '."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class _Echo:
    def write(self, value):
        return value


@login_required(login_url="account_login")
def history_csv(request):
    payments = selectors.filtered_history(request.user, **_history_filters(request))
    writer = csv.writer(_Echo())
    header = [
        _("Receipt number"),
        _("Paid at"),
        _("Biller"),
        _("Account number"),
        _("Amount"),
        _("Status"),
        _("Bank reference"),
    ]

    def rows():
        yield "\ufeff" + writer.writerow(header)
        for payment in payments.iterator(chunk_size=500):
            yield writer.writerow(
                [
                    csv_safe(value)
                    for value in (
                        payment.receipt_no,
                        timezone.localtime(payment.posted_at).strftime("%Y-%m-%d %H:%M:%S"),
                        payment.biller.display_name,
                        payment.account.account_no if payment.account_id else "",
                        f"{payment.amount:.2f}",
                        payment.get_status_display(),
                        payment.channel_ref,
                    )
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="payments.csv"'
    return response


@login_required(login_url="account_login")
def my_accounts(request):
    services.remember_portal_language(user=request.user, language=get_language())
    bound = selectors.bound_accounts_with_bills(request.user)
    return render(
        request,
        "payers/my_accounts.html",
        {
            "bound": bound,
            "gateways": available_gateways(),
            "billers": selectors.search_billers(),
            **_totals([bill for item in bound for bill in item.account.open_bills]),
        },
    )


@login_required(login_url="account_login")
@require_POST
def bind_account(request):
    biller = selectors.active_biller(request.POST.get("biller", ""))
    if biller is None:
        messages.error(request, _("Choose a biller."))
        return redirect("payers:my_accounts")
    if _rate_limited(request, "lookup"):
        return _too_many(request)
    try:
        lookup = selectors.lookup_account(biller=biller, account_no=request.POST.get("account_no", ""))
        services.bind_account(user=request.user, account=lookup.account, label=request.POST.get("label", ""))
        services.remember_portal_language(user=request.user, language=get_language())
    except BillingError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Account added to your list."))
    return redirect("payers:my_accounts")


@login_required(login_url="account_login")
@require_POST
def bound_account_action(request, bound_id):
    bound = selectors.bound_account_of(request.user, bound_id)
    if bound is None:
        raise Http404
    action = request.POST.get("action")
    if action == "unbind":
        services.unbind_account(user=request.user, bound=bound)
    elif action in ("reminders_on", "reminders_off"):
        services.set_reminders(user=request.user, bound=bound, enabled=action == "reminders_on")
    return redirect("payers:my_accounts")


@require_POST
def elderly_mode(request):
    """Switch the elderly-friendly mode (large text, high contrast, fewer steps); remembered in a cookie."""
    back = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "/"
    response = redirect(back)
    if request.POST.get("on") == "1":
        response.set_cookie(ELDERLY_COOKIE, "1", max_age=365 * 24 * 3600, samesite="Lax")
    else:
        response.delete_cookie(ELDERLY_COOKIE)
    return response


@login_required(login_url="account_login")
def proxy_upload(request):
    """Batch proxy payment (代缴): upload a CSV of account numbers and amounts."""
    context = {
        "billers": selectors.search_billers(),
        "batches": selectors.proxy_batches_of(request.user)[:10],
    }
    if request.method == "POST":
        biller = selectors.active_biller(request.POST.get("biller", ""))
        upload = request.FILES.get("file")
        if biller is None or upload is None:
            context["error"] = _("Choose a biller and a CSV file.")
        else:
            try:
                batch = proxy.validate_upload(
                    user=request.user,
                    biller=biller,
                    file_name=upload.name,
                    data=untrusted_files.read_upload(upload, "proxy_batch"),
                )
            except BillingError as error:
                context["error"] = error.message
            else:
                return redirect("payers:proxy_batch", public_id=batch.public_id)
    return render(request, "payers/proxy_upload.html", context)


@login_required(login_url="account_login")
def proxy_batch(request, public_id):
    batch = selectors.proxy_batch_of(request.user, public_id)
    if batch is None:
        raise Http404
    if request.method == "POST":
        try:
            order = services.start_proxy_checkout(
                batch=batch,
                user=request.user,
                gateway_code=request.POST.get("gateway") or settings.PORTAL_DEFAULT_GATEWAY,
            )
        except BillingError as error:
            messages.error(request, error.message)
            return redirect("payers:proxy_batch", public_id=batch.public_id)
        return gateway_redirect(request, order)
    to_pay = proxy.rows_to_pay(batch)
    return render(
        request,
        "payers/proxy_batch.html",
        {
            "batch": batch,
            "errors": proxy.refused_rows(batch),
            "to_pay_count": len(to_pay),
            "preview": to_pay[:50],
            "gateways": available_gateways(),
            "summary": proxy.summary(batch),
        },
    )


def order_receipts_pdf(request, token):
    """Every receipt of an order in one multi-page PDF: one page per resident of a proxy batch. A big order's
    PDF is built by a task instead (order_receipts)."""
    order = selectors.order_for_token(token)
    if order is None:
        raise Http404
    if selectors.order_receipt_count(order) > settings.PORTAL_INLINE_RECEIPTS_MAX:
        return redirect("payers:order_receipts", token=token)
    payments = selectors.order_payments(order)
    if not payments:
        raise Http404
    items = [(payment, *_verify_link(request, payment)) for payment in payments]
    response = HttpResponse(receipts.receipts_pdf(items), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="receipts-{order.order_no}.pdf"'
    return response


def _receipt_bundle_context(token) -> dict:
    order = selectors.order_for_token(token)
    count = selectors.order_receipt_count(order) if order else 0
    if not count:
        raise Http404
    bundle = selectors.receipt_bundle_of(order)
    return {
        "order": order,
        "bundle": bundle,
        "count": count,
        "working": bundle is not None and bundle.status in ("queued", "running"),
    }


def order_receipts(request, token):
    """A big order's receipts: ask for the PDF, watch it being built (its status region polls
    order_receipts_status), download it."""
    context = _receipt_bundle_context(token)
    if request.method == "POST":
        services.request_receipt_bundle(order=context["order"], language=get_language())
        return redirect("payers:order_receipts", token=token)
    return render(request, "payers/order_receipts.html", context)


def order_receipts_status(request, token):
    """The receipt bundle's status region alone, for its poller."""
    return render(request, "payers/_order_receipts_status.html", _receipt_bundle_context(token))


def order_receipts_download(request, token):
    order = selectors.order_for_token(token)
    data = selectors.receipt_bundle_pdf(order) if order else None
    if data is None:
        raise Http404
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="receipts-{order.order_no}.pdf"'
    return response


# --- Auto-pay mandates (代扣) ---


def _date_field(value: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat((value or "").strip()[:10])
    except ValueError:
        return None


@login_required(login_url="account_login")
def autopay(request):
    """The citizen's mandates and their debits; a form to set one up for an account of "My accounts"."""
    bound = selectors.bound_accounts_with_bills(request.user)
    today = timezone.localdate()
    form = {
        "account": request.GET.get("account", ""),
        "cap": "",
        "valid_until": (today + datetime.timedelta(days=365)).isoformat(),
        "notice_days": "3",
    }
    if request.method == "POST":
        form = {
            name: request.POST.get(name, "")[:20] for name in ("account", "cap", "valid_until", "notice_days")
        }
        chosen = (
            selectors.bound_account_of(request.user, int(form["account"]))
            if form["account"].isdigit()
            else None
        )
        try:
            if chosen is None:
                raise PortalError("mandate_account_not_bound")
            mandate = mandates.create_mandate(
                user=request.user,
                bound=chosen,
                cap_per_bill=form["cap"],
                valid_from=today,
                valid_until=_date_field(form["valid_until"]),
                notice_days=form["notice_days"],
                gateway_code=request.POST.get("gateway", settings.PORTAL_DEFAULT_GATEWAY)[:16],
            )
        except BillingError as error:
            messages.error(request, error.message)
        else:
            return_url = request.build_absolute_uri(reverse("payers:autopay_return", args=[mandate.gateway]))
            return redirect(mandates.agreement_url(mandate, return_url=return_url))
    return render(
        request,
        "payers/autopay.html",
        {
            "mandates": selectors.mandates_of(request.user),
            "bound": bound,
            "form": form,
            "gateways": [gateway for gateway in available_gateways() if gateway.supports_agreements],
            "notice_range": settings.MANDATE_NOTICE_DAYS,
            "max_cap": settings.MANDATE_MAX_CAP,
        },
        status=400 if request.method == "POST" else 200,
    )


@csrf_exempt
@require_POST
def autopay_notify(request, gateway_code):
    """The bank's signed server notification of an agreement's signing (Alipay's dut_user_sign)."""
    try:
        gateway = get_gateway(gateway_code)
    except PortalError:
        raise Http404 from None
    try:
        mandates.confirm_agreement_notice(
            gateway_code=gateway.code, params=gateway.notification_params(request)
        )
    except GatewayError as error:
        logger.warning("agreement notification refused: gateway=%s code=%s", gateway.code, error.code)
        status, content_type, body = gateway.notification_http(accepted=False)
        return HttpResponse(body, status=status, content_type=content_type)
    except PortalError as error:  # genuine, but for no mandate of ours: nothing to retry
        logger.warning("agreement notification for no mandate: gateway=%s code=%s", gateway.code, error.code)
    status, content_type, body = gateway.notification_http(accepted=True)
    return HttpResponse(body, status=status, content_type=content_type)


@login_required(login_url="account_login")
@require_GET
def autopay_return(request, gateway_code):
    """The browser comes back from the bank's agreement page: the signed answer activates the mandate. A
    return that carries no answer (Alipay's: its answer is the server notification) shows the mandates."""
    if "sign" not in request.GET:
        return redirect("payers:autopay")
    try:
        mandate = mandates.confirm_agreement(
            user=request.user, gateway_code=gateway_code, params=request.GET.dict()
        )
    except GatewayError as error:
        logger.warning("agreement return refused: gateway=%s code=%s", gateway_code[:16], error.code)
        return HttpResponseBadRequest(_("The bank's return address was not signed correctly."))
    except PortalError as error:
        messages.error(request, error.message)
        return redirect("payers:autopay")
    messages.success(request, _("Auto-pay is set up for %(label)s.") % {"label": mandate.label})
    return redirect("payers:mandate", public_id=mandate.public_id)


MANDATE_ACTIONS = {"pause": "paused", "resume": "active", "cancel": "cancelled"}


@login_required(login_url="account_login")
def mandate_page(request, public_id):
    mandate = selectors.mandate_of(request.user, public_id)
    if mandate is None:
        raise Http404
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action in MANDATE_ACTIONS:
                mandates.set_mandate_status(
                    actor=request.user, mandate=mandate, target=MANDATE_ACTIONS[action]
                )
            elif action == "edit":
                mandates.edit_mandate(
                    user=request.user,
                    mandate=mandate,
                    cap_per_bill=request.POST.get("cap", "")[:20],
                    valid_until=_date_field(request.POST.get("valid_until", "")),
                    notice_days=request.POST.get("notice_days", "")[:4],
                )
            else:
                raise Http404
        except BillingError as error:
            messages.error(request, error.message)
            status = 400
        else:
            messages.success(request, _("Auto-pay changed."))
            return redirect("payers:mandate", public_id=mandate.public_id)
        mandate = selectors.mandate_of(request.user, public_id)
    debits = mandate.debits.select_related("bill").order_by("-debit_on", "-id")[:24]
    return render(
        request,
        "payers/mandate.html",
        {"mandate": mandate, "debits": debits, "notice_range": settings.MANDATE_NOTICE_DAYS},
        status=status,
    )


@login_required(login_url="account_login")
@require_POST
def skip_debit(request, debit_id):
    debit = selectors.debit_of(request.user, debit_id)
    if debit is None:
        raise Http404
    try:
        mandates.skip_debit(user=request.user, debit=debit)
    except BillingError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("Skipped: auto-pay will not pay the bill for %(period)s.") % {"period": debit.bill.period},
        )
    return redirect("payers:mandate", public_id=debit.mandate.public_id)


# --- Family payment (亲情付) ---


@login_required(login_url="account_login")
def family(request):
    """The family members the citizen invited (with their limits), the citizens who share bills with them,
    and the form to invite someone."""
    status = 200
    invited = None
    form = {"label": "", "per_payment": "", "monthly": "", "email": ""}
    if request.method == "POST":
        form = {name: request.POST.get(name, "")[:254] for name in form}
        try:
            invited = family_payment.invite(
                owner=request.user,
                label=form["label"],
                per_payment_limit=form["per_payment"][:20],
                monthly_limit=form["monthly"][:20],
                email=form["email"],
            )
        except BillingError as error:
            messages.error(request, error.message)
            status = 400
        else:
            form = {"label": "", "per_payment": "", "monthly": "", "email": ""}
    return render(
        request,
        "payers/family.html",
        {
            "given": selectors.family_links_given(request.user),
            "received": selectors.family_links_received(request.user),
            "invited": invited,
            "invite_url": request.build_absolute_uri(
                reverse("payers:family_invite", args=[invited.invite_token])
            )
            if invited
            else "",
            "form": form,
        },
        status=status,
    )


@login_required(login_url="account_login")
def family_invite(request, token):
    link = selectors.family_invite(token)
    if request.method == "POST":
        try:
            link = family_payment.accept(member=request.user, token=token)
        except BillingError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("You can now see and pay these bills."))
            return redirect("payers:family_pay", public_id=link.public_id)
    return render(request, "payers/family_invite.html", {"link": link}, status=200 if link else 404)


@login_required(login_url="account_login")
def family_pay(request, public_id):
    """The member's view of the citizen's accounts and bills; paying goes to the bank within the limits."""
    link = selectors.family_link_of(request.user, public_id)
    if link is None or link.member_id != request.user.pk:
        raise Http404
    if request.method == "POST":
        try:
            bill_ids = [int(value) for value in request.POST.getlist("bill")[:100] if value.isdigit()]
            if not bill_ids:
                raise PortalError("nothing_to_pay")
            order = family_payment.start_checkout(
                member=request.user,
                link=link,
                bill_ids=bill_ids,
                gateway_code=request.POST.get("gateway") or settings.PORTAL_DEFAULT_GATEWAY,
                subject=_("Family payment for %(name)s") % {"name": link.owner.get_full_name() or link.label},
            )
        except BillingError as error:
            messages.error(request, error.message)
        else:
            return gateway_redirect(request, order)
    bound = selectors.shared_accounts_with_bills(link) if link.status == "active" else []
    return render(
        request,
        "payers/family_pay.html",
        {
            "link": link,
            "bound": bound,
            "gateways": available_gateways(),
            "spent": family_payment.spent_this_month(link),
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required(login_url="account_login")
@require_POST
def family_end(request, public_id):
    link = selectors.family_link_of(request.user, public_id)
    if link is None:
        raise Http404
    family_payment.end(user=request.user, link=link)
    messages.success(request, _("Family payment ended."))
    return redirect("payers:family")
