"""seed_demo: a realistic demo region, built through the services, that a second run leaves untouched."""

import datetime
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from api.models import PartnerReturnUrl
from billing.choices import BillerStatus, BillStatus, PaymentMode
from billing.models import AuditEvent, Bill, Biller, BillerStaff, CustomerAccount, JournalEntry, Payment
from billing.money import CENT
from billing.rules import account_no_is_valid
from billing.selectors import trial_balance, unbalanced_entry_ids
from branches.models import Branch, BranchStaff
from demo import data, notices
from demo.plan import plan_accounts, plan_donations
from payers.models import Mandate

SEED_ACCOUNTS = 300  # the default 2,000 is checked on the plan alone, below, without the database

REQUIRED_CATEGORIES = {
    "water",
    "electricity",
    "gas",
    "heating",
    "tuition",
    "hospital",
    "pension",
    "medical-insurance",
    "government-fees",
    "traffic-fines",
    "property-fees",
    "telecom",
    "donations",
}


def seed(accounts=SEED_ACCOUNTS):
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_demo", "--accounts", str(accounts), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def database_counts():
    return {
        "billers": Biller.objects.count(),
        "branches": Branch.objects.count(),
        "users": get_user_model().objects.count(),
        "accounts": CustomerAccount.objects.count(),
        "bills": Bill.objects.count(),
        "paid bills": Bill.objects.filter(status=BillStatus.PAID).count(),
        "payments": Payment.objects.count(),
        "journal entries": JournalEntry.objects.count(),
        "audit events": AuditEvent.objects.count(),
    }


def assert_accounts_pass_their_billers_own_checks():
    accounts = CustomerAccount.objects.select_related("biller")
    assert accounts.exists()
    for account in accounts:
        biller = account.biller
        assert account_no_is_valid(
            account.account_no, pattern=biller.account_pattern, check_digit=biller.account_check_digit
        ), account
    assert not Bill.objects.filter(biller__payment_mode=PaymentMode.PREPAID).exists()


def assert_demo_users_have_their_roles_and_the_documented_password():
    User = get_user_model()
    for demo_user in data.DEMO_USERS:
        user = User.objects.get(username=demo_user.username)
        if demo_user.role == "citizen":
            assert not user.is_staff
            assert user.payer.display_name == data.CITIZEN["name"]
        else:
            assert user.is_staff
            assert user.groups.filter(name=demo_user.role).exists(), demo_user.username
    assert User.objects.get(username="admin").is_superuser
    # Four eyes in the demo: a second platform admin approves what the first submitted.
    assert User.objects.get(username="admin2").is_superuser
    assert User.objects.get(username="citizen").check_password(data.DEMO_PASSWORD)
    assert BillerStaff.objects.filter(user__username="biller_operator", biller__code="BJ-WATER").exists()
    assert set(
        BranchStaff.objects.filter(branch__code=data.CLERK_BRANCH).values_list("user__username", "role")
    ) == {
        ("branch_supervisor", "supervisor"),
        ("branch_clerk", "clerk"),
    }


@pytest.mark.django_db
def test_seed_builds_the_region_and_a_second_run_changes_nothing():
    out, err = seed()
    assert err == "", "no planned payment may be refused"
    first = database_counts()

    out, err = seed()

    assert err == ""
    assert "created now: users 0, billers 0, branches 0, accounts 0, bills 0, payments 0;" in out
    # every payment replays but the outlet notices' cash, taken once before the outlet was suspended
    assert f"payments replayed {first['payments'] - len(notices.RECIPIENTS)}" in out
    assert database_counts() == first

    active = Biller.objects.filter(status=BillerStatus.ACTIVE).select_related("category")
    assert active.count() >= 12
    assert {biller.category.code for biller in active} >= REQUIRED_CATEGORIES
    assert first["accounts"] >= SEED_ACCOUNTS
    assert first["bills"] >= 5 * SEED_ACCOUNTS
    assert 0 < first["paid bills"] < first["bills"]
    assert first["payments"] >= SEED_ACCOUNTS
    assert first["branches"] >= 6
    assert Payment.objects.filter(branch__isnull=False).exists()
    assert unbalanced_entry_ids() == []
    assert sum(trial_balance().values()) == 0
    assert_accounts_pass_their_billers_own_checks()
    assert_demo_users_have_their_roles_and_the_documented_password()
    assert_dated_amounts_are_seeded()
    # the sandbox partner's hosted checkout returns to the portal (docs/partner-api.md), registered once
    assert list(PartnerReturnUrl.objects.filter(partner__code="SANDBOX").values_list("url", flat=True)) == [
        "http://127.0.0.1:8000/"
    ]
    # and its customer's auto-pay mandate, the partner paying (docs/partner-api.md, Auto-pay), seeded once
    mandate = Mandate.objects.get(partner_code="SANDBOX")
    assert (mandate.customer_ref, mandate.status, mandate.user) == ("DEMO-CUSTOMER-0001", "active", None)


@pytest.mark.django_db
def test_demo_logins_prints_the_address_and_every_login():
    out = io.StringIO()
    call_command("demo_logins", stdout=out)
    text = out.getvalue()
    assert "http://127.0.0.1:8000/" in text
    assert "http://127.0.0.1:8000/admin/" in text
    assert data.DEMO_PASSWORD in text
    for demo_user in data.DEMO_USERS:
        assert demo_user.username in text


@pytest.mark.django_db
def test_demo_logins_says_which_users_must_set_up_totp_and_how_to_walk_without_a_phone(settings):
    out = io.StringIO()
    call_command("demo_logins", stdout=out)
    names = {demo_user.username for demo_user in data.DEMO_USERS}
    rows = {
        cells[0]: cells[2]
        for cells in map(str.split, out.getvalue().splitlines())
        if cells[:1] and cells[0] in names
    }
    assert rows["branch_clerk"] == rows["admin"] == rows["admin2"] == "TOTP" and rows["citizen"] == "-"
    assert "STAFF_MFA_REQUIRED_ROLES= make run" in out.getvalue()

    settings.STAFF_MFA_REQUIRED_ROLES = []
    out = io.StringIO()
    call_command("demo_logins", stdout=out)
    assert "TOTP" not in out.getvalue()


def test_the_default_plan_has_2000_statement_accounts_with_a_year_of_bills():
    anchor = datetime.date(2026, 5, 14)
    plans = plan_accounts(anchor)
    statement = [
        p for p in plans if data.BILLERS_BY_CODE[p.biller_code].payment_mode == PaymentMode.STATEMENT
    ]
    payments = [payment for plan in plans for payment in plan.payments] + plan_donations()

    assert len(statement) >= 2000
    periods = [period.code for period in data.billing_periods(anchor)]
    assert (periods[0], periods[-1], len(periods)) == ("2025-05", "2026-04", 12)
    assert {bill.period.code for plan in statement for bill in plan.bills} == set(periods)
    assert 2000 <= len(payments) <= 4000
    assert len({(p.channel, p.key) for p in payments}) == len(payments)
    for plan in statement:
        for bill in plan.bills:
            assert bill.amount_due > 0 and bill.amount_due == bill.amount_due.quantize(CENT)


def test_the_plan_is_the_same_every_time():
    anchor = datetime.date(2026, 5, 14)
    assert plan_accounts(anchor, 200) == plan_accounts(anchor, 200)
    # An account's data does not depend on how many accounts are seeded.
    assert plan_accounts(anchor, 200)[0] == plan_accounts(anchor, 400)[0]


def assert_dated_amounts_are_seeded():
    """Issue 17, item 2: the traffic police's fines grow by the day after their due date; the school's
    fee is less when paid early. Both priced by billing.amounts for the day the demo is looked at."""
    from decimal import Decimal

    from billing import amounts
    from demo import amounts as amounts_demo

    traffic = Biller.objects.get(code=amounts_demo.TRAFFIC)
    assert (traffic.late_fee_daily_rate, traffic.late_fee_cap_rate) == (
        Decimal("0.030000"),
        Decimal("1.0000"),
    )
    assert AuditEvent.objects.filter(action="biller.late_fee_rule_set", target_id=str(traffic.pk)).exists()
    # Item 4: the province takes 30% of each fine, on its own payable account, from the history on.
    [province] = traffic.collection_shares.all()
    assert (province.code, province.percentage) == ("PROV", Decimal("30.00"))
    from billing.models import JournalLine

    assert JournalLine.objects.filter(account__code="PAYABLE:BJ-TRAFFIC:PROV", amount__lt=0).exists()
    fresh = Bill.objects.select_related("biller").get(account__account_no=amounts_demo.FRESH_FINES[0][0])
    anchor = fresh.due_date + datetime.timedelta(days=3)
    assert amounts.amount_due(fresh, on=anchor).late_fee == Decimal("18.00")  # ¥200 × 3% × 3 days
    school_bills = Bill.objects.filter(biller__code=amounts_demo.SCHOOL).select_related("biller")
    assert school_bills.count() == amounts_demo.SCHOOL_STUDENTS
    quote = amounts.amount_due(school_bills[0], on=anchor)
    assert (quote.discount, quote.total) == (Decimal("120.00"), Decimal("2280.00"))
    from billing.models import Instalment

    assert Instalment.objects.filter(bill__biller__code=amounts_demo.SCHOOL).count() == 3 * (
        amounts_demo.SCHOOL_STUDENTS // 2
    )
