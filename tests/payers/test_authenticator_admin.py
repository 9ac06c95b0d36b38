"""The admin never shows a second factor's secret (issue 14's walk found the TOTP seed on the change page)."""

import pytest
from allauth.mfa.models import Authenticator
from django.urls import reverse

from billing import roles
from tests.staff_login import totp_of
from tests.support import make_staff

pytestmark = pytest.mark.django_db


def test_the_authenticator_change_page_shows_no_secret(client, django_user_model):
    admin = make_staff(django_user_model, "root2", roles.PLATFORM_ADMIN)
    clerk = make_staff(django_user_model, "clerk9", roles.BRANCH_CLERK)
    authenticator = totp_of(clerk)
    secret = authenticator.data["secret"]
    client.force_login(admin)

    page = client.get(reverse("admin:mfa_authenticator_change", args=[authenticator.pk]))

    assert page.status_code == 200
    assert secret not in page.content.decode()
    assert 'name="data"' not in page.content.decode()
    assert Authenticator.objects.get(pk=authenticator.pk).data["secret"] == secret
