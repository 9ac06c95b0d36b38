"""HTTP hardening: the Content-Security-Policy allows no inline script or style and the pages give it none;
HSTS, the SSL redirect, secure cookies and the proxy's SSL header follow the environment, safe with DEBUG off;
the file-based SMS backend keeps each message as a file."""

import os
import re
import subprocess
import sys

import pytest
from django.urls import reverse

from payers import sms
from scripts.check_deploy_env import ROOT
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

INLINE = [
    (
        re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>", re.I),
        "inline script",
    ),
    (re.compile(r"<style\b", re.I), "style element"),
    (re.compile(r"\sstyle=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+=", re.I), "event handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def inline_code(html: str) -> list[str]:
    return [f"{what}: {match.group(0)[:80]}" for pattern, what in INLINE for match in pattern.finditer(html)]


@pytest.mark.django_db
class TestContentSecurityPolicy:
    def test_every_page_carries_a_policy_without_unsafe_inline(self, client):
        policy = client.get("/")["Content-Security-Policy"]
        directives = dict(item.strip().split(" ", 1) for item in policy.split(";"))
        assert directives["default-src"] == "'self'"
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self'"
        assert directives["object-src"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy

    def test_portal_pages_hold_no_inline_script_or_style(self, client):
        biller = BillerFactory(code="WATER01", name="滨江水务")
        bill = BillFactory(account=CustomerAccountFactory(biller=biller, account_no="31005678"))
        from billing.paylinks import pay_path

        pages = [
            "/",
            "/billers/WATER01/?account_no=31005678",
            "/outlets/?biller=WATER01",
            pay_path(bill) + "qr/",
            "/accounts/login/",
        ]
        for path in pages:
            response = client.get(path, follow=True)
            assert response.status_code == 200, path
            assert inline_code(response.content.decode()) == [], path

    def test_admin_pages_hold_no_inline_script_or_style(self, client, admin_user):
        client.force_login(admin_user)
        for path in (reverse("admin:index"), reverse("admin:billing_bill_changelist")):
            response = client.get(path)
            assert response.status_code == 200
            assert inline_code(response.content.decode()) == [], path

    def test_the_qr_code_is_drawn_with_attributes_not_inline_styles(self):
        from payers.receipts import qr_svg

        svg = qr_svg("https://billpay.example.org/pay/abc/", 140)
        assert "style=" not in svg
        assert 'fill="none"' in svg  # the white background stays unpainted under the policy


def settings_with(env: dict[str, str], *names: str) -> list[str]:
    """The named settings as config/settings.py computes them in a fresh process with `env`."""
    code = (
        "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings');"
        "from django.conf import settings;"
        f"print('\\n'.join(repr(getattr(settings, name)) for name in {list(names)!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


HTTPS = (
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_PROXY_SSL_HEADER",
    "CELERY_TASK_ALWAYS_EAGER",
)


class TestHttpsSettings:
    base = {
        "SECRET_KEY": "x" * 50,
        "API_CREDENTIAL_KEY": "y" * 50,
        "PATH": "/usr/bin:/bin",
        # The settings need a PostgreSQL URL to load (one engine since issue 13); nothing connects.
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/billpay"),
    }

    def test_debug_off_defaults_to_https_everywhere(self):
        values = settings_with({**self.base, "DEBUG": "false"}, *HTTPS)
        assert values == ["True", "31536000", "True", "True", "True", "True", "None", "False"]

    def test_the_demo_serves_plain_http(self):
        values = settings_with({**self.base, "DEBUG": "true"}, *HTTPS)
        assert values == ["False", "0", "False", "False", "False", "False", "None", "True"]

    def test_each_comes_from_the_environment(self):
        env = {
            **self.base,
            "DEBUG": "false",
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_HSTS_SECONDS": "600",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS": "false",
            "SECURE_HSTS_PRELOAD": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
            "CELERY_TASK_ALWAYS_EAGER": "true",
        }
        values = settings_with(env, *HTTPS)
        assert values == [
            "False",
            "600",
            "False",
            "False",
            "False",
            "False",
            "('HTTP_X_FORWARDED_PROTO', 'https')",
            "True",
        ]

    def test_a_proxy_ssl_header_without_its_value_is_refused(self):
        env = {**self.base, "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO"}
        code = (
            "import os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; import django; django.setup()"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert result.returncode != 0
        assert "SECURE_PROXY_SSL_HEADER" in result.stderr and "ImproperlyConfigured" in result.stderr


class TestFileSMSBackend:
    def test_each_message_is_one_file_with_its_number_and_text(self, settings, tmp_path):
        settings.SMS_BACKEND = "payers.sms.FileSMSBackend"
        settings.SMS_FILE_PATH = str(tmp_path / "sms")
        assert sms.send_sms("13800138000", "您的验证码是 123456") == 1
        assert sms.send_sms("13900139000", "账单提醒") == 1
        files = sorted((tmp_path / "sms").iterdir())
        assert len(files) == 2
        texts = {path.read_text(encoding="utf-8") for path in files}
        assert texts == {"To: 13800138000\n\n您的验证码是 123456\n", "To: 13900139000\n\n账单提醒\n"}
