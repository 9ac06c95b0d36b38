"""Bill files uploaded in the admin: one over the limit is refused on the form before it is read, one with
a 10 MB field is refused in the preview with its reason; neither stores a bill or a job."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.models import Bill, BillImportJob, CustomerAccount
from tests.billing.test_admin_import import HEADER, _preview, csv_file, operator, water  # noqa: F401
from tests.billing.test_untrusted_files import ten_mb_field_csv

pytestmark = pytest.mark.django_db


def nothing_stored():
    return not (Bill.objects.exists() or CustomerAccount.objects.exists() or BillImportJob.objects.exists())


def test_a_bill_file_over_the_limit_is_refused_on_the_form(client, operator, water, settings):  # noqa: F811
    settings.UNTRUSTED_FILE_MAX_BYTES = {**settings.UNTRUSTED_FILE_MAX_BYTES, "bill_file": 200}
    client.force_login(operator)
    response = _preview(client, water, csv_file(*["10000001,张三,2026-01,1.00,2026-02-01,,"] * 10))
    assert response.status_code == 200
    assert "最多接受 200 字节" in str(response.context["form"].errors["import_file"])
    assert nothing_stored()


def test_a_bill_file_with_a_10_mb_field_is_refused_in_the_preview(client, operator, water):  # noqa: F811
    client.force_login(operator)
    response = _preview(client, water, SimpleUploadedFile("bills.csv", ten_mb_field_csv()))
    assert response.status_code == 200
    assert "有字段超过 16384 个字符" in response.content.decode()
    assert response.context.get("confirm_form") is None
    assert nothing_stored()
