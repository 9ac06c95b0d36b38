import io
import json
import logging
import os
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction


def pytest_configure(config):
    # Hashing passwords slowly is a defence for real ones; the suite's are throw-away.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- `make test` says how many test functions ran, not only how many cases, and how long it took ------


def pytest_sessionstart(session):
    session.config._billpay_started = time.monotonic()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """'N test functions, M cases': a parametrised function counts once among the functions; a case is
    one test pytest ran (passed, failed, skipped or errored), as in pytest's own summary."""
    cases = [
        report.nodeid
        for outcome in ("passed", "failed", "skipped", "xfailed", "xpassed", "error")
        for report in terminalreporter.stats.get(outcome, [])
        if getattr(report, "nodeid", "") and (report.when == "call" or report.outcome != "passed")
    ]
    functions = {nodeid.split("[", 1)[0] for nodeid in cases}
    started = getattr(config, "_billpay_started", None)
    took = f" in {time.monotonic() - started:.1f} s" if started is not None else ""
    terminalreporter.write_line(f"{len(functions)} test functions, {len(cases)} cases{took}")


@pytest.fixture(autouse=True)
def _empty_cache():
    """Rate-limit counters, cached lookups and kept page fragments must not leak from one test into the
    next."""
    from django.core.cache import caches

    from config.templatetags import per_process

    caches["default"].clear()
    per_process.clear()


@pytest.fixture(autouse=True)
def _rate_windows_hold_still(monkeypatch):
    """config.ratelimit counts fixed windows aligned to the clock. A test whose hits straddle a window's end
    starts counting again and is not refused where it should be: seen on a slow machine, where six signed
    requests took long enough to cross a minute now and then. The limiter's clock (only its clock) is held
    one second into a window of every size the platform uses (30, 60 and 300 s) for the test; Redis still
    counts and expires every key."""
    from types import SimpleNamespace

    from config import ratelimit

    held = time.time() // 300 * 300 + 1
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: held))


@pytest.fixture(autouse=True)
def _results_may_be_awaited():
    """A real worker started in this process (`real_worker`) leaves Celery's process-wide "joining a result
    would block" flag set once its thread's pool has started, which makes every later `EagerResult.get()` of
    the process raise "Never call result.get() within a task!" (seen in CI when a worker test ran before the
    ledger-alert tests in the same pytest-xdist process). No test runs inside a task: clear it."""
    from celery._state import _set_task_join_will_block

    _set_task_join_will_block(False)


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the platform's default language (Chinese): one that switched to English must not
    leave the next test of its process in it (seen when the suite runs in two processes)."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(scope="module")
def module_db(django_db_setup, django_db_blocker):
    """Rows a module builds once and all its tests read, as Django's `setUpTestData` does: its fixture
    asks for this one and builds under `django_db_blocker.unblock()`. Everything runs inside one
    transaction that is rolled back after the module's last test; each test still rolls back its own
    changes (a savepoint inside it)."""
    from django.apps import apps

    from billing import reference_data

    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        reference_data.install(apps)  # a transactional test before this module may have truncated it
    try:
        yield django_db_blocker
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def real_worker():
    """A real Celery worker in a thread, consuming from the Redis broker (tasks are not run eagerly)."""
    import celery.contrib.testing.tasks  # noqa: F401 - registers the ping task start_worker checks
    from celery.contrib.testing.worker import start_worker

    from billing import outbox
    from config.celery import app as celery_app

    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=True, shutdown_timeout=10) as worker:
            yield worker
    finally:
        celery_app.conf.task_always_eager = eager
        outbox.reset_relay_asks()  # an ask owed by this test's commits must not hold back the next test's


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
    uses_db = {"db", "transactional_db", "django_db_reset_sequences"} & set(request.fixturenames)
    if request.node.get_closest_marker("django_db") is None and not uses_db:
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


def save_screenshot(tab, path) -> Path:
    """A full-page screenshot of a tab, kept as a record beside the test output.

    Chromium now and then answers "Unable to capture screenshot" when asked just after a viewport
    change, before the compositor has drawn a frame at the new size (CI, 2026-12-06). The picture is a
    record, not the test's assertion, so after two animation frames it is asked for once more."""
    from playwright.sync_api import Error

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        tab.screenshot(path=str(path), full_page=True)
    except Error as error:
        if "Unable to capture screenshot" not in str(error):
            raise
        tab.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        tab.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def screenshot(page):
    """Save a screenshot of the page as test-results/screenshots/<name>.png, kept with the test output."""

    def take(name: str) -> Path:
        return save_screenshot(page, SCREENSHOTS / f"{name}.png")

    return take


# --- Structured logs (issue 15, config/logs.py) ---


@pytest.fixture
def log_lines():
    """The JSON lines production writes (config/logs.py), of everything logged during the test, any thread:
    call it to read them parsed."""
    from config.logs import logging_settings

    spec = dict(logging_settings(json=True, level="INFO")["formatters"]["structured"])
    formatter = spec.pop("()")(**spec)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
