"""Helpers of the hosted checkout tests: the partner's side, through the guide's own example script."""

from pathlib import Path

from django.test import override_settings
from django.urls import clear_url_caches

from tests.support import load_file_module

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "hosted_checkout.py"
RETURN_URL = "https://gov.example.cn/billpay/return"
SANDBOX_TEST_KEY = "sandbox-test-key-hosted-7c1d"


example = load_file_module(EXAMPLE, "hosted_checkout_example")


def load_urlconf(*, sandbox_bank: bool) -> None:
    import importlib as loader

    from config import urls

    mounted = any(str(pattern.pattern) == "sandbox-bank/" for pattern in urls.urlpatterns)
    if mounted != sandbox_bank:
        with override_settings(SANDBOX_BANK_ENABLED=sandbox_bank):
            loader.reload(urls)
        clear_url_caches()


def sandbox_bank_on(settings):
    """The sandbox bank switched on with a key of its own; the URLconf is put back afterwards."""
    settings.SANDBOX_BANK_ENABLED = True
    settings.SANDBOX_BANK_KEY = SANDBOX_TEST_KEY
    load_urlconf(sandbox_bank=True)


def link(issued, *, base_url="", secret=None, **overrides) -> str:
    values = {
        "order_id": "GOV-2026-0001",
        "biller": "WATER01",
        "account": "31005678",
        "amount": "128.40",
        "return_url": RETURN_URL,
    }
    values.update(overrides)
    return example.signed_link(
        base_url, key_id=issued.credential.key_id, secret=secret or issued.secret, **values
    )
