"""Safe by default: with DEBUG off the platform refuses to start while a setting is only fit for the demo.

Each case runs `manage.py check` (or gunicorn, celery, migrate) in a fresh process with the documented
production environment (deploy/billpay.env.example, throw-away secrets in files) changed in one way.
"""

import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.check_deploy_env import ENV_FILE, ROOT, production_environment, read_env_file, run_manage
from tests.support import database_url

SETTINGS = ROOT / "config" / "settings.py"
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def env(tmp_path):
    """The documented production environment, its secrets generated into tmp_path."""
    environment = production_environment(tmp_path)
    environment["DATABASE_URL"] = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/billpay")
    return environment


def secret_file(env, name, value):
    path = Path(env["SECRET_KEY_FILE"]).parent / f"{name.lower()}-override"
    path.write_text(value + "\n", encoding="utf-8")
    env[f"{name}_FILE"] = str(path)


def check(env, *args):
    result = run_manage(["check", *args], env)
    return result.returncode, result.stdout + result.stderr


def assert_refused(env, code, *words):
    returncode, output = check(env)
    assert returncode != 0, output
    lines = [line for line in output.splitlines() if f"({code})" in line]
    assert lines, output
    for word in words:
        assert any(word in line for line in lines), output


class TestTheDocumentedEnvironment:
    def test_it_passes_every_check(self, env):
        returncode, output = check(env)
        assert returncode == 0, output
        assert "no issues" in output

    def test_it_passes_check_deploy_with_no_warning(self, env):
        returncode, output = check(env, "--deploy", "--fail-level", "WARNING")
        assert returncode == 0, output
        assert "System check identified no issues (" in output
        assert "WARNINGS" not in output

    def test_lists_every_setting_the_platform_reads(self):
        read = set(re.findall(r'env_(?:str|bool|int|list)\("([A-Z0-9_]+)"', SETTINGS.read_text()))
        documented = set(re.findall(r"^#? ?([A-Z0-9_]+?)(?:_FILE)?=", ENV_FILE.read_text(), re.MULTILINE))
        assert read - documented == set()

    def test_holds_no_secret(self):
        values = read_env_file()
        for name in (
            "SECRET_KEY",
            "API_CREDENTIAL_KEY",
            "SANDBOX_BANK_KEY",
            "ALIPAY_APP_PRIVATE_KEY",
            "ALIPAY_PUBLIC_KEY",
            "EMAIL_HOST_PASSWORD",
        ):
            assert name not in values
        assert values["SECRET_KEY_FILE"].startswith("/etc/billpay/secrets/")
        assert "@" not in values["DATABASE_URL"]  # no password in the URL

    def test_a_staging_setup_with_files_for_mail_and_text_messages_passes(self, env, tmp_path):
        env["EMAIL_BACKEND"] = "django.core.mail.backends.filebased.EmailBackend"
        env["EMAIL_FILE_PATH"] = str(tmp_path / "mail")
        env["SMS_BACKEND"] = "payers.sms.FileSMSBackend"
        returncode, output = check(env)
        assert returncode == 0, output


class TestDeployWarnings:
    """Settings that parse but take a guard away: `check --deploy` (and so `make test`) warns."""

    def test_no_staff_role_asked_for_a_second_factor(self, env):
        env["STAFF_MFA_REQUIRED_ROLES"] = ""
        returncode, output = check(env, "--deploy", "--fail-level", "WARNING")
        assert returncode != 0
        assert "(billpay.W001) STAFF_MFA_REQUIRED_ROLES is empty" in output

    def test_the_sandbox_bank_allowed_on_a_production_site(self, env):
        env.update(SANDBOX_BANK_ENABLED="true", ALLOW_SANDBOX_IN_PRODUCTION="true", SANDBOX_BANK_KEY="s" * 40)
        returncode, output = check(env, "--deploy", "--fail-level", "WARNING")
        assert returncode != 0
        assert "(billpay.W003) The sandbox bank is on (ALLOW_SANDBOX_IN_PRODUCTION)" in output

    def test_a_trusted_proxy_network_as_wide_as_the_internet(self, env):
        env["TRUSTED_PROXIES"] = "127.0.0.1,0.0.0.0/0"
        returncode, output = check(env, "--deploy", "--fail-level", "WARNING")
        assert returncode != 0
        assert "(billpay.W002) TRUSTED_PROXIES: '0.0.0.0/0' trusts a whole /0" in output
        assert "127.0.0.1'" not in output

    def test_a_private_network_of_load_balancers_and_a_few_roles_pass(self, env):
        env["TRUSTED_PROXIES"] = "10.0.0.0/8,127.0.0.1,::1"
        env["STAFF_MFA_REQUIRED_ROLES"] = "platform_admin,branch_clerk"
        returncode, output = check(env, "--deploy", "--fail-level", "WARNING")
        assert returncode == 0, output


class TestRefusals:
    @pytest.mark.parametrize(
        "value, reason",
        [
            ("demo-only-insecure-key-change-me", "demo value"),
            ("django-insecure-" + "x" * 40, "'insecure'"),
            ("please-change-me-please-change-me-please", "'change-me'"),
            ("s3cret", "shorter than 32"),
        ],
    )
    def test_a_demo_or_weak_secret_key(self, env, value, reason):
        del env["SECRET_KEY_FILE"]
        env["SECRET_KEY"] = value
        assert_refused(env, "billpay.E001", "SECRET_KEY", reason)

    def test_an_api_credential_key_with_a_placeholder(self, env):
        secret_file(env, "API_CREDENTIAL_KEY", "example-api-credential-key-0123456789")
        assert_refused(env, "billpay.E001", "API_CREDENTIAL_KEY", "'example'")

    def test_an_api_credential_key_that_is_the_secret_key(self, env):
        env["API_CREDENTIAL_KEY_FILE"] = env["SECRET_KEY_FILE"]
        assert_refused(env, "billpay.E002", "API_CREDENTIAL_KEY is the same as SECRET_KEY")

    def test_a_missing_secret_key_stops_the_settings(self, env):
        del env["SECRET_KEY_FILE"]
        returncode, output = check(env)
        assert returncode != 0
        assert "SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off" in output

    def test_the_sandbox_bank_without_an_explicit_allowance(self, env):
        env["SANDBOX_BANK_ENABLED"] = "true"
        secret_file(env, "SANDBOX_BANK_KEY", secrets.token_urlsafe(50))
        assert_refused(env, "billpay.E003", "sandbox bank is on")

    def test_the_allowed_sandbox_bank_with_its_demo_key(self, env):
        env["SANDBOX_BANK_ENABLED"] = "true"
        env["ALLOW_SANDBOX_IN_PRODUCTION"] = "true"
        env["SANDBOX_BANK_KEY"] = "sandbox-demo-key-change-me"
        assert_refused(env, "billpay.E001", "SANDBOX_BANK_KEY")

    def test_the_allowed_sandbox_bank_with_its_own_key_passes(self, env):
        env["SANDBOX_BANK_ENABLED"] = "true"
        env["ALLOW_SANDBOX_IN_PRODUCTION"] = "true"
        secret_file(env, "SANDBOX_BANK_KEY", secrets.token_urlsafe(50))
        returncode, output = check(env)
        assert returncode == 0, output

    def test_an_alipay_private_key_with_a_placeholder(self, env):
        secret_file(env, "ALIPAY_APP_PRIVATE_KEY", "change-me")
        assert_refused(env, "billpay.E001", "ALIPAY_APP_PRIVATE_KEY")

    def test_tasks_run_eagerly(self, env):
        env["CELERY_TASK_ALWAYS_EAGER"] = "true"
        assert_refused(env, "billpay.E004", "CELERY_TASK_ALWAYS_EAGER")

    def test_tasks_run_eagerly_by_default_only_with_debug_on(self, env):
        del env["CELERY_TASK_ALWAYS_EAGER"]
        returncode, output = check(env)
        assert returncode == 0, output

    @pytest.mark.parametrize("backend", ["console", "locmem", "dummy"])
    def test_e_mail_that_never_leaves(self, env, backend):
        env["EMAIL_BACKEND"] = f"django.core.mail.backends.{backend}.EmailBackend"
        assert_refused(env, "billpay.E005", backend)

    @pytest.mark.parametrize("backend", ["payers.sms.ConsoleSMSBackend", "payers.sms.LocmemSMSBackend"])
    def test_text_messages_that_never_leave(self, env, backend):
        env["SMS_BACKEND"] = backend
        assert_refused(env, "billpay.E006", backend)

    def test_the_demo_defaults_with_debug_off_are_refused_all_at_once(self, env):
        env = {key: env[key] for key in ("PATH", "HOME", "DATABASE_URL") if key in env}
        env.update(DEBUG="false", SECRET_KEY="demo-only-insecure-key-change-me", API_CREDENTIAL_KEY="x" * 40)
        # The sandbox is off by default with DEBUG off; switched on with its published demo key it is refused.
        env.update(SANDBOX_BANK_ENABLED="true", SANDBOX_BANK_KEY="sandbox-demo-key-change-me")
        returncode, output = check(env)
        assert returncode != 0
        for code in ("E001", "E003", "E005", "E006"):
            assert f"(billpay.{code})" in output, output

    def test_with_debug_on_the_demo_defaults_start(self, env):
        env = {key: env[key] for key in ("PATH", "HOME", "DATABASE_URL") if key in env}
        returncode, output = check(env)
        assert returncode == 0, output


class TestEveryEntryPointRefuses:
    def test_migrate(self, env):
        env["EMAIL_BACKEND"] = "django.core.mail.backends.console.EmailBackend"
        result = run_manage(["migrate", "--plan"], env)
        assert result.returncode != 0
        assert "(billpay.E005)" in result.stderr

    def test_importing_the_wsgi_application(self, env):
        env["CELERY_TASK_ALWAYS_EAGER"] = "true"
        result = subprocess.run(
            [sys.executable, "-c", "import config.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert result.returncode != 0
        assert "SystemCheckError" in result.stderr and "(billpay.E004)" in result.stderr

    def test_the_celery_worker(self, env):
        env["SMS_BACKEND"] = "payers.sms.ConsoleSMSBackend"
        result = subprocess.run(
            [str(VENV_BIN / "celery"), "-A", "config", "worker", "--pool", "solo", "-l", "warning"],
            cwd=ROOT,
            env={**env, "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", env["CELERY_BROKER_URL"])},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1
        assert "(billpay.E006)" in result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn(env, port):
    return subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            *("-b", f"127.0.0.1:{port}", "-w", "1", "--no-control-socket"),
            "config.wsgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def get(port, path, headers, deadline):
    """(status, headers) of a GET to the local gunicorn, waiting for it to listen; no redirect is followed."""
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            return response.status, response.headers
        except ConnectionError:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        finally:
            connection.close()


class TestGunicorn:
    def test_gunicorn_exits_at_start_with_a_demo_secret(self, env):
        del env["SECRET_KEY_FILE"]
        env["SECRET_KEY"] = "demo-only-insecure-key-change-me"
        process = gunicorn(env, free_port())
        try:
            output, _ = process.communicate(timeout=120)
        finally:
            process.kill()
        assert process.returncode != 0
        assert "(billpay.E001) SECRET_KEY" in output
        assert "Worker failed to boot" in output

    @pytest.mark.django_db
    def test_gunicorn_serves_https_only_with_the_documented_environment(self, env):
        env["DATABASE_URL"] = database_url()
        for name in ("CELERY_BROKER_URL", "CACHE_URL"):
            env[name] = os.environ.get(name, env[name])
        port = free_port()
        process = gunicorn(env, port)
        host = {"Host": "billpay.example.org"}
        try:
            deadline = time.monotonic() + 120
            plain_status, plain = get(port, "/", host, deadline)
            health_status, health = get(port, "/healthz", host, deadline)
            secure_status, secure = get(port, "/healthz", {**host, "X-Forwarded-Proto": "https"}, deadline)
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=60)
        assert plain_status == 301 and plain["Location"] == "https://billpay.example.org/"
        assert health_status == 200  # the load balancer's health check may ask over plain HTTP
        assert "Strict-Transport-Security" not in health
        assert secure_status == 200
        assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
        assert "default-src 'self'" in secure["Content-Security-Policy"]
