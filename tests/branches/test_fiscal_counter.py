"""The counter prints a cash payment's fiscal e-receipt (issue 17, item 5): its receipt shows the
e-receipt's code, number and verification code, and the issuer's file opens in the browser to print."""

import pytest
from django.urls import reverse

from billing import outbox
from billing.fiscal_models import FiscalReceipt, FiscalStatus
from tests.billing.test_fiscal import _sandboxes_mounted, configure, notice_bill  # noqa: F401
from tests.factories import BillerFactory
from tests.support import log_in, take_cash

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_counter_receipt_shows_and_prints_the_fiscal_receipt(
    client, live_server, dave, till, erin, branch_y
):
    office = BillerFactory(code="NTAX01", name="滨江区自然资源局")
    configure(office, live_server)
    bill = notice_bill(office, amount="80.00")
    taken = take_cash(dave, till, bill, "ctr-fiscal-1", amount="80.00", tendered="100.00")
    outbox.relay()
    payment = taken.counter_payment.payment
    receipt = FiscalReceipt.objects.get(payment=payment)
    assert receipt.status == FiscalStatus.ISSUED

    log_in(client, dave)
    page = client.get(reverse("counter:receipt", args=[payment.receipt_no])).content.decode()
    assert receipt.invoice_no in page and receipt.check_code in page and bill.notice_no in page
    printed = client.get(reverse("counter:fiscal_pdf", args=[payment.receipt_no]))
    assert printed.status_code == 200 and printed["Content-Type"] == "application/pdf"
    assert printed["Content-Disposition"].startswith("inline") and printed.content == bytes(receipt.pdf)

    log_in(client, erin)  # another branch's clerk: as unknown as a receipt that does not exist
    assert client.get(reverse("counter:fiscal_pdf", args=[payment.receipt_no])).status_code == 404
