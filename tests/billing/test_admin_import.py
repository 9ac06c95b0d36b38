"""Bill import and exports in the admin: preview then confirm, partial imports, background imports with a
progress page and an error report, role scoping, formula-safe CSV and XLSX exports."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from billing import roles
from billing.models import AuditEvent, Bill, BillerStaff, BillImportJob
from branches.models import BranchStaff
from tests.factories import BillerFactory, BillFactory, BranchFactory, CustomerAccountFactory
from tests.support import log_in, make_staff

pytestmark = pytest.mark.django_db

HEADER = "account_no,customer_name,period,amount_due,due_date,late_fee,reference\n"
IMPORT_URL = "/admin/billing/bill/import/"
PROCESS_URL = "/admin/billing/bill/process_import/"


def csv_file(*lines, encoding="utf-8", name="bills.csv"):
    return SimpleUploadedFile(name, (HEADER + "".join(line + "\n" for line in lines)).encode(encoding))


@pytest.fixture
def water():
    return BillerFactory(code="WATER", name="滨江水务", account_pattern=r"^\d{8}$")


@pytest.fixture
def power():
    return BillerFactory(code="POWER", name="滨江电力", account_pattern=r"^\d{8}$")


def _staff(django_user_model, username, role, **links):
    user = make_staff(django_user_model, username, role)
    if "biller" in links:
        BillerStaff.objects.create(user=user, biller=links["biller"])
    if "branch" in links:
        BranchStaff.objects.create(user=user, branch=links["branch"])
    return user


@pytest.fixture
def operator(django_user_model, water):
    return _staff(django_user_model, "olivia", roles.BILLER_OPERATOR, biller=water)


def _preview(client, biller, upload, partial=False):
    data = {"biller": biller.pk, "import_file": upload, "format": "0", "resource": ""}
    if partial:
        data["partial"] = "on"
    return client.post(IMPORT_URL, data)


def _confirm(client, response):
    form = response.context["confirm_form"]
    data = {name: form.initial.get(name, "") for name in form.fields}
    data["partial"] = "on" if form.initial.get("partial") else ""
    return client.post(PROCESS_URL, data)


def test_an_operator_previews_then_confirms_a_file_of_its_own_biller(client, operator, water):
    log_in(client, operator)
    page = client.get(IMPORT_URL)
    assert page.status_code == 200
    assert list(page.context["form"].fields["biller"].queryset) == [water]

    preview = _preview(client, water, csv_file('10000001,张三,2026-01,"1,234.50",2026/1/5,,', encoding="gbk"))
    assert preview.status_code == 200
    assert preview.context["confirm_form"] is not None
    assert "1,234.50" in preview.content.decode()
    assert Bill.objects.count() == 0  # a preview writes nothing

    done = _confirm(client, preview)
    assert done.status_code == 302
    bill = Bill.objects.get()
    assert (bill.biller, str(bill.amount_due)) == (water, "1234.50")
    event = AuditEvent.objects.get(action="bills.imported")
    assert (event.actor, event.data["source"], event.data["created"]) == (operator, "admin", "1")


def test_a_file_with_errors_is_shown_with_row_column_and_reason_and_cannot_be_confirmed(
    client, operator, water
):
    log_in(client, operator)
    preview = _preview(
        client, water, csv_file("10000001,张三,2026-01,10,2026-02-01,,", "1234,李四,2026-13,-5,2026-02-01,,")
    )
    assert preview.context.get("confirm_form") is None
    errors = [(e.row, e.column, e.code) for e in preview.context["result"].billpay_errors]
    assert errors == [
        (3, "account_no", "account_no_invalid"),
        (3, "period", "period_invalid"),
        (3, "amount_due", "amount_negative"),
    ]
    html = preview.content.decode()
    assert "bill-import-error" in html and "data:text/csv" in html
    assert Bill.objects.count() == 0


def test_partial_offers_the_valid_rows_and_imports_them(client, operator, water):
    log_in(client, operator)
    preview = _preview(
        client,
        water,
        csv_file("10000001,张三,2026-01,10,2026-02-01,,", "1234,李四,2026-01,5,2026-02-01,,"),
        partial=True,
    )
    assert preview.context["confirm_form"] is not None
    assert len(preview.context["result"].billpay_errors) == 1
    _confirm(client, preview)
    assert list(Bill.objects.values_list("account__account_no", flat=True)) == ["10000001"]


def test_an_operator_cannot_import_into_another_biller(client, operator, power):
    log_in(client, operator)
    response = _preview(client, power, csv_file("10000001,张三,2026-01,10,2026-02-01,,"))
    assert response.status_code == 200
    assert "biller" in response.context["form"].errors
    assert Bill.objects.count() == 0


def test_roles_without_bill_edit_rights_get_no_import(client, django_user_model):
    clerk = _staff(django_user_model, "carl", roles.BRANCH_CLERK, branch=BranchFactory())
    auditor = _staff(django_user_model, "audrey", roles.AUDITOR)
    for user in (clerk, auditor):
        log_in(client, user)
        assert client.get(IMPORT_URL).status_code == 403


@pytest.fixture
def small_async(settings):
    settings.BILL_IMPORT_ASYNC_ROWS = 2


def test_a_large_file_runs_in_the_background_with_progress_and_an_error_report(
    client, operator, water, small_async, django_capture_on_commit_callbacks
):
    log_in(client, operator)
    preview = _preview(
        client,
        water,
        csv_file(
            *[f"{10000000 + n},户{n},2026-01,{n + 1},2026-02-01,," for n in range(5)],
            "1,坏,2026-01,1,2026-02-01,,",
        ),
        partial=True,
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = _confirm(client, preview)
    job = BillImportJob.objects.get()
    assert response.url == reverse("admin:billing_bill_import_job", args=[job.pk])
    page = client.get(response.url)
    assert page.status_code == 200 and b"<progress" in page.content
    fragment = client.get(reverse("admin:billing_bill_import_job_fragment", args=[job.pk])).content.decode()
    assert "新增 5 张账单" in fragment
    assert "hx-get" not in fragment and "hx-get" not in page.content.decode()  # finished: nothing polls
    status = client.get(reverse("admin:billing_bill_import_job_status", args=[job.pk])).json()
    assert (status["status"], status["percent"], status["error_count"]) == ("done", 100, 1)
    assert status["summary"]["created"] == 5
    report = client.get(reverse("admin:billing_bill_import_job_errors", args=[job.pk]))
    lines = report.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "row,column,code,reason"
    assert lines[1].startswith("7,account_no,account_no_invalid,")
    job.refresh_from_db()
    assert bytes(job.data) == b""  # the file is not kept


def test_another_billers_operator_cannot_see_the_job(client, operator, water, power, django_user_model):
    job = BillImportJob.objects.create(biller=water, created_by=operator, file_name="x.csv", data=b"")
    other = _staff(django_user_model, "peter", roles.BILLER_OPERATOR, biller=power)
    log_in(client, other)
    for name in (
        "admin:billing_bill_import_job",
        "admin:billing_bill_import_job_status",
        "admin:billing_bill_import_job_fragment",
        "admin:billing_bill_import_job_errors",
    ):
        assert client.get(reverse(name, args=[job.pk])).status_code == 404


# Exports --------------------------------------------------------------------------------------------


def _export(client, url, resource_prefix, fields, fmt="0"):
    data = {"format": fmt, "resource": "0"}
    data.update({f"{resource_prefix}_{name}": "on" for name in fields})
    return client.post(url, data)


BILL_FIELDS = ["biller", "account_no", "customer_name", "period", "amount_due", "reference", "status"]


def test_exports_neutralise_formulas_in_csv_and_xlsx(client, admin_user, water):
    account = CustomerAccountFactory(
        biller=water, account_no="10000001", holder_name='=HYPERLINK("http://x")'
    )
    BillFactory(account=account, reference="@SUM(A1)")
    BillFactory(
        account=CustomerAccountFactory(biller=water, account_no="10000002", holder_name="+1"), reference="\tx"
    )
    log_in(client, admin_user)
    response = _export(client, "/admin/billing/bill/export/", "billresource", BILL_FIELDS)
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'@SUM(A1)" in text and "'+1" in text and "'\tx" in text
    assert ",=HYPERLINK" not in text

    response = _export(client, "/admin/billing/bill/export/", "billresource", BILL_FIELDS, fmt="1")
    sheet = load_workbook(io.BytesIO(response.content)).active
    cells = [cell for row in sheet.iter_rows(values_only=True) for cell in row if isinstance(cell, str)]
    assert '\'=HYPERLINK("http://x")' in cells
    assert not any(cell.startswith(("=", "+", "@", "\t")) for cell in cells)


def test_an_operator_exports_only_its_own_billers_rows(client, operator, water, power):
    BillFactory(account=CustomerAccountFactory(biller=water, account_no="10000001"))
    BillFactory(account=CustomerAccountFactory(biller=power, account_no="20000001"))
    log_in(client, operator)
    text = _export(client, "/admin/billing/bill/export/", "billresource", BILL_FIELDS).content.decode(
        "utf-8-sig"
    )
    assert "10000001" in text and "20000001" not in text
    text = _export(
        client, "/admin/billing/customeraccount/export/", "accountresource", ["biller", "account_no"]
    ).content.decode("utf-8-sig")
    assert "WATER" in text and "POWER" not in text


EXPORTS = {
    "bills": "/admin/billing/bill/export/",
    "accounts": "/admin/billing/customeraccount/export/",
    "payments": "/admin/billing/payment/export/",
    "bill import": IMPORT_URL,
}
# Written by hand: who may export what, and who may import bills (those who may add and change them).
EXPORTS_AND_IMPORT = {
    roles.PLATFORM_ADMIN: {"bills": 200, "accounts": 200, "payments": 200, "bill import": 200},
    roles.BILLER_OPERATOR: {"bills": 200, "accounts": 200, "payments": 200, "bill import": 200},
    roles.BRANCH_SUPERVISOR: {"bills": 403, "accounts": 403, "payments": 200, "bill import": 403},
    roles.BRANCH_CLERK: {"bills": 403, "accounts": 403, "payments": 200, "bill import": 403},
    roles.RECONCILIATION_OFFICER: {"bills": 403, "accounts": 403, "payments": 200, "bill import": 403},
    roles.AUDITOR: {"bills": 200, "accounts": 200, "payments": 200, "bill import": 403},
}


@pytest.mark.parametrize("role", roles.STAFF_ROLES)
def test_every_role_gets_exactly_the_exports_and_import_its_rights_allow(client, django_user_model, role):
    """The matrix for exports and the import: answered (200) or refused (403) as written above."""
    user = _staff(django_user_model, "someone", role, branch=BranchFactory())
    log_in(client, user)
    answers = {name: client.get(url).status_code for name, url in EXPORTS.items()}
    assert answers == EXPORTS_AND_IMPORT[role]


def test_the_preview_speaks_chinese_names_each_column_and_shows_no_placeholder_dashes(
    client, operator, water
):
    log_in(client, operator)
    bad = _preview(client, water, csv_file("1234,李四,2026-13,10,2026-02-01,,"))
    html = bad.content.decode()
    assert "部分行未通过校验" in html and "验数据证" not in html
    assert "<td>---</td>" not in html
    assert "<strong>户号 (account_no)</strong>" in html and "<strong>账期 (period)</strong>" in html
    good = _preview(client, water, csv_file("10000001,张三,2026-01,10,2026-02-01,,")).content.decode()
    assert "<th>户号 (account_no)</th>" in good and "<th>参考号 (reference)</th>" in good
