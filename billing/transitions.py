"""Named status transitions: one guard for every lifecycle of the platform.

Each app keeps its allowed-transitions table beside its choices (`BILLER_TRANSITIONS`,
`BRANCH_TRANSITIONS`, `PARTNER_TRANSITIONS`, `DISCREPANCY_TRANSITIONS`, `COMPLAINT_TRANSITIONS`,
`ORDER_TRANSITIONS`): current status → the statuses it may move to. `transition` checks a move against
the table and makes it, or raises `TransitionNotAllowed` (code `transition_not_allowed`), as django-oscar's
`Order.set_status` does with its `pipeline` and `InvalidOrderStatus`. Callers lock the row first
(`<app>/locks.py`) and save and audit after.
"""

from collections.abc import Mapping

from django.db import models

from billing.exceptions import TransitionNotAllowed

TransitionTable = Mapping[str, frozenset[str]]


def allowed(table: TransitionTable, current: str, target: str) -> bool:
    """Whether the table lets `current` move to `target` (an unknown status moves nowhere)."""
    return target in table.get(current, frozenset())


def refusal(
    *,
    name: str,
    current: str,
    target: str,
    choices: type[models.TextChoices],
    error: type[TransitionNotAllowed] = TransitionNotAllowed,
) -> TransitionNotAllowed:
    """The one refusal of a move: `<name> cannot go from “<current>” to “<target>”` in the reader's
    language, with the statuses' labels."""
    return error(
        "transition_not_allowed", object=name, current=choices(current).label, target=choices(target).label
    )


def transition(
    obj: models.Model,
    target: str,
    *,
    table: TransitionTable,
    choices: type[models.TextChoices],
    field: str = "status",
    name: str | None = None,
    error: type[TransitionNotAllowed] = TransitionNotAllowed,
) -> str:
    """Move `obj.<field>` to `target` if the table allows it, in memory; returns the status it left.

    `name` is how the refusal names the object (its `str` by default); `error` a subclass of
    `TransitionNotAllowed` when an app's callers catch its own error class too."""
    current = getattr(obj, field)
    if not allowed(table, current, target):
        raise refusal(
            name=str(obj) if name is None else name,
            current=current,
            target=target,
            choices=choices,
            error=error,
        )
    setattr(obj, field, target)
    return current
