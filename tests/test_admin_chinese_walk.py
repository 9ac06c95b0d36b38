"""Walking the back office in Chinese finds no English left on it (issue 14): every change list, add form
and change form of every registered model, on demo data, read as a platform admin sees them."""

import contextlib
import html
import io
import re

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse

from billing import roles
from tests.support import log_in, make_staff

pytestmark = pytest.mark.django_db

# Codes and names that are the same in any language.
ALLOWED = re.compile(r"^(API|ID|IP|URL|CSV|XLSX|SHA-256|TOTP|WebAuthn|USCC|CIDR|camt\.05\d|ISO 20022.*)$")


def _texts(page: str, pattern: str) -> list[str]:
    found = re.findall(pattern, re.sub(r"(?s)<script.*?</script>|<style.*?</style>", "", page))
    found = ["".join(groups) if isinstance(groups, tuple) else groups for groups in found]
    return [html.unescape(re.sub(r"(?s)<[^>]+>", "", text)).strip() for text in found]


def _english(text: str) -> bool:
    return (
        bool(re.search(r"[A-Za-z]{3,}", text))
        and not re.search(r"[\u4e00-\u9fff]", text)
        and not ALLOWED.match(text)
    )


def _pages(model) -> list[str]:
    info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    urls = [reverse(f"{info}_changelist")]
    for name in ("add", "import"):
        with contextlib.suppress(NoReverseMatch):
            urls.append(reverse(f"{info}_{name}"))
    latest = model._default_manager.order_by("-pk").first()
    if latest is not None:
        urls.append(reverse(f"{info}_change", args=[latest.pk]))
    return urls


def test_the_admin_in_chinese_has_no_english_labels_headers_filters_or_raw_json(
    client, django_user_model, settings
):
    settings.DEBUG = True  # the demo's seed runs only with DEBUG on
    call_command("seed_demo", "--accounts", "20", stdout=io.StringIO(), stderr=io.StringIO())
    settings.DEBUG = False
    log_in(client, make_staff(django_user_model, "walker", roles.PLATFORM_ADMIN, is_superuser=True))
    problems = []
    for model in admin.site._registry:
        for url in _pages(model):
            response = client.get(url)
            if response.status_code == 403:  # no add form where money is posted only by its services
                continue
            assert response.status_code == 200, url
            page = response.content.decode()
            for kind, pattern in (
                ("label", r"(?s)<label[^>]*>(.*?)</label>"),
                ("column", r'(?s)<th scope="col"[^>]*>(.*?)</th>'),
                ("filter", r"(?s)<summary>(.*?)</summary>|<h3>(.*?)</h3>"),
                (
                    "heading",
                    r"(?s)<h1[^>]*>(.*?)</h1>|<caption[^>]*>(.*?)</caption>",
                ),  # an h2 names the object
            ):
                for text in _texts(page, pattern):
                    if _english(text.rstrip(":：")) or re.match(r"^以 [A-Za-z]", text):
                        problems.append((url, kind, text))
            for fragment in (
                "{&quot;matched&quot;",
                '{"matched"',
                "Authenticators",
                "Run:",
                "Resolved by:",
                "Model name",
            ):
                if fragment in page:
                    problems.append((url, "fragment", fragment))
    assert not problems, "\n".join(map(str, dict.fromkeys(problems)))
