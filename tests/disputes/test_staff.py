"""Platform staff answer disputes from the admin (the changelist's action with its answer text); a role
that does not answer disputes is refused and nothing changes."""

import pytest
from django.urls import reverse

from billing import roles
from disputes import services
from disputes.exceptions import DisputeError
from disputes.models import Dispute
from tests.support import log_in, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def doubled(acme_payment):
    return services.raise_dispute(
        channel="partner", source="ACME", reason="D13", receipt_no=acme_payment.receipt_no
    )


def test_an_officer_answers_a_dispute_from_the_admin(client, django_user_model, doubled):
    officer = make_staff(django_user_model, "frank", roles.RECONCILIATION_OFFICER)
    log_in(client, officer)
    changelist = reverse("admin:disputes_dispute_changelist")
    assert doubled.ref in client.get(changelist).content.decode()
    client.post(
        changelist,
        {
            "action": "answer_selected",
            "_selected_action": [doubled.pk],
            "answer": "只扣了一次，另一笔是预授权。",
        },
    )
    doubled.refresh_from_db()
    assert doubled.status == "resolved" and doubled.answer == "只扣了一次，另一笔是预授权。"


def test_a_clerk_cannot_answer_a_dispute(django_user_model, doubled):
    clerk = make_staff(django_user_model, "dave", roles.BRANCH_CLERK)
    with pytest.raises(DisputeError) as refused:
        services.answer_dispute(dispute=doubled, answer="ok", actor=clerk)
    assert refused.value.code == "dispute_no_permission"
    assert Dispute.objects.get(pk=doubled.pk).status == "open"


def test_an_answer_to_a_closed_dispute_is_refused(django_user_model, doubled):
    officer = make_staff(django_user_model, "frank", roles.RECONCILIATION_OFFICER)
    services.close_dispute(dispute=doubled)
    with pytest.raises(DisputeError) as refused:
        services.answer_dispute(dispute=doubled, answer="late", actor=officer)
    assert refused.value.code == "dispute_closed"
