"""The branch registry in the admin: status changes and planned closures go through the services, imports
are for platform admins only, and branch staff see their own branch's records."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import roles
from branches.choices import BranchStatus, ClosureStatus
from branches.models import BranchStatusChange, PlannedClosure
from tests.support import log_in, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model):
    return make_staff(django_user_model, "alice", roles.PLATFORM_ADMIN)


def test_the_status_action_suspends_through_the_service(client, alice, branch_x):
    log_in(client, alice)
    response = client.post(
        reverse("admin:branches_branch_changelist"),
        {
            "action": "change_status",
            "_selected_action": [branch_x.pk],
            "apply": "1",
            "to_status": BranchStatus.SUSPENDED,
            "reason": "装修",
            "until": (timezone.localdate() + datetime.timedelta(days=7)).isoformat(),
        },
    )
    assert response.status_code == 302
    branch_x.refresh_from_db()
    assert branch_x.status == BranchStatus.SUSPENDED
    assert BranchStatusChange.objects.get().actor == alice


def test_the_status_action_shows_a_refusal(client, alice, branch_x):
    log_in(client, alice)
    response = client.post(
        reverse("admin:branches_branch_changelist"),
        {"action": "change_status", "_selected_action": [branch_x.pk], "apply": "1", "to_status": "closed"},
        follow=True,
    )
    assert response.status_code == 200
    branch_x.refresh_from_db()
    assert branch_x.status == BranchStatus.OPEN


def test_a_planned_closure_added_in_the_admin_needs_notice(client, alice, branch_x):
    log_in(client, alice)
    url = reverse("admin:branches_plannedclosure_add")
    soon = {
        "branch": branch_x.pk,
        "to_status": "closed",
        "reason": "撤点",
        "starts_on": timezone.localdate().isoformat(),
    }
    response = client.post(url, soon)
    assert response.status_code == 200 and not PlannedClosure.objects.exists()
    later = {**soon, "starts_on": (timezone.localdate() + datetime.timedelta(days=30)).isoformat()}
    assert client.post(url, later).status_code == 302
    closure = PlannedClosure.objects.get()
    assert closure.status == ClosureStatus.PLANNED and closure.planned_by == alice


def test_only_platform_admins_may_import_branches(client, alice, dave):
    log_in(client, dave)
    assert client.get(reverse("admin:branches_branch_import")).status_code == 403
    log_in(client, alice)
    assert client.get(reverse("admin:branches_branch_import")).status_code == 200


def test_the_coverage_page_is_for_staff_roles_only(client, dave, sam, branch_x, water):
    log_in(client, dave)
    assert client.get(reverse("counter:coverage")).status_code == 403
    log_in(client, sam)
    response = client.get(reverse("counter:coverage"))
    assert response.status_code == 200 and "滨江区" in response.text
