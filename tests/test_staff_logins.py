"""Staff logins (issue 12): failed-login lock-outs on the admin and counter logins (django-axes, the one
mechanism for every login), lock-out messages in Chinese and English, an audited unlock for platform admins
only, and TOTP two-step verification for the roles STAFF_MFA_REQUIRED_ROLES names, with recovery codes.

Every login here goes through the real forms over the test client; no session is forged."""

import os
import re
import subprocess
import sys
import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.test import Client

from billing import roles, staff_auth
from billing.models import AuditEvent
from tests.staff_login import totp_code, totp_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """45 logins a test: hash the test passwords cheaply (the lock-out does not depend on the hasher)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


PASSWORD = "pw-staff-logins-2026"
LOGIN = "/admin/login/"
ATTEMPTS = 45  # what the security review typed in a row
ZH_LOCKED = "登录失败次数过多，此账号已被锁定。"
EN_LOCKED = "Too many failed sign-ins: this account is locked."


def make_staff(django_user_model, username, role, *, superuser=False):
    user = django_user_model.objects.create_user(
        username, f"{username}@example.com", PASSWORD, is_staff=True, is_superuser=superuser
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture(params=roles.STAFF_ROLES)
def staff(request, django_user_model):
    return make_staff(django_user_model, "sunny", request.param)


@pytest.fixture
def platform_admin(django_user_model):
    return make_staff(django_user_model, "grace", roles.PLATFORM_ADMIN)


def admin_login(client, username, password, next_url="/admin/"):
    return client.post(LOGIN, {"username": username, "password": password, "next": next_url})


def reaches(client, path="/admin/") -> bool:
    return client.get(path).status_code == 200


def lock_out(client, username, next_url="/admin/", attempts=None):
    """Wrong passwords in a row (by default just enough to lock); the answers' status codes."""
    attempts = attempts or settings.AXES_FAILURE_LIMIT
    return [admin_login(client, username, "wrong-guess", next_url).status_code for _ in range(attempts)]


class TestFailedLoginLimits:
    def test_wrong_passwords_on_the_admin_login_are_refused_from_the_limit_on_for_every_role(
        self, client, staff
    ):
        limit = settings.AXES_FAILURE_LIMIT
        statuses = lock_out(client, staff.username, attempts=ATTEMPTS)
        assert statuses[: limit - 1] == [200] * (limit - 1)  # the form again, "wrong password"
        assert statuses[limit - 1 :] == [429] * (ATTEMPTS - limit + 1)  # refused from the 5th of 45 on
        response = admin_login(client, staff.username, PASSWORD)
        assert response.status_code == 429  # even the right password, while locked
        assert "_auth_user_id" not in client.session
        attempt = AccessAttempt.objects.get(username=staff.username)
        assert attempt.failures_since_start >= limit
        assert PASSWORD not in attempt.post_data and "wrong-guess" not in attempt.post_data

    def test_the_counters_login_is_the_admin_login_and_locks_the_same_way(self, client, staff):
        response = client.get("/counter/")
        assert response.status_code == 302 and response["Location"].startswith(LOGIN)
        statuses = lock_out(client, staff.username, next_url="/counter/", attempts=ATTEMPTS)
        assert statuses.index(429) == settings.AXES_FAILURE_LIMIT - 1
        assert set(statuses[settings.AXES_FAILURE_LIMIT - 1 :]) == {429}
        assert admin_login(client, staff.username, PASSWORD, "/counter/").status_code == 429

    def test_the_lock_out_says_when_to_retry_and_whom_to_ask_in_chinese_by_default(self, client, staff):
        lock_out(client, staff.username)
        page = admin_login(client, staff.username, PASSWORD).content.decode()
        assert ZH_LOCKED in page and "请在" in page and "分钟后" in page
        assert "请联系平台管理员为您解锁" in page
        assert staff_auth.LOCKED_OUT in page

    def test_the_lock_out_speaks_english_when_english_is_chosen(self, client, staff):
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        lock_out(client, staff.username)
        page = admin_login(client, staff.username, PASSWORD).content.decode()
        assert EN_LOCKED in page and "Try again after" in page
        assert "ask a platform administrator to unlock your account" in page

    def test_a_script_asking_for_json_gets_the_stable_code(self, client, staff):
        lock_out(client, staff.username)
        response = client.post(
            LOGIN, {"username": staff.username, "password": PASSWORD}, HTTP_ACCEPT="application/json"
        )
        assert response.status_code == 429
        assert response.json()["code"] == "login_locked_out"

    def test_the_count_is_per_account_whatever_the_case_or_the_address(self, client, platform_admin):
        for number in range(settings.AXES_FAILURE_LIMIT):
            client.post(
                LOGIN,
                {"username": " GRACE " if number % 2 else "grace", "password": "nope"},
                REMOTE_ADDR=f"203.0.113.{number + 1}",
            )
        assert admin_login(client, "grace", PASSWORD).status_code == 429

    def test_the_admin_login_by_e_mail_counts_against_the_same_account(self, client, platform_admin):
        # allauth's backend signs staff in by e-mail from the admin's username field: a lock-out by username
        # must hold for the address too, and guesses by either must add up to one count.
        assert admin_login(Client(), "Grace@Example.com", PASSWORD).status_code == 302  # the way in exists
        lock_out(client, "grace")
        assert admin_login(client, "grace@example.com", PASSWORD).status_code == 429
        assert admin_login(client, "GRACE@EXAMPLE.COM", PASSWORD).status_code == 429
        assert "_auth_user_id" not in client.session
        AccessAttempt.objects.all().delete()
        for number in range(settings.AXES_FAILURE_LIMIT):
            admin_login(client, "grace@example.com" if number % 2 else "grace", "nope")
        assert admin_login(client, "grace", PASSWORD).status_code == 429
        assert list(AccessAttempt.objects.values_list("username", flat=True).distinct()) == ["grace"]

    def test_a_right_password_before_the_limit_clears_the_count(self, client, platform_admin):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            admin_login(client, "grace", "nope")
        assert admin_login(client, "grace", PASSWORD).status_code == 302
        assert not AccessAttempt.objects.filter(username="grace").exists()

    def test_the_portal_login_uses_the_same_lock_out(self, client, django_user_model):
        from allauth.account.models import EmailAddress

        citizen = django_user_model.objects.create_user("xm", "xm@example.com", "Portal-pass-2026")
        EmailAddress.objects.create(user=citizen, email="xm@example.com", verified=True, primary=True)
        statuses = [
            client.post("/accounts/login/", {"login": login, "password": "wrong"}).status_code
            for login in [
                "xm@example.com",
                "XM@example.com",
                "xm@EXAMPLE.com",
                "xm@example.com",
                "Xm@example.com",
            ]
        ]
        assert statuses == [200, 200, 200, 200, 429]  # five wrong, whatever the case: locked
        response = client.post(
            "/accounts/login/", {"login": "xm@example.com", "password": "Portal-pass-2026"}
        )
        assert response.status_code == 429
        assert "重置密码" in response.content.decode()
        assert AccessAttempt.objects.get().username == "xm"  # the account's one key


def test_a_citizen_locked_out_of_the_portal_gets_back_in_by_resetting_the_password(client, django_user_model):
    from allauth.account.models import EmailAddress
    from django.core import mail

    citizen = django_user_model.objects.create_user("xm", "xm@example.com", "Portal-pass-2026")
    EmailAddress.objects.create(user=citizen, email="xm@example.com", verified=True, primary=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"login": "xm@example.com", "password": "wrong"})
    client.post("/accounts/password/reset/", {"email": "xm@example.com"})
    link = re.search(r"http://testserver(/accounts/password/reset/key/[^\s]+)", mail.outbox[-1].body).group(1)
    form_url = client.get(link)["Location"]
    new = "Fresh-pass-2027"
    assert client.post(form_url, {"password1": new, "password2": new}).status_code == 302
    response = client.post("/accounts/login/", {"login": "xm@example.com", "password": new})
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="xm").exists()


class TestUnlocking:
    def _unlock(self, client, username):
        ids = list(AccessAttempt.objects.filter(username=username).values_list("pk", flat=True))
        return client.post(
            "/admin/axes/accessattempt/",
            {"action": "unlock", "_selected_action": ids, "index": 0},
        )

    @pytest.mark.parametrize("superuser", [False, True], ids=["platform_admin_role", "superuser"])
    def test_a_platform_admin_unlocks_a_locked_account_and_the_unlock_is_audited(
        self, client, django_user_model, staff, superuser
    ):
        lock_out(client, staff.username)
        unlocker = make_staff(
            django_user_model, "root", None if superuser else roles.PLATFORM_ADMIN, superuser=superuser
        )
        admin_client = Client()
        admin_client.force_login(unlocker)
        response = self._unlock(admin_client, staff.username)
        assert response.status_code == 302
        assert not AccessAttempt.objects.filter(username=staff.username).exists()
        event = AuditEvent.objects.get(action="login.unlocked")
        assert event.actor == unlocker and event.target_id == str(staff.pk)
        assert (
            event.data["key"] == staff.username and int(event.data["failures"]) >= settings.AXES_FAILURE_LIMIT
        )
        assert admin_login(client, staff.username, PASSWORD).status_code == 302  # in again (then 2FA)

    @pytest.mark.parametrize("role", [role for role in roles.STAFF_ROLES if role != roles.PLATFORM_ADMIN])
    def test_no_other_role_can_unlock(self, client, django_user_model, platform_admin, role):
        lock_out(client, "grace")
        other = make_staff(django_user_model, "olly", role)
        other_client = Client()
        other_client.force_login(other)
        response = self._unlock(other_client, "grace")
        assert response.status_code in (200, 302, 403)
        assert AccessAttempt.objects.filter(username="grace").exists()
        assert not AuditEvent.objects.filter(action="login.unlocked").exists()
        with pytest.raises(staff_auth.UnlockRefused):
            staff_auth.unlock_login(key="grace", acting_user=other)
        assert admin_login(client, "grace", PASSWORD).status_code == 429

    def test_auditors_see_the_lock_outs_but_get_no_unlock_action(
        self, client, django_user_model, platform_admin
    ):
        lock_out(client, "grace")
        auditor = make_staff(django_user_model, "audrey", roles.AUDITOR)
        client.force_login(auditor)
        page = client.get("/admin/axes/accessattempt/").content.decode()
        assert "grace" in page and 'value="unlock"' not in page


class TestTwoStepVerification:
    def test_a_required_role_without_totp_is_sent_to_set_it_up_before_any_staff_page(self, client, staff):
        response = admin_login(client, staff.username, PASSWORD)
        assert response.status_code == 302
        for path in ("/admin/", "/counter/", "/admin/billing/payment/"):
            response = client.get(path)
            assert response.status_code == 302 and response["Location"].startswith("/staff/2fa/setup/"), path

    def test_setting_up_totp_shows_recovery_codes_and_opens_the_admin(self, client, staff):
        admin_login(client, staff.username, PASSWORD)
        page = client.get("/staff/2fa/setup/?next=/admin/").content.decode()
        secret = re.search(r"<code>([A-Z2-7]+)</code>", page).group(1)
        code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))  # what the phone app shows
        response = client.post("/staff/2fa/setup/", {"code": code, "next": "/admin/"})
        assert response.status_code == 200
        codes = re.findall(r"<li><code>([^<]+)</code></li>", response.content.decode())
        assert len(codes) >= 8
        assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.TOTP).exists()
        assert reaches(client, "/admin/")

    def test_with_totp_a_password_alone_does_not_reach_the_admin_and_a_real_code_does(self, client, staff):
        totp = totp_of(staff)
        admin_login(client, staff.username, PASSWORD)
        response = client.get("/admin/")
        assert response.status_code == 302 and response["Location"].startswith("/staff/2fa/verify/")
        assert client.get("/counter/")["Location"].startswith("/staff/2fa/verify/")
        response = client.post("/staff/2fa/verify/", {"code": "000000", "next": "/admin/"})
        assert response.status_code == 200 and not reaches(client)
        response = client.post("/staff/2fa/verify/", {"code": totp_code(totp), "next": "/admin/"})
        assert response.status_code == 302 and response["Location"] == "/admin/"
        assert reaches(client, "/admin/")

    def test_a_recovery_code_works_once(self, client, staff):
        totp_of(staff)
        code = RecoveryCodes.activate(staff).get_unused_codes()[0]
        admin_login(client, staff.username, PASSWORD)
        assert client.post("/staff/2fa/verify/", {"code": code}).status_code == 302
        assert reaches(client)
        client.post("/admin/logout/")
        admin_login(client, staff.username, PASSWORD)
        response = client.post("/staff/2fa/verify/", {"code": code})
        assert response.status_code == 200 and "errorlist" in response.content.decode()
        assert not reaches(client)

    def test_a_used_code_is_refused_for_as_long_as_it_is_still_valid(self, client, staff):
        # MFA_TOTP_TOLERANCE=1 keeps a code valid for up to 90 s; allauth remembers a used one for 30 s.
        totp = totp_of(staff)
        code = totp_code(totp)
        admin_login(client, staff.username, PASSWORD)
        assert client.post("/staff/2fa/verify/", {"code": code}).status_code == 302
        cache.delete(TOTP(totp)._get_used_cache_key(code))  # what its 30-second expiry does
        elsewhere = Client()
        admin_login(elsewhere, staff.username, PASSWORD)
        response = elsewhere.post("/staff/2fa/verify/", {"code": code})
        assert response.status_code == 200 and "errorlist" in response.content.decode()
        assert not reaches(elsewhere)
        assert AccessAttempt.objects.get(username=staff.username).failures_since_start == 1

    def test_wrong_codes_count_towards_the_same_lock_out(self, client, staff):
        totp = totp_of(staff)
        admin_login(client, staff.username, PASSWORD)
        for _ in range(settings.AXES_FAILURE_LIMIT):
            client.post("/staff/2fa/verify/", {"code": "000000"})
        response = client.post("/staff/2fa/verify/", {"code": totp_code(totp)})
        assert response.status_code == 429 and ZH_LOCKED in response.content.decode()
        assert not reaches(client)

    def test_a_role_left_out_of_the_setting_gets_in_with_a_password(self, client, staff, settings):
        held = {group.name for group in staff.groups.all()}
        settings.STAFF_MFA_REQUIRED_ROLES = [role for role in roles.STAFF_ROLES if role not in held]
        admin_login(client, staff.username, PASSWORD)
        assert reaches(client, "/admin/")

    def test_a_superuser_counts_as_a_platform_admin(self, client, django_user_model, settings):
        make_staff(django_user_model, "root", None, superuser=True)
        settings.STAFF_MFA_REQUIRED_ROLES = [roles.PLATFORM_ADMIN]
        admin_login(client, "root", PASSWORD)
        assert client.get("/admin/")["Location"].startswith("/staff/2fa/setup/")

    @pytest.mark.parametrize(("language", "name"), [("zh-hans", "网点柜员"), ("en", "Outlet clerk")])
    def test_the_set_up_page_names_the_role_in_the_users_language_not_its_code(
        self, client, django_user_model, language, name
    ):
        make_staff(django_user_model, "clerk14", roles.BRANCH_CLERK)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        admin_login(client, "clerk14", PASSWORD)
        page = client.get("/staff/2fa/setup/").content.decode()
        assert name in page
        assert "branch_clerk" not in page

    def test_the_verification_page_never_sends_anyone_off_site(self, client, staff):
        totp = totp_of(staff)
        admin_login(client, staff.username, PASSWORD)
        response = client.post(
            "/staff/2fa/verify/", {"code": totp_code(totp), "next": "https://evil.example/"}
        )
        assert response.status_code == 302 and response["Location"] == "/admin/"

    def test_citizens_are_not_asked_for_a_second_factor(self, client, django_user_model):
        citizen = django_user_model.objects.create_user("xm", "xm@example.com", "Portal-pass-2026")
        client.force_login(citizen)
        assert client.get("/me/accounts/").status_code == 200


def test_a_misspelt_role_in_the_setting_stops_the_start():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "STAFF_MFA_REQUIRED_ROLES": "platform_admin,branch_clerks",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "STAFF_MFA_REQUIRED_ROLES names unknown roles ['branch_clerks']" in result.stderr


def test_the_browser_fetching_the_icon_keeps_the_secret_being_set_up(client, django_user_model):
    """Walking a fresh demo in chromium: the page's automatic /favicon.ico fetch was sent to the set-up page,
    which made a new secret, so the code from the QR just scanned was refused."""
    from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
    from django.test.client import ClientMixin

    from tests.support import make_staff

    clerk = make_staff(django_user_model, "newclerk", roles.BRANCH_CLERK)
    ClientMixin.force_login(client, clerk)  # signed in by password, no second factor yet
    assert client.get("/admin/")["Location"].startswith("/staff/2fa/setup/")
    assert client.get("/staff/2fa/setup/?next=/admin/").status_code == 200
    secret = client.session[SECRET_SESSION_KEY]

    icon = client.get("/favicon.ico")

    assert "/staff/2fa/" not in icon.get("Location", "")
    assert client.session[SECRET_SESSION_KEY] == secret


def test_showing_the_set_up_page_again_keeps_the_secret_being_set_up(client, django_user_model):
    """A reload or a second tab of the set-up page shows the same secret, and the code from the QR scanned on
    the first showing is accepted."""
    from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
    from django.test.client import ClientMixin

    from tests.staff_login import code_of_secret
    from tests.support import make_staff

    clerk = make_staff(django_user_model, "reloader", roles.BRANCH_CLERK)
    ClientMixin.force_login(client, clerk)
    first = client.get("/staff/2fa/setup/?next=/admin/")
    secret = client.session[SECRET_SESSION_KEY]
    again = client.get("/staff/2fa/setup/?next=/admin/")

    assert client.session[SECRET_SESSION_KEY] == secret
    assert secret in first.content.decode() and secret in again.content.decode()
    done = client.post("/staff/2fa/setup/", {"code": code_of_secret(secret), "next": "/admin/"})
    assert done.status_code == 200 and clerk.authenticator_set.filter(type="totp").exists()
