"""Celery as production runs it: named queues with routing and time limits, a Redis visibility timeout
above every countdown the code can ask for, tasks that exhausted their retries recorded for staff, and one
beat only."""

import ast
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from celery import shared_task
from django.conf import settings

from billing.models import AuditEvent, FailedTask
from config import retries
from config.beat import LOCK_KEY, BeatAlreadyRunning, GuardedScheduler
from config.celery import app as celery_app

ROOT = Path(settings.BASE_DIR)
APPS = ("api", "billing", "branches", "config", "demo", "disputes", "payers", "reconciliation")


def project_tasks() -> set[str]:
    celery_app.loader.import_default_modules()
    return {name for name in celery_app.tasks if name.split(".")[0] in APPS}


def test_every_queue_named_in_the_settings_is_a_real_task_and_routed_there():
    names = project_tasks()
    for queue, tasks in settings.CELERY_QUEUE_TASKS.items():
        for name in tasks:
            assert name in names, f"{name} (queue {queue}) is not a task"
            assert celery_app.amqp.router.route({}, name)["queue"].name == queue


def test_a_task_not_named_goes_to_default_and_calls_to_outside_parties_go_to_io():
    assert celery_app.amqp.router.route({}, "billing.tasks.relay_outbox")["queue"].name == "default"
    assert {q.name for q in celery_app.conf.task_queues} == {"io", "batch", "default"}
    outside = {"api.tasks.deliver_webhook", "payers.tasks.refund_order_line", "payers.tasks.send_reminders"}
    assert outside <= set(settings.CELERY_QUEUE_TASKS["io"])


def test_each_task_carries_its_queues_soft_and_hard_time_limits():
    for name in project_tasks():
        queue = celery_app.amqp.router.route({}, name)["queue"].name
        soft, hard = settings.CELERY_QUEUE_TIME_LIMITS[queue]
        task = celery_app.tasks[name]
        assert (task.soft_time_limit or celery_app.conf.task_soft_time_limit) == soft, name
        assert (task.time_limit or celery_app.conf.task_time_limit) == hard, name
        assert soft < hard


def test_the_worker_units_consume_each_queue_with_its_limits():
    for queue, (soft, hard) in settings.CELERY_QUEUE_TIME_LIMITS.items():
        text = (ROOT / "deploy" / "systemd" / f"billpay-worker-{queue}.service").read_text()
        assert f"--queues {queue} " in text
        assert f"--soft-time-limit {soft} --time-limit {hard}" in text


def _countdowns():
    """Every `countdown=` / `eta=` keyword in the project's code: (where, source of its value, function)."""
    for path in sorted(p for app in APPS for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Call):
                    for keyword in node.keywords:
                        if keyword.arg in ("countdown", "eta"):
                            yield f"{path.relative_to(ROOT)}:{node.lineno}", keyword, function


def _policy_of(expression: ast.expr) -> retries.RetryPolicy | None:
    """`retries.NAME.delay(...)` names a policy."""
    if (
        isinstance(expression, ast.Call)
        and isinstance(expression.func, ast.Attribute)
        and expression.func.attr == "delay"
        and isinstance(expression.func.value, ast.Attribute)
        and isinstance(expression.func.value.value, ast.Name)
        and expression.func.value.value.id == "retries"
    ):
        return getattr(retries, expression.func.value.attr)
    return None


def test_the_visibility_timeout_is_above_every_countdown_in_the_code():
    """Scan the code: each countdown is a literal or a retry policy's delay (directly, or through a name
    assigned from one in the same function), and the longest is below Redis's visibility timeout."""
    visibility = celery_app.conf.broker_transport_options["visibility_timeout"]
    longest = {}
    found = 0
    for where, keyword, function in _countdowns():
        found += 1
        assert keyword.arg == "countdown", f"{where}: use countdown= from config.retries, not eta="
        value = keyword.value
        if isinstance(value, ast.Constant):
            longest[where] = value.value
            continue
        policy = _policy_of(value)
        if policy is None and isinstance(value, ast.Name):
            assigned = [
                node.value
                for node in ast.walk(function)
                if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == value.id for t in node.targets)
                and _policy_of(node.value)
            ]
            policy = _policy_of(assigned[0]) if assigned else None
        assert policy is not None, f"{where}: countdown={ast.unparse(value)} is not a retries policy"
        longest[where] = policy.cap_seconds
    assert found >= 3  # webhooks, refunds, the sandbox bank's notifications
    assert max(longest.values()) < visibility, longest
    assert visibility > retries.LONGEST_DELAY_SECONDS
    assert max(hard for _soft, hard in settings.CELERY_QUEUE_TIME_LIMITS.values()) < visibility


def test_every_backoff_is_exponential_with_jitter_and_capped():
    for policy in retries.POLICIES:
        delays = [policy.delay(1) for _ in range(200)]
        assert len(set(delays)) > 1 or policy.base_seconds < 4  # jitter
        assert all(policy.base_seconds / 2 - 1 <= d <= policy.base_seconds + 1 for d in delays)
        assert max(policy.delay(n) for n in range(1, 30)) <= policy.cap_seconds
        assert policy.delay(4) > policy.base_seconds  # it grows


# --- tasks that exhausted their retries ---


@shared_task(name="tests.always_fails", bind=True, max_retries=1)
def always_fails(self, reading: int) -> None:
    if self.request.retries < self.max_retries:
        raise self.retry(countdown=0)
    raise ValueError(f"meter {reading} unreadable")


@pytest.mark.django_db(transaction=True)
def test_a_task_that_exhausts_its_retries_is_recorded_and_staff_send_it_again(
    real_worker, client, admin_user
):
    always_fails.delay(42)
    deadline = time.monotonic() + 30
    while not FailedTask.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    failed = FailedTask.objects.get()
    assert (failed.task_name, failed.args, failed.attempts) == ("tests.always_fails", [42], 2)
    assert failed.error == "ValueError: meter 42 unreadable"

    client.force_login(admin_user)
    assert client.get("/admin/billing/failedtask/").status_code == 200
    response = client.post("/admin/billing/failedtask/", {"action": "retry", "_selected_action": [failed.pk]})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="failed_task.retried", actor=admin_user).count() == 1
    while FailedTask.objects.get().attempts < 4 and time.monotonic() < deadline + 30:
        time.sleep(0.1)
    failed.refresh_from_db()
    assert failed.attempts == 4 and failed.retry_count == 1  # the same row: failed again, twice
    assert failed.last_failed_at > failed.first_failed_at


# --- one beat ---


@pytest.fixture
def beat_lock():
    client = redis.Redis.from_url(settings.BEAT_LOCK_URL)
    client.delete(LOCK_KEY)
    yield client
    client.delete(LOCK_KEY)


def test_a_second_beat_refuses_to_start_while_the_first_holds_the_lock(beat_lock, tmp_path, caplog):
    first = GuardedScheduler(app=celery_app, schedule_filename=str(tmp_path / "one"), lazy=False)
    assert beat_lock.ttl(LOCK_KEY) > 0
    with caplog.at_level(logging.CRITICAL, logger="config.beat"), pytest.raises(BeatAlreadyRunning):
        GuardedScheduler(app=celery_app, schedule_filename=str(tmp_path / "two"), lazy=False)
    assert "another celery beat is running" in caplog.text and "refuses to start" in caplog.text

    beat_lock.expire(LOCK_KEY, 5)
    first.tick()  # each tick refreshes the lock's TTL
    assert beat_lock.ttl(LOCK_KEY) > 5
    first.close()  # a beat that stops lets the next one start at once
    assert not beat_lock.exists(LOCK_KEY)
    GuardedScheduler(app=celery_app, schedule_filename=str(tmp_path / "three"), lazy=False).close()


def test_a_beat_that_lost_its_lock_stops(beat_lock, tmp_path):
    beat = GuardedScheduler(app=celery_app, schedule_filename=str(tmp_path / "one"), lazy=False)
    beat_lock.set(LOCK_KEY, "another-host:1:beat")  # it expired while this beat hung, and was taken
    with pytest.raises(BeatAlreadyRunning):
        beat.tick()
    beat.close()
    assert beat_lock.get(LOCK_KEY) == b"another-host:1:beat"


def test_a_beat_whose_lock_expired_while_it_could_not_tick_takes_it_again(beat_lock, tmp_path, caplog):
    # Found by the cluster run: Redis away for 10 s kept beat in the broker's reconnect backoff past the TTL.
    beat = GuardedScheduler(app=celery_app, schedule_filename=str(tmp_path / "one"), lazy=False)
    token = beat_lock.get(LOCK_KEY)
    beat_lock.delete(LOCK_KEY)  # expired; nobody took it
    with caplog.at_level(logging.WARNING, logger="config.beat"):
        beat.tick()
    assert beat_lock.get(LOCK_KEY) == token
    assert beat_lock.ttl(LOCK_KEY) > 0
    assert "had expired; taken again" in caplog.text
    beat.close()


def test_a_second_celery_beat_process_exits_with_a_clear_line(beat_lock, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "celery", "--app", "config", "beat", "--loglevel", "INFO"]
    first = subprocess.Popen(
        [*command, "--schedule", str(tmp_path / "one")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not beat_lock.exists(LOCK_KEY) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert beat_lock.exists(LOCK_KEY), "the first beat never took the lock"
        second = subprocess.run(
            [*command, "--schedule", str(tmp_path / "two")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert second.returncode != 0
        assert "another celery beat is running" in second.stdout + second.stderr
        assert first.poll() is None  # the first goes on
    finally:
        first.terminate()
        first.wait(30)
