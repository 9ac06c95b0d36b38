"""Staff logins in tests: TOTP for a user, a current code from its stored secret, and the second factor
recorded in a test client's session the way allauth records it after a verified code."""

import time

from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.adapter import get_adapter
from allauth.mfa.base.internal.flows import post_authentication
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.http import HttpRequest

from billing import roles


def is_staff_user(user) -> bool:
    """Staff as the second-factor middleware sees them; asked of the database, not of access.roles_of,
    whose per-object cache would otherwise outlive a test's later change of the user's groups."""
    return bool(user.is_staff or user.is_superuser or user.groups.filter(name__in=roles.STAFF_ROLES).exists())


def totp_of(user) -> Authenticator:
    """The user's TOTP authenticator, activated (as allauth's set-up page does) if the user has none."""
    authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    return authenticator or TOTP.activate(user, generate_totp_secret()).instance


def totp_code(authenticator: Authenticator, *, offset: int = 0) -> str:
    """The code an authenticator app shows now (offset: periods later), from the stored secret."""
    return code_of_secret(get_adapter().decrypt(authenticator.data["secret"]), offset=offset)


def code_of_secret(secret: str, *, offset: int = 0) -> str:
    """The code an authenticator app that scanned this secret shows now (offset: periods later)."""
    counter = int(time.time()) // mfa_settings.TOTP_PERIOD + offset
    return format_hotp_value(hotp_value(secret, counter))


def pass_second_factor(client, user) -> None:
    """Record in the client's session that the user passed TOTP, as allauth.mfa does after a verified code
    (post_authentication: usage stamped, an "mfa" authentication record in the session)."""
    session = client.session
    request = HttpRequest()
    request.session = session
    request.user = user
    post_authentication(request, totp_of(user))
    session.save()


def sign_in_in_browser(page, base_url: str, user, password: str, next_path: str = "/admin/") -> None:
    """Sign a staff user in through the real admin login form in a Playwright page, then the two-step
    verification page with a current code from the user's TOTP (every staff role requires it by default)."""
    authenticator = totp_of(user)
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", password)
    page.keyboard.press("Enter")
    page.wait_for_url("**/staff/2fa/verify/**")
    page.fill("#id_code", totp_code(authenticator))
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{next_path}")
