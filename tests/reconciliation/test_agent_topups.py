"""Agents' float top-ups arrive on the float bank account's camt.053: a credit naming an agent's code in
its remittance information is credited to that agent's float once; anything else is a discrepancy."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.choices import Channel
from billing.models import Payment
from billing.selectors import trial_balance
from branches import agents, selectors
from branches.models import FloatTopUp
from demo.statements import PAYMENT, REFUND, DayLine, camt053
from reconciliation.choices import MatchClass, Resolution
from reconciliation.models import Discrepancy
from reconciliation.services import agent_topups, allowed_resolutions, reconcile_file
from tests.factories import BillFactory, CustomerAccountFactory

pytestmark = pytest.mark.django_db


def transfer(ref, amount, text, kind=PAYMENT, day=None):
    day = day or timezone.localdate()
    return DayLine(
        kind=kind,
        ref=ref,
        merchant_ref="",
        receipt_no="",
        biller_code=text,
        account_no="",
        amount=Decimal(amount),
        occurred_at=timezone.make_aware(datetime.datetime.combine(day, datetime.time(10))),
    )


def reconcile(lines, statement_id="FLOAT-1", day=None):
    day = day or timezone.localdate()
    return reconcile_file(
        channel_code="AGENT:ICBC",
        business_date=day,
        data=camt053(day, lines, statement_id=statement_id),
        file_name=f"{statement_id}.xml",
    )


def test_agent_codes_are_read_from_free_text():
    assert agent_topups.agent_codes_in("备付金 ag0001 云栖村") == ["AG0001"]
    assert agent_topups.agent_codes_in("AG0001/AG0001 xAG0002") == ["AG0001"]
    assert agent_topups.agent_codes_in("发票 12345") == []


def test_a_transfer_naming_the_agent_is_credited_to_its_float_once(village_agent):
    run = reconcile([transfer("ICBC-1", "500.00", "备付金 AG0001")])
    assert run.counts[MatchClass.MATCHED]["count"] == 1
    assert selectors.float_balance(village_agent) == Decimal("500.00")
    topup = FloatTopUp.objects.get()
    assert topup.bank_ref == "ICBC-1" and topup.statement_line_id is not None
    assert trial_balance()["CLEARING:AGENT"] == Decimal("500.00")
    # The same statement again is recognised: nothing is credited twice.
    again = reconcile([transfer("ICBC-1", "500.00", "备付金 AG0001")])
    assert again.pk == run.pk
    assert selectors.float_balance(village_agent) == Decimal("500.00")


def test_the_same_transfer_on_a_second_statement_is_a_duplicate_not_a_second_credit(village_agent):
    reconcile([transfer("ICBC-1", "500.00", "AG0001")])
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    run = reconcile(
        [transfer("ICBC-1", "500.00", "AG0001", day=tomorrow)], statement_id="FLOAT-2", day=tomorrow
    )
    assert run.counts[MatchClass.DUPLICATE]["count"] == 1
    assert selectors.float_balance(village_agent) == Decimal("500.00")


def test_an_unmatched_transfer_becomes_a_discrepancy_and_credits_nothing(village_agent):
    run = reconcile(
        [
            transfer("ICBC-1", "200.00", "备付金 没写代码"),
            transfer("ICBC-2", "300.00", "AG9999 unknown agent"),
            transfer("ICBC-3", "50.00", "AG0001 refund", kind=REFUND),
        ]
    )
    assert run.counts[MatchClass.MISSING_PLATFORM]["count"] == 3
    assert Discrepancy.objects.filter(run=run, channel_code="AGENT:ICBC").count() == 3
    assert not FloatTopUp.objects.exists()
    assert selectors.float_balance(village_agent) == Decimal("0.00")
    # Nothing to post for a biller: the officer writes it off (with a second person) once it is sorted out.
    unmatched = Discrepancy.objects.filter(run=run, line__channel_ref="ICBC-1").get()
    assert allowed_resolutions(unmatched) == (Resolution.WRITE_OFF,)


def test_agent_payments_settle_without_a_channel_statement(ada, village_agent, water):
    reconcile([transfer("ICBC-1", "500.00", "AG0001")])
    BillFactory(
        account=CustomerAccountFactory(biller=water, account_no="33010001"),
        period="2026-10",
        amount_due=Decimal("86.50"),
        due_date=timezone.localdate() + datetime.timedelta(days=10),
    )
    agents.take_agent_payment(
        staff=ada.agent_roles.get(),
        biller_code=water.code,
        account_no="33010001",
        periods=["2026-10"],
        amount="86.50",
        key="k1",
    )
    from reconciliation.services.settlement import settleable_payments

    assert list(settleable_payments(up_to=timezone.localdate(), biller=water)) == [
        Payment.objects.get(channel=Channel.AGENT)
    ]


def test_an_unmatched_transfer_written_off_moves_the_float_account_of_the_bank_not_an_agents(
    village_agent, django_user_model
):
    from billing import roles
    from reconciliation.services import approve_write_off, resolve_discrepancy
    from tests.support import make_staff

    run = reconcile([transfer("ICBC-1", "200.00", "no code")])
    discrepancy = Discrepancy.objects.get(run=run)
    officer = make_staff(django_user_model, "olga", roles.RECONCILIATION_OFFICER)
    approver = make_staff(django_user_model, "oscar", roles.RECONCILIATION_OFFICER)
    resolve_discrepancy(
        discrepancy=discrepancy, action=Resolution.WRITE_OFF, note="退回汇款人", actor=officer
    )
    approve_write_off(discrepancy=discrepancy, actor=approver)
    balances = trial_balance()
    assert balances["CLEARING:AGENT"] == Decimal("200.00")
    assert selectors.float_balance(village_agent) == Decimal("0.00")
