"""Branch files from outside (manage.py import_branches): too large, a zip-bomb workbook, a line past the
cap, an unsupported kind — each refused with its code, and no branch stored."""

import io
import zipfile

import pytest
from django.core.management import CommandError, call_command

from branches.models import Branch
from tests.billing.test_untrusted_files import zip_of
from tests.branches.test_import_command import CSV
from tests.factories import OperatorFactory

pytestmark = pytest.mark.django_db


def refused(path) -> str:
    OperatorFactory()
    with pytest.raises(CommandError) as caught:
        call_command("import_branches", str(path))
    assert not Branch.objects.exists()
    return str(caught.value)


def test_a_branch_file_over_its_limit_is_refused(tmp_path, settings):
    settings.UNTRUSTED_FILE_MAX_BYTES = {**settings.UNTRUSTED_FILE_MAX_BYTES, "branch_file": 100}
    path = tmp_path / "branches.csv"
    path.write_text(CSV, encoding="utf-8")
    assert refused(path).startswith("file_too_large:")


def test_a_line_past_the_cap_is_refused(tmp_path):
    path = tmp_path / "branches.csv"
    path.write_text(CSV.splitlines()[0] + "\n" + "C-9," + "x" * 70_000 + "\n", encoding="utf-8")
    assert refused(path).startswith("line_too_long:")


def test_a_workbook_that_is_a_zip_bomb_is_refused_before_it_is_opened(tmp_path):
    path = tmp_path / "branches.xlsx"
    path.write_bytes(zip_of({"[Content_Types].xml": b"<Types/>", "xl/worksheets/sheet1.xml": 16}))
    assert refused(path).startswith("archive_ratio_too_high:")


def test_a_damaged_workbook_is_refused_as_corrupt(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>" * 1000)
    path = tmp_path / "branches.xlsx"
    path.write_bytes(buffer.getvalue()[:-30])
    assert refused(path).startswith("archive_corrupt:")


def test_a_kind_of_file_other_than_csv_or_xlsx_is_refused(tmp_path):
    path = tmp_path / "branches.yaml"
    path.write_text("- code: C-1\n", encoding="utf-8")
    assert refused(path).startswith("file_format_unsupported:")
