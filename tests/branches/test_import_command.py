import pytest
from django.core.management import CommandError, call_command

from branches.models import Branch
from tests.factories import OperatorFactory

pytestmark = pytest.mark.django_db

HEADER = "code,name,operator,district,address,latitude,longitude,weekly_hours,takes_all_billers,"
CSV = (
    HEADER
    + """cash_billers,cash_categories
C-001,文化路便民点,POST,江南区,滨江市文化路1号,30.2,120.2,daily 07:00-22:00,1,,
C-002,人民路便民点,POST,江南区,滨江市人民路2号,300,120.2,daily 07:00-22:00,1,,
C-003,解放路便民点,POST,江南区,,30.2,120.2,daily 07:00-22:00,1,,
"""
)


def test_the_command_reports_row_numbers_and_imports_nothing_on_errors(tmp_path, capsys):
    OperatorFactory()
    path = tmp_path / "branches.csv"
    path.write_text(CSV, encoding="utf-8")
    with pytest.raises(CommandError, match="2 rows have errors"):
        call_command("import_branches", str(path))
    err = capsys.readouterr().err
    assert "row 3: latitude" in err and "row 4: required: address" in err
    assert not Branch.objects.exists()


def test_the_command_imports_a_clean_file(tmp_path, capsys):
    OperatorFactory()
    path = tmp_path / "branches.csv"
    path.write_text("\n".join(CSV.splitlines()[:2]) + "\n", encoding="utf-8")
    call_command("import_branches", str(path))
    assert "1 new" in capsys.readouterr().out
    branch = Branch.objects.get(code="C-001")
    assert branch.opening_hours == "mon-sun 07:00-22:00"
    assert branch.weekly_hours["sun"] == "07:00-22:00"
