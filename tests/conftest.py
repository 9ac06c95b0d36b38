import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _empty_cache():
    """Rate-limit counters, cached lookups and cached page fragments must not leak from one test into the
    next."""
    from django.core.cache import caches

    caches["default"].clear()
    caches["local"].clear()


@pytest.fixture(autouse=True)
def _staff_force_login_passes_second_factor(monkeypatch):
    """Staff pages need a second factor (billing.staff_auth, on in every test). A test that logs staff in
    with `client.force_login` skips the login form, so it skips the second step too: give the user TOTP and
    record the verified code in the session as allauth would. Tests of the login itself use the forms."""
    from django.test import Client

    from tests.staff_login import is_staff_user, pass_second_factor

    force_login = Client.force_login

    def force_login_with_second_factor(self, user, backend=None):
        force_login(self, user, backend)
        if is_staff_user(user):
            pass_second_factor(self, user)

    monkeypatch.setattr(Client, "force_login", force_login_with_second_factor)


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("alice", "alice@example.com", "pw-alice-1234")


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Transactional tests truncate every table, migration data included; put it back for each test."""
    if request.node.get_closest_marker("django_db") is None:
        return
    request.getfixturevalue("_django_db_helper")
    from django.apps import apps

    from billing import reference_data

    reference_data.install(apps)


# Browser tests: Playwright drives Debian's chromium (`playwright install` cannot download browsers here).
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-results" / "screenshots"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Playwright's sync API keeps an event loop running in the main thread for the rest of the session,
    # so Django's async-safety check would refuse every later ORM call made from the tests.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def screenshot(page):
    """Save a screenshot of the page as test-results/screenshots/<name>.png, kept with the test output."""

    def take(name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
