"""The guide's hosted checkout example (docs/examples/hosted_checkout.py) really works, against a live server:
its link opens the pay page once, and it verifies the signed return the platform sends the payer back with."""

import subprocess
import sys
import urllib.error
import urllib.request
from decimal import Decimal

import pytest

from api import services
from api.models import HostedCheckout, Partner, PartnerReturnUrl
from billing.models import BillerCategory
from tests.api.hosted import EXAMPLE, RETURN_URL
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _location(url: str) -> str:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(url, timeout=30)
    except urllib.error.HTTPError as answer:
        assert answer.code == 302, answer.read()[:300]
        return answer.headers["Location"]
    raise AssertionError("no redirect")


def _example(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.django_db(transaction=True)
def test_the_example_builds_a_link_the_live_server_takes_once_and_verifies_the_return(
    live_server, django_user_model
):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    water = BillerFactory(code="WATER01")
    account = CustomerAccountFactory(biller=water, account_no="31005678", holder_name="张小明")
    BillFactory(account=account, amount_due=Decimal("66.60"))
    partner = Partner.objects.create(code="GOVPORTAL", name="市民服务门户")
    partner.allowed_categories.add(BillerCategory.objects.get(code="water"))
    PartnerReturnUrl.objects.create(partner=partner, url=RETURN_URL)
    issued = services.issue_credential(owner=partner, actor=admin)

    made = _example(
        "link",
        *("--base-url", live_server.url, "--key-id", issued.credential.key_id, "--secret", issued.secret),
        *("--order-id", "GOV-42", "--biller", "WATER01", "--account", "31005678", "--amount", "66.60"),
        *("--return-url", RETURN_URL),
    )
    assert made.returncode == 0, made.stderr
    link = made.stdout.strip()

    page = _location(link)
    assert page.startswith("/hosted/")
    assert HostedCheckout.objects.get().partner_order_id == "GOV-42"
    with pytest.raises(urllib.error.HTTPError) as replay:
        urllib.request.urlopen(link, timeout=30)
    assert replay.value.code == 400  # the same link again: a replay

    returned = _location(live_server.url + page + "back/")
    assert returned.startswith(RETURN_URL + "?")
    checked = _example("verify", "--secret", issued.secret, "--url", returned)
    assert checked.returncode == 0, checked.stderr
    assert "verified: order GOV-42 is cancelled" in checked.stdout
    forged = _example("verify", "--secret", "sk_someone-else", "--url", returned)
    assert forged.returncode == 1 and "REFUSED" in forged.stderr
