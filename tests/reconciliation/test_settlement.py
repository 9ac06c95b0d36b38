"""T+1 settlement: only reconciled money, net of fees, once per biller and day, with balanced entries."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import IntegrityError
from django.urls import reverse

from billing.choices import Channel
from billing.models import JournalLine
from billing.money import ZERO
from reconciliation import services
from reconciliation.adapters import camt
from reconciliation.choices import RunStatus, SettlementStatus
from reconciliation.exceptions import ReconciliationError
from reconciliation.models import SettlementBatch, SettlementItem, SettlementRun
from reconciliation.services import settlement
from tests.factories import FeeScheduleFactory
from tests.reconciliation.conftest import CHANNEL, Shop, billpay_csv
from tests.support import log_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def reconciled(shop, today):
    FeeScheduleFactory(
        biller=shop.biller, channel=Channel.ONLINE, percentage=Decimal("0.0030"), min_fee=Decimal("0.10")
    )
    a, b, c = shop.pay("100.00"), shop.pay("200.00"), shop.pay("55.00")
    lines = [("PAYMENT", a.channel_ref, "100.00", "", None), ("PAYMENT", b.channel_ref, "200.00", "", None)]
    services.reconcile_file(
        channel_code=CHANNEL, business_date=today, data=billpay_csv(today, lines), file_name="s"
    )
    return shop, (a, b, c)


def test_settles_only_reconciled_money_net_of_fees(reconciled, today, settle_on):
    shop, (a, b, _c) = reconciled
    services.settle_day(day=today, as_of=settle_on)
    batch = SettlementBatch.objects.get(biller=shop.biller, business_date=today)
    assert batch.payment_count == 2
    assert (batch.gross, batch.fees, batch.net) == (Decimal("300.00"), Decimal("0.90"), Decimal("299.10"))
    assert set(batch.items.values_list("payment_id", flat=True)) == {a.pk, b.pk}
    lines = {line.account.code: line.amount for line in batch.journal_entry.lines.select_related("account")}
    assert lines == {
        "PAYABLE:WATER01": Decimal("300.00"),
        "SETTLEMENT": Decimal("-299.10"),
        "FEES": Decimal("-0.90"),
    }
    assert sum(JournalLine.objects.values_list("amount", flat=True), ZERO) == ZERO
    assert batch.channel_totals.get().net == Decimal("299.10")


def test_the_remittance_files_list_each_payment(reconciled, today, settle_on):
    _shop, (a, b, _c) = reconciled
    services.settle_day(day=today, as_of=settle_on)
    batch = SettlementBatch.objects.get()
    assert a.receipt_no in batch.remittance_csv and b.receipt_no in batch.remittance_csv
    assert batch.remittance_csv.strip().splitlines()[-1] == "T,2,300.00,0.90,299.10"
    parsed = camt.parse(batch.remittance_xml.encode())
    assert [ln.amount for ln in parsed.lines] == [Decimal("299.10")]
    assert f"<NtryRef>{batch.reference}</NtryRef>" in batch.remittance_xml
    assert batch.remittance_xml.count("<TxDtls>") == 2


def test_a_day_is_never_settled_twice(reconciled, today, settle_on):
    services.settle_day(day=today, as_of=settle_on)
    services.settle_day(day=today, as_of=settle_on)
    with pytest.raises(CommandError, match="尚未结束"):  # today is not over: T+1
        call_command("settle", "--date", today.isoformat())
    assert SettlementBatch.objects.count() == 1 and SettlementItem.objects.count() == 2
    batch = SettlementBatch.objects.get()
    with pytest.raises(IntegrityError):
        SettlementBatch.objects.create(
            reference="X", biller=batch.biller, business_date=today, gross=1, fees=0, net=1
        )


def bank_confirmation(batch) -> bytes:
    """The bank's camt.054 for a batch: the remittance, with the bank's reference and the batch's one."""
    confirmation = batch.remittance_xml.replace("<NtryRef>", "<AcctSvcrRef>BANK-1</AcctSvcrRef><NtryRef>", 1)
    confirmation = confirmation.replace("<Refs>", "<Refs><InstrId>x</InstrId>", 0)
    confirmation = confirmation.replace(
        "<NtryDtls>",
        "<NtryDtls><TxDtls><Refs><EndToEndId>" + batch.reference + "</EndToEndId></Refs></TxDtls>",
        1,
    )
    return confirmation.encode()


def test_the_biller_confirmation_is_imported(reconciled, today, settle_on):
    services.settle_day(day=today, as_of=settle_on)
    [confirmed] = services.import_settlement_confirmation(
        data=bank_confirmation(SettlementBatch.objects.get())
    )
    assert confirmed.status == SettlementStatus.CONFIRMED and confirmed.confirmation_sha256


def test_a_confirmation_is_imported_through_the_admin_and_a_wrong_one_is_refused_on_the_form(
    reconciled, today, officer, client, settle_on
):
    services.settle_day(day=today, as_of=settle_on)
    batch = SettlementBatch.objects.get()
    url = reverse("admin:reconciliation_settlementbatch_confirm")
    log_in(client, officer)
    wrong = batch.remittance_xml.replace("299.10", "299.00").encode()
    refused = client.post(url, {"file": SimpleUploadedFile("wrong.xml", wrong)})
    assert refused.status_code == 200 and refused.context["form"].errors["file"]
    right = SimpleUploadedFile("c.xml", bank_confirmation(batch))
    confirmed = client.post(url, {"file": right})
    assert confirmed.status_code == 302
    assert confirmed.url == reverse("admin:reconciliation_settlementbatch_changelist")
    assert SettlementBatch.objects.get().status == SettlementStatus.CONFIRMED


def test_a_confirmation_for_another_amount_is_refused(reconciled, today, settle_on):
    services.settle_day(day=today, as_of=settle_on)
    batch = SettlementBatch.objects.get()
    wrong = batch.remittance_xml.replace("299.10", "299.00")
    with pytest.raises(ReconciliationError):
        services.import_settlement_confirmation(data=wrong.encode())


@pytest.mark.django_db(transaction=True)
def test_a_settlement_killed_midway_resumes_to_the_same_result(today, monkeypatch, settle_on):
    shops = [Shop.__new__(Shop) for _ in range(3)]
    payments = []
    from tests.factories import BillerFactory

    for index, shop in enumerate(shops):
        shop.biller = BillerFactory(code=f"WATER0{index + 2}")
        shop.counter = index * 100
        payments.append(shop.pay("10.00"))
    lines = [("PAYMENT", p.channel_ref, "10.00", "", None) for p in payments]
    services.reconcile_file(
        channel_code=CHANNEL, business_date=today, data=billpay_csv(today, lines), file_name="s"
    )

    def die(run, done):
        if done == 2:
            raise RuntimeError("worker killed")

    monkeypatch.setattr(settlement, "_after_biller", die)
    with pytest.raises(RuntimeError):
        services.settle_day(day=today, as_of=settle_on)
    assert SettlementRun.objects.get().status == RunStatus.FAILED
    assert SettlementBatch.objects.count() == 2
    monkeypatch.setattr(settlement, "_after_biller", lambda run, done: None)
    run = services.settle_day(day=today, as_of=settle_on)
    assert run.status == RunStatus.DONE and run.percent == 100 and run.attempts == 2
    assert SettlementBatch.objects.count() == 3 and SettlementItem.objects.count() == 3
