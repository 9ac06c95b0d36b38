"""The public outlet finder: no login, outlets that take cash for a biller, by district or nearest."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from branches import services
from branches.choices import BranchStatus
from branches.selectors import haversine_km
from tests.factories import BranchFactory

pytestmark = pytest.mark.django_db


def test_haversine_distance_between_two_points_is_right():
    # Shanghai People's Square to Hangzhou West Lake: about 165 km as the crow flies.
    assert 160 < haversine_km(31.2304, 121.4737, 30.2590, 120.1300) < 170


def test_the_finder_needs_no_login_and_lists_outlets_nearest_first(client, branch_x, branch_y, water):
    far = BranchFactory(
        code="BR-FAR",
        name="远处网点",
        district="西山区",
        latitude=Decimal("30.5"),
        longitude=Decimal("120.5"),
    )
    response = client.get(reverse("outlets:finder"), {"biller": "WATER", "lat": "30.209", "lng": "120.209"})
    assert response.status_code == 200
    codes = [o.branch.code for o in response.context["outlets"]]
    assert codes == ["BR-Y", "BR-X", "BR-FAR"]
    assert far.name in response.text


def test_the_finder_filters_by_district(client, branch_x, water):
    BranchFactory(code="BR-W", district="西山区")
    response = client.get(reverse("outlets:finder"), {"biller": "WATER", "district": "西山区"})
    assert [o.branch.code for o in response.context["outlets"]] == ["BR-W"]


def test_outlets_that_do_not_take_the_biller_are_not_listed(client, branch_x, branch_y, water):
    from billing.models import BillerCategory

    branch_y.takes_all_billers = False
    branch_y.save()
    branch_y.cash_categories.set([BillerCategory.objects.get(code="electricity")])
    response = client.get(reverse("outlets:finder"), {"biller": "WATER", "district": "滨江区"})
    assert [o.branch.code for o in response.context["outlets"]] == ["BR-X"]


def test_a_suspended_outlet_shows_its_dates_and_the_nearest_alternatives(
    client, branch_x, branch_y, admin_user
):
    until = timezone.localdate() + datetime.timedelta(days=14)
    services.change_branch_status(
        branch=branch_x, to_status=BranchStatus.SUSPENDED, actor=admin_user, reason="内部装修", until=until
    )
    response = client.get(reverse("outlets:detail", args=["BR-X"]))
    assert response.status_code == 200
    assert "内部装修" in response.text and until.isoformat() in response.text
    assert [o.branch.code for o in response.context["alternatives"]] == ["BR-Y"]


def test_a_planned_closure_is_shown_in_advance(client, branch_x, admin_user):
    starts = timezone.localdate() + datetime.timedelta(days=30)
    services.plan_closure(
        branch=branch_x, to_status=BranchStatus.CLOSED, starts_on=starts, reason="网点撤并", actor=admin_user
    )
    response = client.get(reverse("outlets:finder"), {"district": "滨江区"})
    assert "网点撤并" in response.text and starts.isoformat() in response.text


def test_todays_hours_and_open_now_come_from_the_weekly_hours(branch_x):
    from branches.selectors import hours_on, open_now

    branch_x.weekly_hours = {"mon": "08:30-17:30", "sat": "09:00-12:00"}
    monday = datetime.date(2026, 11, 23)
    assert hours_on(branch_x, monday) == "08:30-17:30"
    assert hours_on(branch_x, monday + datetime.timedelta(days=1)) == ""
    tz = timezone.get_current_timezone()
    assert open_now(branch_x, datetime.datetime(2026, 11, 23, 9, 0, tzinfo=tz)) is True
    assert open_now(branch_x, datetime.datetime(2026, 11, 23, 18, 0, tzinfo=tz)) is False


def test_an_outlet_closing_soon_shows_the_alternatives_that_take_the_biller(
    client, branch_x, branch_y, admin_user, water
):
    from billing.models import BillerCategory

    services.plan_closure(
        branch=branch_x,
        to_status=BranchStatus.CLOSED,
        starts_on=timezone.localdate() + datetime.timedelta(days=30),
        reason="网点撤并",
        actor=admin_user,
    )
    BranchFactory(code="BR-Z", latitude=Decimal("30.201"), longitude=Decimal("120.201"))
    branch_y.takes_all_billers = False
    branch_y.save()
    branch_y.cash_categories.set([BillerCategory.objects.get(code="electricity")])
    response = client.get(reverse("outlets:detail", args=["BR-X"]), {"biller": "WATER"})
    assert "网点撤并" in response.text
    assert [o.branch.code for o in response.context["alternatives"]] == ["BR-Z"]


def test_with_a_province_of_cash_billers_the_finder_asks_for_a_name_instead_of_listing_them(
    client, branch_x, water, monkeypatch
):
    """Past FINDER_BILLER_CHOICES billers no drop-down is rendered (19,000 cost 0.6 s a page, issue 16):
    the citizen types a name, picks one of the matches, and the outlets are those taking its cash."""
    from branches import views
    from tests.factories import BillerFactory

    for n in range(3):
        BillerFactory(code=f"GAS{n}", name=f"燃气公司{n}", accepts_cash=True)
    monkeypatch.setattr(views, "FINDER_BILLER_CHOICES", 2)
    url = reverse("outlets:finder")

    page = client.get(url)
    assert 'id="id_biller"' not in page.text and 'name="biller_q"' in page.text

    found = client.get(url, {"biller_q": "燃气公司1"})
    assert [b.code for b in found.context["matches"]] == ["GAS1"]
    assert "biller=GAS1" in found.text

    chosen = client.get(url, {"biller": "WATER", "district": branch_x.district})
    assert chosen.context["biller"] == water
    assert 'type="hidden" name="biller" value="WATER"' in chosen.text
    assert [o.branch.code for o in chosen.context["outlets"]] == ["BR-X"]

    none = client.get(url, {"biller_q": "没有这家"})
    assert none.context["matches"] == [] and "没有这个名称的可收现金的缴费单位" in none.text
