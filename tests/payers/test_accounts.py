import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import override_settings

from payers import sms
from payers.accounts import normalize_mobile
from payers.models import Payer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_sms_outbox")]


@pytest.fixture
def _sms_outbox(settings):
    settings.SMS_BACKEND = "payers.sms.LocmemSMSBackend"
    sms.outbox.clear()


@pytest.fixture
def citizen(django_user_model):
    user = django_user_model.objects.create_user("xm", "xm@example.com", "Portal-pass-2026")
    EmailAddress.objects.create(user=user, email="xm@example.com", verified=True, primary=True)
    return user


def test_mainland_numbers_are_stored_in_e164():
    assert normalize_mobile("138 0013-8000") == "+8613800138000"
    assert normalize_mobile("+85261234567") == "+85261234567"


def test_sign_up_by_email_sends_a_verification_mail_and_waits_for_it(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": "Strong-pass-2026", "password2": "Strong-pass-2026"},
    )
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and "new@example.com" in mail.outbox[0].to
    assert client.get("/me/accounts/").status_code == 302  # not signed in before the address is confirmed
    link = re.search(r"http://testserver(/accounts/confirm-email/[^\s]+)", mail.outbox[0].body).group(1)
    client.post(link)
    assert client.get("/me/accounts/").status_code == 200


def test_sign_in_by_mobile_number_with_a_code_sent_by_sms(client, citizen):
    Payer.objects.create(user=citizen, mobile="+8613800138000", mobile_verified=True)
    response = client.post("/accounts/login/code/", {"phone": "13800138000"})
    assert response.status_code == 302
    assert sms.outbox[-1].to == "+8613800138000"
    code = re.search(r"([A-Z0-9]{4}-[A-Z0-9]{4})", sms.outbox[-1].body).group(1)
    client.post(response.url, {"code": code})
    assert client.get("/me/accounts/").status_code == 200


@override_settings(AXES_FAILURE_LIMIT=3)
def test_repeated_failed_sign_ins_are_rate_limited(client, citizen):
    # Failed logins are counted by django-axes for every login (issue 12), no longer by allauth's limit.
    for _attempt in range(3):
        client.post("/accounts/login/", {"login": "xm@example.com", "password": "wrong-one"})
    response = client.post("/accounts/login/", {"login": "xm@example.com", "password": "Portal-pass-2026"})
    assert response.status_code == 429  # "too many failed sign-ins", even with the right password
    assert "登录失败次数过多" in response.content.decode()
    assert client.get("/me/accounts/").status_code == 302


def test_the_sixth_wrong_password_for_an_account_is_refused_by_default(client, citizen):
    answers = [
        client.post("/accounts/login/", {"login": "xm@example.com", "password": "wrong-one"}).status_code
        for _attempt in range(6)
    ]
    assert answers == [200, 200, 200, 200, 429, 429]  # five tried, then locked


def test_with_totp_switched_on_a_password_alone_does_not_sign_in(client, citizen):
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    TOTP.activate(citizen, generate_totp_secret())
    response = client.post("/accounts/login/", {"login": "xm@example.com", "password": "Portal-pass-2026"})
    assert response.status_code == 302 and "/accounts/2fa/authenticate/" in response.url
    assert client.get("/me/accounts/").status_code == 302
