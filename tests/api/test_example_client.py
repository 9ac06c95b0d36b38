"""The guide's example client (docs/examples/partner_client.py) really works, against a live server."""

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from api import services
from api.models import Partner
from billing.choices import BillStatus
from billing.models import Bill, BillerCategory
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

CLIENT = Path(__file__).resolve().parents[2] / "docs" / "examples" / "partner_client.py"


@pytest.mark.django_db(transaction=True)
def test_the_example_client_pays_a_bill_and_downloads_the_statement(live_server, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    water = BillerFactory(code="WATER01")
    bill = BillFactory(
        account=CustomerAccountFactory(biller=water, account_no="31005678"), amount_due=Decimal("66.60")
    )
    partner = Partner.objects.create(code="SANDBOX", name="Sandbox", is_sandbox=True)
    partner.allowed_categories.add(BillerCategory.objects.get(code="water"))
    issued = services.issue_credential(owner=partner, actor=admin)

    result = subprocess.run(
        [
            sys.executable,
            str(CLIENT),
            "--base-url",
            live_server.url,
            "--key-id",
            issued.credential.key_id,
            "--secret",
            issued.secret,
            "--biller",
            "WATER01",
            "--account",
            "31005678",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "66.60 due" in result.stdout
    assert "same receipt, paid once" in result.stdout
    assert "H,BILLPAY-STATEMENT,1,PARTNER:SANDBOX," in result.stdout
    assert "T,1,66.60,0.00,0.00" in result.stdout
    assert Bill.objects.get(pk=bill.pk).status == BillStatus.PAID


@pytest.mark.django_db(transaction=True)
def test_the_example_client_pays_a_batch_and_sending_it_again_charges_nothing_twice(
    live_server, django_user_model
):
    from tests.support import load_file_module

    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    water = BillerFactory(code="WATER01")
    bills = [
        BillFactory(
            account=CustomerAccountFactory(biller=water, account_no=f"3100567{n}"), amount_due="20.00"
        )
        for n in range(3)
    ]
    partner = Partner.objects.create(code="SANDBOX", name="Sandbox", is_sandbox=True)
    partner.allowed_categories.add(BillerCategory.objects.get(code="water"))
    issued = services.issue_credential(owner=partner, actor=admin)
    client = load_file_module(CLIENT, "partner_client").PartnerClient(
        live_server.url, issued.credential.key_id, issued.secret
    )
    payments = [
        {
            "idempotency_key": f"STORE-{n}",
            "biller_code": "WATER01",
            "account_no": bill.account.account_no,
            "amount": "20.00" if n else "19.00",
            "partner_ref": f"STORE-{n}",
        }
        for n, bill in enumerate(bills)
    ]

    first = client.pay_batch(payments, idempotency_key="BATCH-1")
    again = client.pay_batch(payments, idempotency_key="BATCH-2")

    assert [p["status"] for p in first["payments"]] == ["refused", "posted", "posted"]
    assert first["payments"][0]["error"]["code"] == "amount_not_exact"
    assert [p["status"] for p in again["payments"]] == ["refused", "replayed", "replayed"]
    assert [Bill.objects.get(pk=bill.pk).status for bill in bills] == [BillStatus.OPEN] + [
        BillStatus.PAID
    ] * 2
