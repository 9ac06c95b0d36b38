"""The clerk's counter (staff pages, keyboard-first), the staff reports, and the public outlet finder and
payment slips. Views parse input, call a selector or service, and render."""

import datetime
from functools import wraps

from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing import access, fiscal, roles
from billing import selectors as billing_selectors
from billing.exceptions import BillingError
from billing.models import Bill
from billing.money import format_money
from billing.paylinks import bill_id_from_token
from branches import selectors, services
from branches.exceptions import CounterError
from branches.forms import CloseTillForm, OpenTillForm, VoidForm
from branches.models import Branch
from branches.slips import render_slip_pdf
from payers import selectors as payer_selectors

REPORT_ROLES = frozenset(
    {
        roles.PLATFORM_ADMIN,
        roles.BRANCH_SUPERVISOR,
        roles.BRANCH_CLERK,
        roles.RECONCILIATION_OFFICER,
        roles.AUDITOR,
    }
)
COVERAGE_ROLES = frozenset(
    {roles.PLATFORM_ADMIN, roles.BRANCH_SUPERVISOR, roles.RECONCILIATION_OFFICER, roles.AUDITOR}
)


def counter_staff_required(view):
    """Logged in, a branch clerk or supervisor, linked to at least one branch."""

    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not (access.roles_of(request.user) & services.COUNTER_ROLES):
            raise PermissionDenied
        branches = selectors.counter_branches(request.user)
        if not branches:
            raise PermissionDenied
        request.counter_branches = branches
        return view(request, *args, **kwargs)

    return wrapped


def _till_or_home(request):
    till = selectors.open_till_of(request.user)
    if till is None:
        messages.error(request, CounterError("till_not_open").message)
    return till


@counter_staff_required
def counter_home(request):
    till = selectors.open_till_of(request.user)
    if till is None:
        branch_ids = [b.pk for b in request.counter_branches]
        form = OpenTillForm(
            request.POST or None, branches=Branch.objects.filter(pk__in=branch_ids).order_by("code")
        )
        if request.method == "POST" and form.is_valid():
            try:
                services.open_till(
                    clerk=request.user,
                    branch=form.cleaned_data["branch"],
                    opening_float=form.cleaned_data["opening_float"],
                )
            except BillingError as error:
                form.add_error(None, error.message)
            else:
                return redirect("counter:home")
        return render(request, "branches/counter/open_till.html", {"form": form})
    report = selectors.till_report(till)
    return render(
        request,
        "branches/counter/home.html",
        {
            "till": till,
            "report": report,
            "billers": selectors.cash_billers_at(till.branch),
            "biller_code": request.session.get("counter_biller", ""),
        },
    )


@counter_staff_required
def counter_lookup(request):
    till = _till_or_home(request)
    if till is None:
        return redirect("counter:home")
    query = request.GET.get("q", "")
    biller_code = request.GET.get("biller", "")
    if biller_code:
        request.session["counter_biller"] = biller_code
    context = {
        "till": till,
        "billers": selectors.cash_billers_at(till.branch),
        "biller_code": biller_code,
        "query": query,
    }
    try:
        lookup = selectors.counter_lookup(query=query, biller_code=biller_code, branch=till.branch)
    except BillingError as error:
        context["error"] = error.message
        return render(request, "branches/counter/home.html", context, status=200)
    # Bills a citizen's auto-pay mandate will pay: the clerk tells them before taking cash for one.
    payer_selectors.mark_autopay(lookup.bills)
    context.update({"lookup": lookup, "form_key": services.new_form_key()})
    return render(request, "branches/counter/lookup.html", context)


@require_POST
@counter_staff_required
def counter_pay(request):
    till = _till_or_home(request)
    if till is None:
        return redirect("counter:home")
    try:
        taken = services.take_cash(
            clerk=request.user,
            till_id=till.pk,
            biller_code=request.POST.get("biller", ""),
            account_no=request.POST.get("account_no", ""),
            periods=request.POST.getlist("period"),
            amount=request.POST.get("amount", ""),
            tendered=request.POST.get("tendered", ""),
            form_key=request.POST.get("form_key", ""),
            from_slip=request.POST.get("from_slip") == "1",
            notice_phone=request.POST.get("notice_phone", ""),
            notice_consent=request.POST.get("notice_consent") == "1",
        )
    except BillingError as error:
        messages.error(request, error.message)
        query = request.POST.get("account_no", "")
        return render(
            request,
            "branches/counter/home.html",
            {
                "till": till,
                "billers": selectors.cash_billers_at(till.branch),
                "biller_code": request.POST.get("biller", ""),
                "query": query,
                "error": error.message,
            },
            status=409,
        )
    return redirect("counter:receipt", receipt_no=taken.counter_payment.payment.receipt_no)


def _counter_payment_or_404(request, receipt_no):
    counter_payment = selectors.counter_payment_for_user(request.user, receipt_no)
    if counter_payment is None:
        raise Http404
    return counter_payment


@counter_staff_required
def counter_receipt(request, receipt_no):
    counter_payment = _counter_payment_or_404(request, receipt_no)
    return render(
        request,
        "branches/counter/receipt.html",
        {
            "cp": counter_payment,
            "payment": counter_payment.payment,
            "allocations": counter_payment.payment.allocations.all(),
            "hold": billing_selectors.topup_hold_of(counter_payment.payment),
            "fiscal": fiscal.receipt_of(counter_payment.payment),
            "fiscal_pdf_url": reverse("counter:fiscal_pdf", args=[receipt_no]),
            "fiscal_pdf_label": _("Print the fiscal e-receipt"),
        },
    )


@require_POST
@counter_staff_required
def counter_card_write(request, receipt_no):
    """The card writer's answer for a held top-up: written, or failed (the cash goes back)."""
    counter_payment = _counter_payment_or_404(request, receipt_no)
    written = request.POST.get("result") == "written"
    try:
        services.record_card_write(
            counter_payment=counter_payment,
            clerk=request.user,
            written=written,
            write_ref=request.POST.get("write_ref", "")[:100],
            reason=request.POST.get("reason", "")[:200],
        )
    except BillingError as error:
        messages.error(request, error.message)
    else:
        if written:
            messages.success(request, _("The top-up is written to the card."))
        else:
            messages.success(
                request,
                _("The top-up was voided: give the citizen ¥%(amount)s back from the till.")
                % {"amount": format_money(counter_payment.payment.amount)},
            )
    return redirect("counter:receipt", receipt_no=receipt_no)


@counter_staff_required
def counter_fiscal_pdf(request, receipt_no):
    """The official fiscal e-receipt of a counter payment, opened in the browser to print for the payer."""
    counter_payment = _counter_payment_or_404(request, receipt_no)
    found = fiscal.issued_pdf(counter_payment.payment)
    if found is None:
        raise Http404
    receipt, pdf = found
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'inline; filename="fiscal-{receipt.invoice_code}-{receipt.invoice_no}.pdf"'
    )
    return response


@counter_staff_required
def counter_void(request, receipt_no):
    counter_payment = _counter_payment_or_404(request, receipt_no)
    form = VoidForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        supervisor = authenticate(
            request,
            username=form.cleaned_data["supervisor_username"],
            password=form.cleaned_data["supervisor_password"],
        )
        try:
            if supervisor is None:
                raise CounterError("void_supervisor_password")
            services.void_counter_payment(
                counter_payment=counter_payment,
                clerk=request.user,
                supervisor=supervisor,
                reason=form.cleaned_data["reason"],
            )
        except BillingError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Payment %(receipt_no)s was voided.") % {"receipt_no": receipt_no})
            return redirect("counter:home")
    return render(request, "branches/counter/void.html", {"cp": counter_payment, "form": form})


@counter_staff_required
def counter_close(request):
    till = _till_or_home(request)
    if till is None:
        return redirect("counter:home")
    form = CloseTillForm(request.POST or None)
    report = selectors.till_report(till)
    if request.method == "POST" and form.is_valid():
        try:
            closed = services.close_till(
                till_id=till.pk, clerk=request.user, counts=form.counts(), note=form.cleaned_data["note"]
            )
        except BillingError as error:
            form.add_error(None, error.message)
        else:
            return redirect("counter:day_report_till", till_id=closed.pk)
    return render(request, "branches/counter/close.html", {"till": till, "form": form, "report": report})


@counter_staff_required
def counter_day_report(request, till_id=None):
    day = _date_param(request.GET.get("day")) or timezone.localdate()
    if till_id is not None:
        till = selectors.till_for_user(request.user, till_id)
        if till is None:
            raise Http404
        tills = [till]
        day = till.business_date
    else:
        tills = selectors.clerk_tills_on(request.user, day)
    reports = [selectors.till_report(till) for till in tills]
    return render(request, "branches/counter/day_report.html", {"reports": reports, "day": day})


def _date_param(value):
    try:
        return datetime.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _roles_required(allowed):
    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            if not (access.roles_of(request.user) & allowed):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


@_roles_required(REPORT_ROLES)
def reports(request):
    today = timezone.localdate()
    date_to = _date_param(request.GET.get("to")) or today
    date_from = _date_param(request.GET.get("from")) or date_to - datetime.timedelta(days=6)
    by = request.GET.get("by") if request.GET.get("by") in ("branch", "biller", "clerk") else "branch"
    return render(
        request,
        "branches/reports.html",
        {
            "rows": selectors.takings(request.user, date_from=date_from, date_to=date_to, by=by),
            "commission": selectors.operator_commission(request.user, date_from=date_from, date_to=date_to),
            "agent_commission": selectors.agent_commission(
                request.user, date_from=date_from, date_to=date_to
            ),
            "by": by,
            "date_from": date_from,
            "date_to": date_to,
        },
    )


@_roles_required(COVERAGE_ROLES)
def coverage(request):
    billers, rows = selectors.cash_coverage()
    table = [(row, [row.by_biller.get(b.pk, 0) for b in billers]) for row in rows]
    return render(request, "branches/coverage.html", {"billers": billers, "table": table})


# --- public pages ----------------------------------------------------------------------------------


def _float_param(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if -180 <= number <= 180 else None


# The outlet finder offers every cash-taking biller in a drop-down up to this many; past it (a province has
# 19,000: rendering them cost 0.6 s a page, issue 16) the citizen types a name and picks from the matches.
FINDER_BILLER_CHOICES = 200
FINDER_BILLER_MATCHES = 20


def outlet_finder(request):
    biller = selectors.cash_biller(request.GET.get("biller", ""))
    billers = selectors.cash_billers(limit=FINDER_BILLER_CHOICES + 1)
    many_billers = len(billers) > FINDER_BILLER_CHOICES
    biller_query = request.GET.get("biller_q", "").strip()[:60]
    matches = (
        selectors.cash_billers(query=biller_query, limit=FINDER_BILLER_MATCHES)
        if many_billers and biller_query and biller is None
        else []
    )
    district = request.GET.get("district", "")
    lat, lng = _float_param(request.GET.get("lat")), _float_param(request.GET.get("lng"))
    point = (lat, lng) if lat is not None and lng is not None and -90 <= lat <= 90 else None
    searched = bool(biller or district or point)
    page, outlets = (
        selectors.find_outlets_page(
            biller=biller, district=district, point=point, page=request.GET.get("page")
        )
        if searched
        else (None, [])
    )
    return render(
        request,
        "branches/finder.html",
        {
            "billers": [] if many_billers else billers,
            "many_billers": many_billers,
            "biller_query": biller_query,
            "matches": matches,
            "biller": biller,
            "districts": selectors.districts(),
            "district": district,
            "point": point,
            "outlets": outlets,
            "page": page,
            "searched": searched,
        },
    )


def outlet_detail(request, code):
    branch = selectors.public_branch(code)
    if branch is None:
        raise Http404
    outlet = selectors.outlet_for(branch)
    biller = selectors.cash_biller(request.GET.get("biller", ""))
    alternatives = (
        selectors.nearest_open_alternatives(branch, biller=biller, limit=3)
        if not branch.is_open or outlet.upcoming
        else []
    )
    return render(
        request,
        "branches/outlet.html",
        {
            "outlet": outlet,
            "branch": branch,
            "alternatives": alternatives,
            "biller": biller,
        },
    )


def payment_slip(request, token, layout):
    bill_id = bill_id_from_token(token)
    bill = Bill.objects.select_related("account", "biller").filter(pk=bill_id).first() if bill_id else None
    if bill is None or layout not in ("a4", "tearoff"):
        raise Http404
    pdf = render_slip_pdf(bill, layout=layout, base_url=request.build_absolute_uri("/"))
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="slip-{bill.biller.code}-{bill.period}-{layout}.pdf"'
    return response
