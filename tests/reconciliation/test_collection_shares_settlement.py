"""Settlement of shared collections (issue 17, item 4): one batch debits each co-beneficiary's payable
account and remits its part to its own bank account (an S line of the CSV, a notification of the
camt.054 per account), the biller pays the fees from its own part, a reversal takes each part back in
the next batch, each bank confirms its own credit, and each part is shown in the batch's report."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.choices import Channel
from billing.models import JournalLine, LedgerAccount
from billing.money import ZERO
from billing.services import post_payment, reverse_payment
from reconciliation import services, working_days
from reconciliation.adapters import camt
from reconciliation.choices import SettlementStatus
from reconciliation.exceptions import ReconciliationError
from reconciliation.models import SettlementBatch, SettlementShare
from tests.billing.test_collection_shares import late_fine, shared_police
from tests.factories import FeeScheduleFactory
from tests.reconciliation.conftest import CHANNEL, billpay_csv
from tests.support import log_in

pytestmark = pytest.mark.django_db

D = Decimal
ONE_DAY = datetime.timedelta(days=1)
SHARED_CODES = ("PAYABLE:POLICE01", "PAYABLE:POLICE01:AGENCY", "PAYABLE:POLICE01:PROV", "LATEFEE:POLICE01")


def settle(day: datetime.date) -> list[SettlementBatch]:
    services.settle_day(day=day, as_of=working_days.next_working_day(day))
    return list(SettlementBatch.objects.filter(business_date=day))


@pytest.fixture
def two_fines_paid_online(today):
    """Two ¥2000 fines three days late, paid online (¥2003 each) and reconciled; ¥1.00 fee a payment."""
    police = shared_police()
    FeeScheduleFactory(
        biller=police, channel=Channel.ONLINE, fixed_fee=D("1.00"), percentage=ZERO, min_fee=ZERO
    )
    payments = []
    for n in (1, 2):
        late_fine(police, account_no=f"4400123{n}")
        payments.append(
            post_payment(
                channel=Channel.ONLINE,
                idempotency_key=f"SANDBOX:ORD-{n}",
                biller_code="POLICE01",
                account_no=f"4400123{n}",
                amount="2003.00",
                channel_ref=f"SBX-{n}",
            ).payment
        )
    lines = [("PAYMENT", p.channel_ref, "2003.00", "", None) for p in payments]
    services.reconcile_file(
        channel_code=CHANNEL, business_date=today, data=billpay_csv(today, lines), file_name="s"
    )
    return police, payments


def balance(code: str) -> Decimal:
    account = LedgerAccount.objects.get(code=code)
    return sum(JournalLine.objects.filter(account=account).values_list("amount", flat=True), ZERO)


def test_a_batch_debits_each_payable_and_the_biller_pays_the_fees_from_its_own_part(
    two_fines_paid_online, today
):
    [batch] = settle(today)
    assert (batch.gross, batch.fees, batch.net, batch.shared) == (
        D("4006.00"),
        D("2.00"),
        D("4004.00"),
        D("1612.00"),
    )
    lines = {line.account.code: line.amount for line in batch.journal_entry.lines.select_related("account")}
    assert lines == {
        "PAYABLE:POLICE01": D("2388.00"),
        "PAYABLE:POLICE01:AGENCY": D("20.00"),
        "PAYABLE:POLICE01:PROV": D("1592.00"),
        "LATEFEE:POLICE01": D("6.00"),
        "SETTLEMENT": D("-4004.00"),
        "FEES": D("-2.00"),
    }
    assert all(balance(code) == ZERO for code in SHARED_CODES)
    shares = {row.share.code: (row.amount, row.account_no, row.reference) for row in batch.shares.all()}
    assert shares == {
        "AGENCY": (D("20.00"), "6222000000000101", f"{batch.reference}-AGENCY"),
        "PROV": (D("1592.00"), "6222000000000202", f"{batch.reference}-PROV"),
    }


def test_the_remittance_has_one_credit_per_bank_account(two_fines_paid_online, today):
    _police, payments = two_fines_paid_online
    [batch] = settle(today)
    rows = batch.remittance_csv.strip().splitlines()
    assert (
        f"S,{batch.reference}-AGENCY,AGENCY,代收机构,滨江银行,滨江代收服务有限公司,6222000000000101,20.00,2"
        in rows
    )
    assert f"S,{batch.reference}-PROV,PROV,省财政厅,国库滨江支库,省财政厅,6222000000000202,1592.00,2" in rows
    assert rows[-1] == "T,2,4006.00,2.00,4004.00,1612.00,2392.00"
    parsed = camt.parse(batch.remittance_xml.encode())
    assert [ln.amount for ln in parsed.lines] == [D("2392.00"), D("20.00"), D("1592.00")]
    xml = batch.remittance_xml
    for reference in (batch.reference, f"{batch.reference}-AGENCY", f"{batch.reference}-PROV"):
        assert f"<NtryRef>{reference}</NtryRef>" in xml
    for account_no in ("6222000000000001", "6222000000000101", "6222000000000202"):
        assert f"<Id>{account_no}</Id>" in xml
    # Each account's notification lists its part of each payment: ¥1196 the city's (¥1194 + ¥3 late fee
    # − ¥1 fee), ¥10 the agency's, ¥796 the province's.
    for amount in ("1196.00", "10.00", "796.00"):
        assert xml.count(f'<Amt Ccy="CNY">{amount}</Amt>') == 2
    assert xml.count(payments[0].receipt_no) == 6  # EndToEndId and words, in each of three notifications


def test_a_reversal_takes_each_part_back_in_the_next_batch(two_fines_paid_online, today):
    _police, (_kept, undone) = two_fines_paid_online
    settle(today)
    reverse_payment(payment=undone, actor=None, reason="重复缴费退回")
    [second] = settle(today + ONE_DAY)
    assert (second.gross, second.fees, second.net, second.shared) == (
        D("-2003.00"),
        D("-1.00"),
        D("-2002.00"),
        D("-806.00"),
    )
    assert dict(second.shares.values_list("share__code", "amount")) == {
        "AGENCY": D("-10.00"),
        "PROV": D("-796.00"),
    }
    assert second.remittance_csv.strip().splitlines()[-1] == "T,1,-2003.00,-1.00,-2002.00,-806.00,-1196.00"
    assert all(balance(code) == ZERO for code in SHARED_CODES)
    assert sum(JournalLine.objects.values_list("amount", flat=True), ZERO) == ZERO


def confirmation(batch, notification: int, reference: str) -> bytes:
    """The camt.054 a bank sends back for one of the batch's credits: that notification alone, naming the
    credit's reference first (as tests/reconciliation/test_settlement.py's bank does)."""
    xml = batch.remittance_xml
    head, _sep, rest = xml.partition("<Ntfctn>")
    parts = ["<Ntfctn>" + p for p in rest.split("<Ntfctn>")]
    tail = "\n  </BkToCstmrDbtCdtNtfctn>\n</Document>\n"
    chosen = parts[notification].split("</Ntfctn>")[0] + "</Ntfctn>"
    chosen = chosen.replace(
        "<NtryDtls>", f"<NtryDtls><TxDtls><Refs><EndToEndId>{reference}</EndToEndId></Refs></TxDtls>", 1
    )
    return (head + chosen + tail).encode()


def test_each_bank_confirms_its_own_credit_and_a_wrong_amount_is_refused(two_fines_paid_online, today):
    [batch] = settle(today)
    prov = SettlementShare.objects.get(share__code="PROV")
    wrong = confirmation(batch, 2, prov.reference).replace(b"1592.00", b"1591.00")
    with pytest.raises(ReconciliationError) as refused:
        services.import_settlement_confirmation(data=wrong)
    assert refused.value.code == "confirmation_no_match"
    services.import_settlement_confirmation(data=confirmation(batch, 2, prov.reference))
    prov.refresh_from_db()
    batch.refresh_from_db()
    assert prov.confirmed_at is not None and batch.status == SettlementStatus.BUILT
    [confirmed] = services.import_settlement_confirmation(data=confirmation(batch, 0, batch.reference))
    assert confirmed == batch and SettlementBatch.objects.get().status == SettlementStatus.CONFIRMED


def test_the_batchs_page_shows_each_co_beneficiarys_credit(two_fines_paid_online, today, officer, client):
    [batch] = settle(today)
    log_in(client, officer)
    page = client.get(
        reverse("admin:reconciliation_settlementbatch_change", args=[batch.pk])
    ).content.decode()
    assert "省财政厅" in page and "1592.00" in page and "6222000000000202" in page
    assert "代收机构" in page and f"{batch.reference}-AGENCY" in page
