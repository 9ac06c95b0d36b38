"""The demo's commands refuse to run with DEBUG off: its users, password and API keys are public, so they
must never be written to, or printed from, a real platform."""

import io
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from api.models import ApiCredential, Partner
from billing.models import AuditEvent, Bill, Biller, Payment
from branches.models import Branch

pytestmark = pytest.mark.django_db

DEMO_COMMANDS = ["seed_demo", "demo_logins", "api_sandbox"]


def row_counts():
    return {
        model.__name__: model.objects.count()
        for model in (get_user_model(), Biller, Bill, Payment, Branch, Partner, ApiCredential, AuditEvent)
    }


@pytest.mark.parametrize("command", DEMO_COMMANDS)
def test_a_demo_command_with_debug_off_is_refused_in_chinese_and_writes_and_prints_nothing(settings, command):
    settings.DEBUG = False
    before = row_counts()
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError) as refused:
        call_command(command, stdout=out, stderr=err)

    assert str(refused.value) == (
        f"{command} 仅能在 DEBUG 开启时运行：演示数据的用户、密码和 API 密钥都是公开的，绝不能进入正式平台。"
    )
    assert out.getvalue() == err.getvalue() == ""
    assert row_counts() == before


def test_the_refusal_speaks_english_when_english_is_active(settings):
    settings.DEBUG = False
    with translation.override("en"), pytest.raises(CommandError) as refused:
        call_command("seed_demo", "--accounts", "10")
    assert str(refused.value) == (
        "seed_demo runs only with DEBUG on: the demo's users, password and API keys are public "
        "and must never reach a real platform."
    )
    assert get_user_model().objects.count() == 0


def test_the_refusal_comes_before_the_arguments_are_even_read(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", "--accounts", "0")  # out of range, but the DEBUG refusal speaks first


def test_with_debug_on_demo_logins_runs(settings):
    settings.DEBUG = True
    out = io.StringIO()
    call_command("demo_logins", stdout=out)
    assert "demo1234" in out.getvalue()


def test_manage_py_seed_demo_with_debug_off_exits_with_the_refusal_before_touching_the_database():
    """The real command line, as an operator would run it on a production host: a non-zero exit and the
    message, and no connection needed (the database named here does not exist)."""
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "a-production-like-secret-key-for-this-test-0123456789",
        "API_CREDENTIAL_KEY": "a-production-like-credential-key-for-this-test-0123",
        "SANDBOX_BANK_KEY": "a-production-like-sandbox-key-for-this-test-012345",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/billpay_no_such_database",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "seed_demo"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "CommandError: seed_demo 仅能在 DEBUG 开启时运行" in done.stderr
    assert done.stdout == ""
