"""The agent's pages (issue 18, item 4): phone-first, large-text friendly, for a village officer, shop or
community centre taking payments out of its float. Views parse input, call a selector or the agent
service, and render."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from billing.exceptions import BillingError
from branches import agents, selectors, services


def agent_staff_required(view):
    """Logged in and taking payments for an agent (its `AgentStaff`): the agent and terminal ride on the
    request."""

    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        staff = selectors.agent_staff_of(request.user)
        if staff is None:
            raise PermissionDenied
        request.agent_staff = staff
        return view(request, *args, **kwargs)

    return wrapped


def _home_context(request, **extra) -> dict:
    agent = request.agent_staff.agent
    balance = selectors.float_balance(agent)
    return {
        "staff": request.agent_staff,
        "agent": agent,
        "balance": balance,
        "low": balance < agent.low_float_threshold,
        "billers": selectors.agent_billers(agent),
        "biller_code": request.session.get("agent_biller", ""),
        "recent": selectors.agent_payments(agent, limit=5),
        **extra,
    }


@agent_staff_required
def agent_home(request):
    return render(request, "branches/agent/home.html", _home_context(request))


@agent_staff_required
def agent_lookup(request):
    agent = request.agent_staff.agent
    query = request.GET.get("q", "")[:200]
    biller_code = request.GET.get("biller", "")[:32]
    if biller_code:
        request.session["agent_biller"] = biller_code
    try:
        lookup = selectors.agent_lookup(agent=agent, query=query, biller_code=biller_code)
    except BillingError as error:
        context = _home_context(request, error=error.message, query=query, biller_code=biller_code)
        return render(request, "branches/agent/home.html", context)
    balance = selectors.float_balance(agent)
    return render(
        request,
        "branches/agent/lookup.html",
        {
            "staff": request.agent_staff,
            "agent": agent,
            "balance": balance,
            "low": balance < agent.low_float_threshold,
            "lookup": lookup,
            "form_key": services.new_form_key(),
        },
    )


@require_POST
@agent_staff_required
def agent_pay(request):
    try:
        taken = agents.take_agent_payment(
            staff=request.agent_staff,
            biller_code=request.POST.get("biller", "")[:32],
            account_no=request.POST.get("account_no", "")[:40],
            periods=request.POST.getlist("period")[:24],
            amount=request.POST.get("amount", "")[:20],
            key=request.POST.get("form_key", "")[:64],
        )
    except BillingError as error:
        context = _home_context(request, error=error.message, query=request.POST.get("account_no", "")[:40])
        return render(request, "branches/agent/home.html", context, status=409)
    return redirect("agent:receipt", receipt_no=taken.agent_payment.payment.receipt_no)


@agent_staff_required
def agent_receipt(request, receipt_no):
    agent_payment = selectors.agent_payment_for_user(request.user, receipt_no)
    if agent_payment is None:
        raise Http404
    return render(
        request,
        "branches/agent/receipt.html",
        {
            "ap": agent_payment,
            "agent": agent_payment.agent,
            "payment": agent_payment.payment,
            "allocations": agent_payment.payment.allocations.all(),
        },
    )


@agent_staff_required
def agent_history(request):
    agent = request.agent_staff.agent
    today = timezone.localdate()
    month_start = today.replace(day=1)
    commission = selectors.agent_commission_of(agent, date_from=month_start, date_to=today)
    balance = selectors.float_balance(agent)
    return render(
        request,
        "branches/agent/history.html",
        {
            "staff": request.agent_staff,
            "agent": agent,
            "balance": balance,
            "low": balance < agent.low_float_threshold,
            "payments": selectors.agent_payments(agent, limit=100),
            "topups": selectors.agent_topups(agent),
            "commission": commission,
            "month_start": month_start,
        },
    )
