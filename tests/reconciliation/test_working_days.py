"""T+1 in China's working days: public holidays and swapped working days (调休) from chinese-calendar,
the operator's overrides in the admin, weekends alone for a year the package does not know; a day is
settled only once it is closed, and the remittance carries the value date."""

import datetime
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import roles
from billing.models import AuditEvent
from branches.choices import TillStatus
from reconciliation import services, working_days
from reconciliation.choices import RunStatus
from reconciliation.exceptions import ReconciliationError
from reconciliation.models import ReconciliationRun, SettlementBatch, SettlementRun, WorkingDayOverride
from tests.reconciliation.conftest import CHANNEL, billpay_csv
from tests.support import log_in, make_staff

pytestmark = pytest.mark.django_db

D = datetime.date


@pytest.mark.parametrize(
    ("day", "next_one"),
    [
        (D(2025, 9, 26), D(2025, 9, 28)),  # Friday → the Sunday worked for National Day (调休)
        (D(2025, 9, 30), D(2025, 10, 9)),  # National Day and Mid-Autumn: 1-8 October off
        (D(2025, 10, 10), D(2025, 10, 11)),  # Friday → the Saturday worked
        (D(2026, 9, 18), D(2026, 9, 20)),  # 2026: Sunday 20 September is worked
        (D(2026, 9, 30), D(2026, 10, 8)),  # 1-7 October 2026 off
        (D(2026, 10, 9), D(2026, 10, 10)),  # and Saturday 10 October worked
        (D(2026, 2, 13), D(2026, 2, 14)),  # Spring Festival 2026: Saturday 14 February worked
        (D(2026, 2, 14), D(2026, 2, 24)),  # 15-23 February off
        (D(2026, 12, 4), D(2026, 12, 7)),  # an ordinary weekend
    ],
)
def test_the_next_working_day_follows_chinas_calendar(day, next_one):
    assert working_days.next_working_day(day) == next_one


def test_a_year_the_package_does_not_know_has_weekends_only_until_the_operator_says_more():
    new_year = D(2027, 1, 1)  # a Friday, certainly a holiday, but not in chinese-calendar 1.11
    assert working_days.calendar_source(new_year) == working_days.FROM_WEEKENDS
    assert working_days.is_working_day(new_year) and not working_days.is_working_day(D(2027, 1, 2))
    WorkingDayOverride.objects.create(day=new_year, is_working_day=False, note="元旦")
    assert working_days.calendar_source(new_year) == working_days.FROM_OPERATOR
    assert working_days.next_working_day(D(2026, 12, 31)) == D(2027, 1, 4)


def test_an_override_makes_a_published_working_day_a_day_off_and_back():
    WorkingDayOverride.objects.create(day=D(2026, 10, 10), is_working_day=False, note="银行系统升级")
    assert working_days.next_working_day(D(2026, 10, 9)) == D(2026, 10, 12)
    WorkingDayOverride.objects.create(day=D(2026, 10, 11), is_working_day=True, note="补班")
    assert working_days.next_working_day(D(2026, 10, 9)) == D(2026, 10, 11)


def test_a_day_settles_on_its_next_working_day_not_before():
    with pytest.raises(ReconciliationError) as caught:
        services.settle_day(day=D(2026, 9, 30), as_of=D(2026, 10, 7))
    assert caught.value.code == "day_settles_later" and "2026-10-08" in caught.value.message
    assert not SettlementRun.objects.exists()
    assert services.settle_day(day=D(2026, 9, 30), as_of=D(2026, 10, 8)).status == RunStatus.DONE


def test_a_day_not_over_or_still_reconciling_or_with_an_open_till_is_refused(today, till):
    with pytest.raises(ReconciliationError) as caught:
        services.check_day_closed(today)
    assert caught.value.code == "day_not_over"
    later = working_days.next_working_day(today)
    assert till.business_date == today and till.status == TillStatus.OPEN
    with pytest.raises(ReconciliationError) as caught:
        services.check_day_closed(today, later)
    assert caught.value.code == "day_tills_open"
    till.status = TillStatus.CLOSED
    till.save(update_fields=["status"])
    ReconciliationRun.objects.create(channel_code=CHANNEL, business_date=today, status=RunStatus.LOADING)
    with pytest.raises(ReconciliationError) as caught:
        services.check_day_closed(today, later)
    assert caught.value.code == "day_reconciliation_running"


def test_the_remittance_shows_the_value_date_after_a_bank_holiday(shop, today):
    holiday = today + datetime.timedelta(days=1)
    WorkingDayOverride.objects.create(day=holiday, is_working_day=False, note="银行休息")
    value = working_days.next_working_day(holiday)
    paid = shop.pay("88.00")
    services.reconcile_file(
        channel_code=CHANNEL,
        business_date=today,
        data=billpay_csv(today, [("PAYMENT", paid.channel_ref, "88.00", "", None)]),
        file_name="s.csv",
    )
    with pytest.raises(ReconciliationError):
        services.settle_day(day=today, as_of=holiday)
    services.settle_day(day=today, as_of=value)
    batch = SettlementBatch.objects.get()
    assert batch.value_date == value and batch.net == Decimal("88.00")
    assert batch.remittance_csv.splitlines()[0].endswith(f",{today:%Y-%m-%d},{value:%Y-%m-%d}")
    assert "<ValDt>" in batch.remittance_xml and f"<Dt>{value:%Y-%m-%d}</Dt>" in batch.remittance_xml


def test_a_day_settled_late_is_value_dated_from_the_settlement_on():
    assert working_days.value_date(D(2026, 9, 30), D(2026, 10, 8)) == D(2026, 10, 8)
    assert working_days.value_date(D(2026, 9, 30), D(2026, 10, 3)) == D(2026, 10, 8)
    assert working_days.value_date(D(2026, 9, 25), D(2026, 10, 4)) == D(2026, 10, 8)


def test_the_operator_overrides_a_day_in_the_admin_and_it_is_audited(client, django_user_model):
    admin_user = make_staff(django_user_model, "olga", roles.PLATFORM_ADMIN)
    log_in(client, admin_user)
    response = client.post(
        reverse("admin:reconciliation_workingdayoverride_add"),
        {"day": "2026-12-07", "is_working_day": "", "note": "清算系统停机"},
    )
    assert response.status_code == 302
    override = WorkingDayOverride.objects.get()
    assert (override.day, override.is_working_day, override.created_by) == (D(2026, 12, 7), False, admin_user)
    assert AuditEvent.objects.filter(
        target_type="reconciliation.workingdayoverride", action="admin.added"
    ).exists()
    assert working_days.next_working_day(D(2026, 12, 4)) == D(2026, 12, 8)


def test_an_officer_settles_a_day_from_the_admin_and_sees_its_progress(
    client, officer, today, settleable_day, django_capture_on_commit_callbacks
):
    log_in(client, officer)
    url = reverse("admin:reconciliation_settlementbatch_settle")
    refused = client.post(url, {"day": today.isoformat()})
    assert refused.status_code == 200 and "尚未结束" in str(refused.context["form"].errors["day"])
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(url, {"day": settleable_day.isoformat()})
    assert started.status_code == 302 and started.url == reverse(
        "admin:reconciliation_settlementrun_changelist"
    )
    run = SettlementRun.objects.get(business_date=settleable_day)
    assert run.status == RunStatus.DONE and run.percent == 100
    page = client.get(started.url)
    assert '<progress max="100" value="100">' in page.text
    assert reverse("admin:reconciliation_settlementrun_settle") in page.text


def test_the_settle_action_reruns_chosen_days_and_refuses_one_not_closed(
    client, officer, today, settleable_day, django_capture_on_commit_callbacks
):
    failed = SettlementRun.objects.create(
        business_date=settleable_day, status=RunStatus.FAILED, error="worker killed"
    )
    early = SettlementRun.objects.create(business_date=today, status=RunStatus.FAILED)
    log_in(client, officer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:reconciliation_settlementrun_changelist"),
            {"action": "settle", "_selected_action": [failed.pk, early.pk]},
            follow=True,
        )
    failed.refresh_from_db()
    early.refresh_from_db()
    assert failed.status == RunStatus.DONE and early.status == RunStatus.FAILED
    shown = [str(m) for m in response.context["messages"]]
    assert any("尚未结束" in m for m in shown) and any(str(settleable_day) in m for m in shown)


def test_an_auditor_cannot_settle(client, auditor, today):
    log_in(client, auditor)
    assert client.get(reverse("admin:reconciliation_settlementbatch_settle")).status_code == 403


@pytest.mark.parametrize(
    ("role", "may_settle"),
    [(roles.AUDITOR, False), (roles.RECONCILIATION_OFFICER, True), (roles.PLATFORM_ADMIN, True)],
)
def test_the_settle_link_shows_only_to_those_the_settle_page_lets_in(
    client, django_user_model, role, may_settle
):
    """The batch and run lists offer "Settle a day" (and the batch list its confirmation import) only to a
    role whose click the page would not answer with 403."""
    log_in(client, make_staff(django_user_model, "settler", role))
    for model in ("settlementbatch", "settlementrun"):
        settle = reverse(f"admin:reconciliation_{model}_settle")
        page = client.get(reverse(f"admin:reconciliation_{model}_changelist"))
        assert page.status_code == 200
        assert (f'href="{settle}"' in page.text) is may_settle, (role, model)
        assert (client.get(settle).status_code == 200) is may_settle, (role, model)
    confirm = reverse("admin:reconciliation_settlementbatch_confirm")
    page = client.get(reverse("admin:reconciliation_settlementbatch_changelist"))
    assert (f'href="{confirm}"' in page.text) is may_settle, role


def test_the_settle_form_offers_its_day_in_the_form_a_date_field_reads(client, django_user_model):
    """Walking a fresh demo: the form pre-filled "2026/12/01", which a browser's date field shows as empty,
    so pressing submit did nothing. A date input takes ISO 8601 whatever the language."""
    log_in(client, make_staff(django_user_model, "settler", roles.RECONCILIATION_OFFICER))
    page = client.get(reverse("admin:reconciliation_settlementbatch_settle")).text
    (value,) = re.findall(r'<input type="date" name="day" value="([^"]*)"', page)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value), value
