"""Issue 16: the province generator (benchmarks/province.py) at a tiny scale writes rows the platform's own
checks accept, and the back office's change lists over those tables never count or scan a whole table."""

import re
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count, Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing import roles
from billing.admin_paging import COUNT_CAP, EstimatedCountPaginator
from billing.choices import BillStatus
from billing.models import (
    Bill,
    Biller,
    BillerCategory,
    BillerStaff,
    CustomerAccount,
    JournalLine,
    Payment,
    PaymentAllocation,
)
from billing.services import post_payment
from billing.tasks import check_ledger_integrity
from tests.support import log_in, make_staff

sys.path.insert(0, str(Path(settings.BASE_DIR) / "benchmarks"))
import province

SCALE = 0.0003  # 10 billers, 600 accounts, 7,200 bills, 150 outlets, 15 partners
BIG_TABLES = (
    "billing_bill",
    "billing_payment",
    "billing_journalline",
    "billing_customeraccount",
    "billing_biller",
)


@pytest.fixture(scope="module")
def generated(module_db):
    from django.contrib.auth import get_user_model

    django_user_model = get_user_model()
    with module_db.unblock():
        counts = province.build(scale=SCALE, seed=7, log=lambda _line: None, vacuum=False)
        admin = make_staff(django_user_model, "province-admin", roles.PLATFORM_ADMIN)
        operator = make_staff(django_user_model, "grid-operator", roles.BILLER_OPERATOR)
        BillerStaff.objects.create(user=operator, biller=Biller.objects.get(code=province.GRID_CODE))
        return {"counts": counts, "admin": admin, "operator": operator}


@pytest.mark.django_db
def test_the_generated_ledger_passes_the_nightly_integrity_check(generated):
    result = check_ledger_integrity()
    assert result["balanced"], result
    assert JournalLine.objects.count() == 2 * Payment.objects.count() > 0


@pytest.mark.django_db
def test_the_province_has_the_issues_shape_at_its_scale(generated):
    sizes = province.sizes(SCALE)
    assert Biller.objects.count() == sizes["billers"]
    assert CustomerAccount.objects.count() == sizes["accounts"]
    assert Bill.objects.count() == sizes["accounts"] * province.BILL_MONTHS
    grid_accounts = CustomerAccount.objects.filter(biller__code=province.GRID_CODE).count()
    assert grid_accounts == round(sizes["accounts"] * province.GRID_SHARE)
    top = BillerCategory.objects.filter(parent__isnull=True)
    subs = BillerCategory.objects.filter(parent__isnull=False)
    assert top.count() >= 9 and subs.count() >= 50
    assert not BillerCategory.objects.filter(name_en="").exists()


@pytest.mark.django_db
def test_every_paid_bill_in_the_payment_window_is_the_sum_of_its_allocations(generated):
    with_payments = Bill.objects.filter(allocations__isnull=False).annotate(
        allocated=Sum("allocations__amount"), allocations_n=Count("allocations")
    )
    assert with_payments.exists()
    for bill in with_payments:
        assert bill.allocated == bill.amount_paid == bill.amount_due
        assert bill.status == BillStatus.PAID
    payment = Payment.objects.select_related("biller").first()
    lines = sorted(JournalLine.objects.filter(entry__payment=payment).values_list("amount", flat=True))
    assert lines == [-payment.amount, payment.amount]
    assert PaymentAllocation.objects.count() == Payment.objects.count()


@pytest.mark.django_db
def test_post_payment_pays_a_generated_bill_and_the_books_still_balance(generated):
    bill = (
        Bill.objects.filter(status=BillStatus.OPEN, biller__status="active")
        .select_related("account__biller")
        .order_by("due_date", "pk")
        .first()
    )
    result = post_payment(
        channel="online",
        idempotency_key="province-test-1",
        biller_code=bill.biller.code,
        account_no=bill.account.account_no,
        amount=bill.outstanding,
        periods=[bill.period],
    )
    bill.refresh_from_db()
    assert bill.status == BillStatus.PAID and result.payment.amount == bill.amount_due
    assert result.payment.pk > generated["counts"]["billing_payment"]  # the sequences moved past the load
    assert check_ledger_integrity()["balanced"]


# --- change lists ---------------------------------------------------------------------------------------

CHANGE_LISTS = {
    "billing_bill": ["", "?status__exact=open", "?period={period}", "?q={account_no}", "?q={reference}"],
    "billing_payment": ["", "?channel__exact=counter", "?q={account_no}", "?q={receipt_no}"],
    "billing_journalline": ["", f"?q=PAYABLE:{province.GRID_CODE}", "?account__kind__exact=biller_payable"],
    "billing_customeraccount": ["", "?q={account_prefix}"],
    "billing_biller": ["", "?q=Grid", "?status__exact=active"],
}
COUNT_WITHOUT_LIMIT = re.compile(r"SELECT COUNT\(\*\) AS \"__count\" FROM \"(?P<table>\w+)\"")
DISTINCT_OVER = re.compile(r"SELECT DISTINCT .* FROM \"(?P<table>\w+)\"")


def _placeholders():
    account = CustomerAccount.objects.filter(biller__code=province.GRID_CODE).order_by("pk").first()
    payment = Payment.objects.filter(biller__code=province.GRID_CODE).order_by("pk").first()
    return {
        "account_no": account.account_no,
        "account_prefix": account.account_no[:8],
        "receipt_no": payment.receipt_no,
        "period": Bill.objects.order_by("-period").values_list("period", flat=True).first(),
        "reference": Bill.objects.filter(account=account).values_list("reference", flat=True).first(),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["admin", "operator"])
@pytest.mark.parametrize("table", CHANGE_LISTS)
def test_a_change_list_never_counts_or_scans_a_whole_big_table(client, generated, who, table):
    app, model = table.split("_", 1)
    log_in(client, generated[who])
    values = _placeholders()
    for query in CHANGE_LISTS[table]:
        url = reverse(f"admin:{app}_{model}_changelist") + query.format(**values)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, url
        assert response.context["cl"].result_count > 0, url
        statements = [q["sql"] for q in captured.captured_queries]
        for sql in statements:
            whole_count = COUNT_WITHOUT_LIMIT.search(sql)
            assert not (whole_count and whole_count["table"] in BIG_TABLES), sql
            distinct = DISTINCT_OVER.search(sql)
            assert not (distinct and distinct["table"] in BIG_TABLES[:4]), sql
        assert len(statements) <= 15, (url, statements)


@pytest.mark.django_db
def test_the_operator_sees_only_the_grids_rows(client, generated):
    log_in(client, generated["operator"])
    response = client.get(reverse("admin:billing_payment_changelist"))
    assert {payment.biller.code for payment in response.context["cl"].result_list} == {province.GRID_CODE}
    response = client.get(reverse("admin:billing_journalline_changelist"))
    lines = response.context["cl"].result_list
    assert lines and {line.account.code for line in lines} == {f"PAYABLE:{province.GRID_CODE}"}


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["bill", "payment"])
def test_one_billers_operator_lists_follow_the_biller_id_index(client, generated, model):
    """With `biller_id = 1` PostgreSQL drops the biller from the ordering and walks the whole table's newest
    ids; scoped by a range of the one id and ordered by (biller, id), the (biller, id) index serves it."""
    log_in(client, generated["operator"])
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse(f"admin:billing_{model}_changelist"))
    rows = response.context["cl"].result_list
    assert rows and {row.biller.code for row in rows} == {province.GRID_CODE}
    assert [row.pk for row in rows] == sorted((row.pk for row in rows), reverse=True)
    table = f'"billing_{model}"'
    statements = [q["sql"] for q in captured.captured_queries]
    page = next(
        sql for sql in statements if f"FROM {table}" in sql and "ORDER BY" in sql and "COUNT" not in sql
    )
    assert f'{table}."biller_id" BETWEEN' in page
    assert f'ORDER BY {table}."biller_id" DESC, {table}."id" DESC' in page
    # The capped count walks the same order: unordered, PostgreSQL walked the grid's (biller, id) index
    # from its oldest end, five million paid bills before the first open one (2.3 s at scale 1).
    count = next(sql for sql in statements if f"FROM {table}" in sql and "COUNT" in sql)
    assert f'ORDER BY {table}."biller_id" DESC, {table}."id" DESC LIMIT {COUNT_CAP + 1}' in count


@pytest.mark.django_db
def test_the_paginator_estimates_a_whole_table_and_caps_a_filtered_count(generated):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE billing_bill")
    whole = EstimatedCountPaginator(Bill.objects.order_by("pk"), 100)
    with CaptureQueriesContext(connection) as captured:
        estimate = whole.count
    total = Bill.objects.count()
    if total > COUNT_CAP:  # the estimate is used only past the cap
        assert "reltuples" in captured.captured_queries[0]["sql"]
        assert abs(estimate - total) <= total * 0.1
    else:
        assert estimate == total
    filtered = EstimatedCountPaginator(Bill.objects.filter(status=BillStatus.PAID).order_by("pk"), 100)
    with CaptureQueriesContext(connection) as captured:
        count = filtered.count
    assert count == min(Bill.objects.filter(status=BillStatus.PAID).count(), COUNT_CAP + 1)
    assert "LIMIT" in captured.captured_queries[0]["sql"]
