"""Staff two-step verification pages: set up TOTP (with recovery codes) and enter a code. Thin: allauth.mfa's
forms and flows do the work, billing.staff_auth decides who must."""

import base64

from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.forms import ActivateTOTPForm
from allauth.mfa.totp.internal import flows as totp_flows
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse

from billing import access, roles, staff_auth


def _page(request, template, **context):
    return render(request, template, {**admin.site.each_context(request), **context})


@login_required
def staff_mfa_setup(request):
    """A staff user whose role requires two-step verification adds an authenticator app here, then sees
    their recovery codes once."""
    next_url = staff_auth.safe_next(request, reverse("admin:index"))
    if staff_auth.has_totp(request.user):
        return redirect(next_url)
    pending = request.session.get(SECRET_SESSION_KEY)
    form = ActivateTOTPForm(request.POST or None, user=request.user)
    if pending and not form.is_bound:
        # allauth makes a new secret each time the form is shown; a reload, a second tab or any stray request
        # sent here would then refuse the code from the QR already scanned. The pending one is kept until the
        # set-up succeeds (allauth then clears it).
        request.session[SECRET_SESSION_KEY] = form.secret = pending
    if request.method == "POST" and form.is_valid():
        totp, recovery = totp_flows.activate_totp(request, form)
        staff_auth.record_totp_activation(None, request, request.user, totp)
        codes = RecoveryCodes(recovery).get_unused_codes() if recovery else []
        return _page(request, "staff_auth/mfa_setup_done.html", codes=codes, next=next_url)
    adapter = get_mfa_adapter()
    totp_url = adapter.build_totp_url(request.user, form.secret)
    svg = adapter.build_totp_svg(totp_url)
    return _page(
        request,
        "staff_auth/mfa_setup.html",
        form=form,
        next=next_url,
        secret=form.secret,
        totp_svg_data_uri="data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode(),
        roles=[roles.role_name(role) for role in sorted(staff_auth.mfa_required_roles_of(request.user))],
        role=access.role_of(request.user),
    )


@login_required
def staff_mfa_verify(request):
    """The second step of a staff login: a code from the authenticator app, or one recovery code."""
    next_url = staff_auth.safe_next(request, reverse("admin:index"))
    if staff_auth.passed_mfa(request):
        return redirect(next_url)
    if not staff_auth.has_totp(request.user):
        return redirect(f"{reverse('staff_mfa_setup')}?next={next_url}")
    form = staff_auth.LockableAuthenticateForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        return redirect(next_url)
    locked = any(error.code == staff_auth.LOCKED_OUT for error in form.errors.as_data().get("code", []))
    response = _page(request, "staff_auth/mfa_verify.html", form=form, next=next_url)
    response.status_code = 429 if locked else 200
    return response
