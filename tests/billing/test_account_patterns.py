"""A biller's account pattern runs in Python (forms, APIs, posting, the Python import) and in PostgreSQL
(the COPY import): it is checked against both when it is saved, and a pattern that slipped past the checks
is a refusal in post_payment, never a 500."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from billing.account_patterns import AccountPatternRefused, check_account_pattern
from billing.bill_import import import_bills, read_table
from billing.bill_import_copy import import_bills_copy
from billing.choices import BillerStatus, Channel
from billing.exceptions import PaymentRefused
from billing.models import Bill, Biller, Payment
from billing.services import activate_biller, post_payment
from demo.data import BILLERS
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

pytestmark = pytest.mark.django_db


def refusal(pattern: str) -> str:
    with pytest.raises(AccountPatternRefused) as refused:
        check_account_pattern(pattern)
    return refused.value.code


def test_every_demo_billers_pattern_reads_the_same_in_both_engines():
    for spec in BILLERS:
        check_account_pattern(spec.account_pattern)
    check_account_pattern(r"^(?:[A-Z]{2}\d{4,6}|\d{8})$")
    check_account_pattern(r"^RL\-\d{8}\.?$")


@pytest.mark.parametrize(
    "pattern",
    [
        r"^(?P<number>\d{8})$",  # named groups: Python only
        r"^\b\d{8}$",  # \b: a word boundary in Python, a backspace in PostgreSQL
        r"^\w{8}$",  # \w: Unicode letters in Python, the locale's in PostgreSQL
        r"^[[:digit:]]{8}$",  # POSIX classes: PostgreSQL only
        r"(?i)^ab\d+$",  # inline flags
        r"^(\d)\1$",  # back-references
        r"^户\d{8}$",  # not ASCII
    ],
)
def test_a_pattern_the_engines_read_differently_is_refused(pattern):
    assert refusal(pattern) == "account_pattern_unsupported"


def test_a_pattern_python_cannot_compile_is_refused_with_its_reason():
    assert refusal(r"^(\d{8}$") == "account_pattern_invalid"
    assert refusal(r"^\d{3,1}$") == "account_pattern_invalid"


def test_a_pattern_only_postgresql_refuses_is_refused_too():
    # Python takes a repeat count above 255; PostgreSQL's engine does not.
    with pytest.raises(AccountPatternRefused) as refused:
        check_account_pattern(r"^\d{1,300}$")
    assert refused.value.code == "account_pattern_invalid"
    assert Biller.objects.count() >= 0  # the savepoint kept the transaction usable


def test_an_empty_pattern_is_refused():
    assert refusal("") == "account_pattern_empty"


def test_the_model_refuses_the_pattern_in_the_users_language():
    biller = BillerFactory.build(account_pattern=r"^(?P<n>\d+)$")
    with translation.override("zh-hans"), pytest.raises(ValidationError) as refused:
        biller.clean()
    assert "账号规则" in refused.value.message_dict["account_pattern"][0]
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        biller.clean()
    assert "both the platform and its database" in refused.value.message_dict["account_pattern"][0]


def test_the_admin_form_refuses_the_pattern_and_saves_nothing(client, admin_user):
    biller = BillerFactory(code="WATERX", account_pattern=r"^\d{8}$")
    client.force_login(admin_user)
    url = reverse("admin:billing_biller_change", args=[biller.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(
        {
            "account_pattern": r"^\d{1,300}$",
            "accepts_cash": "on",
            "fee_schedules-TOTAL_FORMS": "0",
            "fee_schedules-INITIAL_FORMS": "0",
            "fee_schedules-MIN_NUM_FORMS": "0",
            "fee_schedules-MAX_NUM_FORMS": "1000",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 200
    assert "account_pattern" in response.context["adminform"].form.errors
    biller.refresh_from_db()
    assert biller.account_pattern == r"^\d{8}$"


def test_a_biller_with_a_broken_pattern_cannot_be_activated(admin_user):
    biller = BillerFactory(status=BillerStatus.SUSPENDED)
    Biller.objects.filter(pk=biller.pk).update(account_pattern=r"^(\d{8}$")  # written past the checks
    with pytest.raises(AccountPatternRefused) as refused:
        activate_biller(biller=biller, actor=admin_user)
    assert refused.value.code == "account_pattern_invalid"
    biller.refresh_from_db()
    assert biller.status == BillerStatus.SUSPENDED


def test_post_payment_refuses_rather_than_fails_on_a_pattern_that_slipped_past(admin_user):
    biller = BillerFactory(code="BROKEN")
    account = CustomerAccountFactory(biller=biller, account_no="10000001")
    BillFactory(account=account)
    Biller.objects.filter(pk=biller.pk).update(account_pattern=r"^(?P<n\d+$")
    with pytest.raises(PaymentRefused) as refused:
        post_payment(
            channel=Channel.ONLINE,
            idempotency_key="K-1",
            biller_code="BROKEN",
            account_no="99999999",  # unknown: posting asks the pattern why
            amount="10.00",
        )
    assert refused.value.code == "account_rule_broken"
    assert Payment.objects.count() == 0


def test_a_pattern_saved_through_the_checks_runs_the_same_in_both_imports(admin_user):
    data = (
        b"account_no,customer_name,period,amount_due,due_date\n"
        + "".join(
            f"{number},Zhang,2026-01,1.00,2026-02-01\n" for number in ("AB1234", "12345678", "cd5678", "1234")
        ).encode()
    )
    pattern = r"^(?:[A-Z]{2}\d{4,6}|\d{8})$"
    check_account_pattern(pattern)
    python_biller = BillerFactory(code="PYPAT", account_pattern=pattern)
    sql_biller = BillerFactory(code="SQLPAT", account_pattern=pattern)
    python = import_bills(python_biller, read_table(data), actor=admin_user, partial=True)
    sql = import_bills_copy(sql_biller, io.BytesIO(data), actor=admin_user, partial=True)
    assert (
        [(e.row, e.code) for e in sql.errors]
        == [(e.row, e.code) for e in python.errors]
        == [(5, "account_no_invalid")]
    )
    assert (
        Bill.objects.filter(biller=sql_biller).count()
        == Bill.objects.filter(biller=python_biller).count()
        == 3
    )
