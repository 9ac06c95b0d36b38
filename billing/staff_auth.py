"""Guarded logins (issue 12): failed-login lock-outs for every login, and two-step verification for staff.

One mechanism counts failed logins everywhere: django-axes. The admin login (which is also the counter's,
LOGIN_URL), the portal's allauth login, the counter's supervisor-password check and every second-factor
code are counted against one key per account (`login_identifier`), in the database, so a lock-out holds in
every worker and a platform admin can see and lift it (billing/admin_logins.py, `unlock_login`).

Staff in a role named by STAFF_MFA_REQUIRED_ROLES must use TOTP (allauth.mfa, with recovery codes): one who
has none is sent to set it up, one who has it must have passed it in this session (allauth's authentication
records) before any staff page opens (`StaffMFAMiddleware`). Superusers count as platform admins.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
from urllib.parse import urlencode

from allauth.account.authentication import get_authentication_records
from allauth.account.internal.flows.login import record_authentication
from allauth.account.utils import filter_users_by_email
from allauth.core import context
from allauth.core.internal.cryptokit import normalize_user_code
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.base.forms import AuthenticateForm, ReauthenticateForm
from allauth.mfa.models import Authenticator
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off
from django.conf import settings
from django.contrib.auth import get_user_model, user_login_failed
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from billing import access, locks, roles
from billing.audit import record_audit
from config.client_ip import client_ip
from config.middleware import is_signed_api

log = logging.getLogger(__name__)

LOCKED_OUT = "login_locked_out"  # the stable code of a lock-out, in the page and the JSON answer
IDENTIFIER_MAX_LENGTH = 150  # AccessAttempt.username's length is 255; a username's is 150


# --- Which roles must use two-step verification ----------------------------------------------------------


def mfa_required_roles_of(user) -> frozenset[str]:
    """The user's roles (superuser = platform admin) that STAFF_MFA_REQUIRED_ROLES names."""
    return access.roles_of(user) & mfa_required_roles()


def mfa_required_roles() -> frozenset[str]:
    """The roles STAFF_MFA_REQUIRED_ROLES names; every staff role when it is not set."""
    named = settings.STAFF_MFA_REQUIRED_ROLES
    return frozenset(roles.STAFF_ROLES if named is None else named)


def check_mfa_required_roles() -> None:
    """Stop the start on a role name that does not exist (a misspelt role would silently lose its TOTP)."""
    if unknown := sorted(mfa_required_roles() - set(roles.STAFF_ROLES)):
        raise ImproperlyConfigured(
            f"STAFF_MFA_REQUIRED_ROLES names unknown roles {unknown}; "
            f"the roles are {', '.join(roles.STAFF_ROLES)}"
        )


def has_totp(user) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def passed_mfa(request: HttpRequest) -> bool:
    """Did this session's user pass a second factor (TOTP or a recovery code) in this session? allauth
    records each authentication step in the session; a password-only login has no "mfa" record."""
    records = get_authentication_records(request, request.user)
    return any(record.get("method") == "mfa" for record in records)


SETUP = "setup"
VERIFY = "verify"


def mfa_step_needed(request: HttpRequest) -> str | None:
    """None when the user may go on; SETUP when a required role has no TOTP yet; VERIFY when the user has
    TOTP but has not passed it in this session. A session that passed it costs no query."""
    user = request.user
    if not user.is_authenticated or passed_mfa(request):
        return None
    if not mfa_required_roles_of(user):
        return None
    return VERIFY if has_totp(user) else SETUP


# --- Failed-login limits (django-axes callables) ---------------------------------------------------------


def _account_for(credentials: dict):
    """The account a login names, by username, e-mail or mobile number as each login form sends it."""
    User = get_user_model()
    if credentials.get("username"):
        account = User.objects.filter(username=credentials["username"]).first()
        if account is not None or "@" not in credentials["username"]:
            return account
        # The admin login's "username" may be an e-mail address: allauth's backend signs in by e-mail from
        # that field too, so an address must count against its account, not open a second count beside it.
        credentials = {"email": credentials["username"]}
    if credentials.get("email"):
        users = filter_users_by_email(credentials["email"])
        return users[0] if len(users) == 1 else None
    if credentials.get("phone"):
        from allauth.account.adapter import get_adapter

        adapter = get_adapter()  # the portal's adapter reads a mobile number as its sign-up form does
        return adapter.get_user_by_phone(adapter.clean_phone(credentials["phone"]))
    return None


def login_identifier(request: HttpRequest, credentials: dict | None) -> str | None:
    """The key failed logins are counted under (AXES_USERNAME_CALLABLE): the account's username when the
    login names an account (so its e-mail, mobile number and username share one count, and so do its second
    factor codes), otherwise what was typed, trimmed and case-folded (so "Alice" and "alice " are one key)."""
    credentials = dict(credentials or {})
    if not any(credentials.get(field) for field in ("username", "email", "phone")):
        data = getattr(request, "POST", {}) if request is not None else {}
        typed = data.get("username") or data.get("login") or ""
        credentials = {"username": typed} if "@" not in typed else {"email": typed}
    account = _account_for(credentials)
    if account is not None:
        return account.get_username()
    typed = credentials.get("username") or credentials.get("email") or credentials.get("phone") or ""
    typed = str(typed).strip().casefold()[:IDENTIFIER_MAX_LENGTH]
    return typed or None


def axes_client_ip(request: HttpRequest) -> str | None:
    """The client's address as config.client_ip decides it (AXES_CLIENT_IP_CALLABLE); None when it is not
    an address (a request built in code has none), since axes stores addresses in an address column."""
    address = client_ip(request)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return None
    return address


def _is_staff_login(request: HttpRequest) -> bool:
    return not request.path_info.startswith("/accounts/")


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """The refusal of a locked-out login (AXES_LOCKOUT_CALLABLE), in the user's language: when to try again
    and whom to ask. 429 with the stable code `login_locked_out`; JSON for scripts that ask for it."""
    cool_off = get_cool_off(request)
    retry_at = timezone.localtime(timezone.now() + cool_off) if cool_off else None
    context_data = {
        "code": LOCKED_OUT,
        "retry_at": retry_at,
        "minutes": int(cool_off.total_seconds() // 60) if cool_off else None,
        "staff_login": _is_staff_login(request),
    }
    log.warning(
        "login locked out: key=%s path=%s", get_client_username(request, credentials), request.path_info
    )
    if "application/json" in request.headers.get("Accept", ""):
        from django.http import JsonResponse

        message = lockout_message(retry_at, staff_login=context_data["staff_login"])
        return JsonResponse({"code": LOCKED_OUT, "message": message}, status=429)
    return render(request, "staff_auth/lockout.html", context_data, status=429)


def lockout_message(retry_at: datetime.datetime | None, *, staff_login: bool) -> str:
    if staff_login:
        whom = _("or ask a platform administrator to unlock the account.")
    else:
        whom = _("or reset your password if you have forgotten it.")
    if retry_at is None:
        return _(
            "Too many failed sign-ins: this account is locked. Ask a platform administrator to unlock it."
        )
    return _("Too many failed sign-ins: this account is locked. Try again after %(time)s, %(whom)s") % {
        "time": retry_at.strftime("%Y-%m-%d %H:%M"),
        "whom": whom,
    }


def is_locked_out(request: HttpRequest, user) -> bool:
    return AxesProxyHandler.is_locked(request, {"username": user.get_username()})


def record_failed_code(request: HttpRequest, user) -> None:
    """A wrong second-factor code counts as a failed login of its account, as a wrong password does."""
    user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=request)


class _LockableCodeMixin:
    """allauth.mfa's code forms (MFA_FORMS), refusing a locked-out account and counting wrong codes in the
    same lock-out as wrong passwords (in place of allauth's own "login_failed" rate limit)."""

    def clean_code(self) -> str:
        request = context.request
        if is_locked_out(request, self.user):
            cool_off = get_cool_off(request)
            retry_at = timezone.localtime(timezone.now() + cool_off) if cool_off else None
            raise ValidationError(lockout_message(retry_at, staff_login=True), code=LOCKED_OUT)
        try:
            if _code_was_used(self.user, self.cleaned_data.get("code", "")):
                raise get_mfa_adapter().validation_error("incorrect_code")
            code = super().clean_code()
        except ValidationError:
            record_failed_code(request, self.user)
            raise
        _remember_used_code(self.user, code)
        return code


def _used_code_key(user, code: str) -> str:
    return f"billpay.mfa.used-code:{user.pk}:{normalize_user_code(code)}"


def _code_was_used(user, code: str) -> bool:
    return bool(code) and cache.get(_used_code_key(user, code)) is not None


def _remember_used_code(user, code: str) -> None:
    """A code once accepted is refused for as long as it could still be accepted. allauth remembers a used
    TOTP code for one period (30 s) while MFA_TOTP_TOLERANCE keeps it valid for 2 x tolerance + 1 periods:
    a code seen over a shoulder was taken again 30-60 s later."""
    lifetime = mfa_settings.TOTP_PERIOD * (2 * mfa_settings.TOTP_TOLERANCE + 1)
    cache.set(_used_code_key(user, code), "used", timeout=lifetime)


class LockableAuthenticateForm(_LockableCodeMixin, AuthenticateForm):
    pass


class LockableReauthenticateForm(_LockableCodeMixin, ReauthenticateForm):
    pass


# --- Unlocking (a platform admin's action, audited) ------------------------------------------------------


class UnlockRefused(PermissionError):
    code = "login_unlock_forbidden"


@transaction.atomic
def unlock_login(*, key: str, acting_user, reason: str = "") -> int:
    """Lift the lock-out of one login key (an account's username, or what was typed): its failed-login
    records are deleted and the unlock is audited against the account (or the record when the key names no
    account). Only platform admins (superusers included) may do it. Returns the records removed."""
    if not access.is_platform_admin(acting_user):
        raise UnlockRefused(_("Only platform administrators can unlock logins."))
    attempts = locks.lock_login_attempts(key)
    if not attempts:
        return 0
    account = get_user_model().objects.filter(username=key).first()
    record_audit(
        actor=acting_user,
        action="login.unlocked",
        target=account or attempts[0],
        reason=reason,
        key=key,
        failures=sum(attempt.failures_since_start for attempt in attempts),
        addresses=",".join(sorted({attempt.ip_address or "" for attempt in attempts})),
    )
    removed = AxesProxyHandler.reset_attempts(username=key)
    log.info("login unlocked: key=%s by=%s removed=%s", key, acting_user.get_username(), removed)
    return removed


def clear_lockout_on_password_reset(sender, request, user, **kwargs) -> None:
    """A password reset through the e-mailed link proves the account's owner: their lock-out ends with it,
    as allauth ends its own login limit on a reset (the lock-out page tells citizens to reset)."""
    removed = AxesProxyHandler.reset_attempts(username=user.get_username())
    if removed:
        log.info("login lock-out cleared by a password reset: key=%s", user.get_username())


# --- Two-step verification for staff ---------------------------------------------------------------------


def _exempt_paths() -> tuple[str, ...]:
    """What a staff user may open before passing the second factor: the verification and set-up pages
    (allauth's, under /accounts/), logging out, the language switch, static files and the icon."""
    return (
        reverse("staff_mfa_verify"),
        "/accounts/",
        reverse("admin:logout"),
        reverse("admin:login"),
        "/i18n/",
        "/" + settings.STATIC_URL.lstrip("/"),
        reverse("healthz"),
        # A browser fetches the icon by itself: sent to the set-up page, that fetch made a new secret, and
        # the code from the QR the user had just scanned was refused (found walking a fresh demo).
        reverse("favicon"),
    )


def _with_next(url: str, next_url: str) -> str:
    return f"{url}?{urlencode({'next': next_url})}"


class StaffMFAMiddleware:
    """Before any page, a staff user in a required role who has no TOTP is sent to set it up; one who has it
    but has not passed it in this session is sent to enter a code. Citizens and anonymous visitors pass
    without a query; staff pages are /admin/ and /counter/ for anyone holding a role, and every page for
    users marked as staff."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_signed_api(request):  # a key's, never a staff session's (config.middleware)
            return self.get_response(request)
        user = request.user
        if user.is_authenticated and self._applies(request, user) and not self._exempt(request):
            step = mfa_step_needed(request)
            if step == SETUP:
                return HttpResponseRedirect(_with_next(reverse("staff_mfa_setup"), request.get_full_path()))
            if step == VERIFY:
                return HttpResponseRedirect(_with_next(reverse("staff_mfa_verify"), request.get_full_path()))
        return self.get_response(request)

    @staticmethod
    def _applies(request: HttpRequest, user) -> bool:
        return user.is_staff or user.is_superuser or request.path_info.startswith(("/admin/", "/counter/"))

    @staticmethod
    def _exempt(request: HttpRequest) -> bool:
        path = request.path_info
        if path == reverse("staff_mfa_setup"):
            return True
        return path.startswith(_exempt_paths())


def safe_next(request: HttpRequest, default: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def record_staff_password_login(sender, request, user, **kwargs) -> None:
    """An admin (or counter) login is a password login that allauth did not see: record it as allauth records
    a password just typed again (reauthenticated), so that setting TOTP up straight after the login does not
    ask for the password a second time; after allauth's reauthentication timeout it asks again."""
    if request is None or not hasattr(request, "session"):
        return
    if request.path_info != reverse("admin:login"):
        return
    record_authentication(request, user, "password", reauthenticated=True)


def record_totp_activation(sender, request, user, authenticator, **kwargs) -> None:
    """Activating TOTP means typing a code the new authenticator produced: that is this session's second
    factor, recorded as allauth records a verified code."""
    if request is None or authenticator.type != Authenticator.Type.TOTP:
        return
    record_authentication(request, user, "mfa", type=authenticator.type, id=authenticator.pk)
