"""One transition helper (billing/transitions.py) for every lifecycle: a move its table allows is made, any
other is refused with `transition_not_allowed` in the reader's language and changes nothing."""

import pytest
from django.utils import translation

from billing.choices import BILLER_TRANSITIONS, BillerStatus
from billing.exceptions import TransitionNotAllowed
from billing.models import Biller
from billing.transitions import allowed, transition
from reconciliation.choices import DISCREPANCY_TRANSITIONS, DiscrepancyStatus
from reconciliation.exceptions import ReconciliationError, ReconciliationTransitionNotAllowed


def test_an_allowed_move_is_made_and_the_old_status_returned():
    biller = Biller(name="滨江水务", status=BillerStatus.ACTIVE)
    left = transition(biller, BillerStatus.SUSPENDED, table=BILLER_TRANSITIONS, choices=BillerStatus)
    assert (left, biller.status) == (BillerStatus.ACTIVE, BillerStatus.SUSPENDED)


def test_a_forbidden_move_is_refused_with_the_labels_and_changes_nothing():
    biller = Biller(name="滨江水务", status=BillerStatus.CLOSED)
    with translation.override("en"), pytest.raises(TransitionNotAllowed) as refused:
        transition(
            biller, BillerStatus.ACTIVE, table=BILLER_TRANSITIONS, choices=BillerStatus, name=biller.name
        )
    assert refused.value.code == "transition_not_allowed"
    with translation.override("en"):
        assert refused.value.message == (
            f"滨江水务 cannot go from “{BillerStatus.CLOSED.label}” to “{BillerStatus.ACTIVE.label}”."
        )
    assert biller.status == BillerStatus.CLOSED


def test_an_unknown_status_moves_nowhere():
    assert not allowed(BILLER_TRANSITIONS, "archived", BillerStatus.ACTIVE)


def test_an_apps_refusal_is_caught_as_its_own_error_and_as_the_one_domain_exception():
    class Case:
        status = DiscrepancyStatus.RESOLVED

        def __str__(self):
            return "D-1"

    with pytest.raises(ReconciliationTransitionNotAllowed) as refused:
        transition(
            Case(),
            DiscrepancyStatus.ASSIGNED,
            table=DISCREPANCY_TRANSITIONS,
            choices=DiscrepancyStatus,
            error=ReconciliationTransitionNotAllowed,
        )
    assert isinstance(refused.value, ReconciliationError)
    assert isinstance(refused.value, TransitionNotAllowed)
    assert refused.value.code == "transition_not_allowed"
