"""The fixed taxonomy: every code labelled in both languages, and each reason's response time counted in
China's working days (the operator's overrides included)."""

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from disputes import deadlines, taxonomy
from reconciliation.models import WorkingDayOverride

BEIJING = ZoneInfo("Asia/Shanghai")


def test_every_reason_has_a_label_in_chinese_and_in_english():
    for reason in taxonomy.REASONS:
        with translation.override("en"):
            english = str(reason.label)
        with translation.override("zh-hans"):
            chinese = str(reason.label)
        assert english and chinese and english != chinese, reason.code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese), reason.code


def test_codes_are_unique_d_codes_with_a_category_an_answerer_and_a_rule():
    codes = [reason.code for reason in taxonomy.REASONS]
    assert len(codes) == len(set(codes))
    for reason in taxonomy.REASONS:
        assert reason.code.startswith("D") and 11 <= int(reason.code[1:]) <= 32
        assert reason.category in taxonomy.Category.values
        assert reason.answerer in taxonomy.Answerer.values
        assert reason.working_days >= 1
    assert taxonomy.auto_debit_codes() == ["D11"]


@pytest.mark.django_db
def test_a_debit_raised_on_friday_is_due_at_the_end_of_monday():
    friday = datetime.datetime(2026, 12, 4, 15, 0, tzinfo=BEIJING)
    assert deadlines.due_at("D11", friday) == datetime.datetime(2026, 12, 7, 23, 59, 59, tzinfo=BEIJING)


@pytest.mark.django_db
def test_an_operator_holiday_moves_the_answer_a_working_day_later():
    WorkingDayOverride.objects.create(day=datetime.date(2026, 12, 7), is_working_day=False, note="test")
    friday = datetime.datetime(2026, 12, 4, 15, 0, tzinfo=BEIJING)
    assert deadlines.due_at("D11", friday).date() == datetime.date(2026, 12, 8)
    # Three working days for a wrong amount: Tue 8, Wed 9, Thu 10.
    assert deadlines.due_at("D15", friday).date() == datetime.date(2026, 12, 10)


@pytest.mark.django_db
def test_the_national_day_holiday_is_not_counted():
    # 2026-10-01..07 are off in China's calendar (chinese-calendar); Oct 8 is the first working day.
    raised = datetime.datetime(2026, 9, 30, 10, 0, tzinfo=BEIJING)
    assert deadlines.due_at("D11", raised).date() == datetime.date(2026, 10, 8)
