"""Row locks of the counters and branches. A branch (or a planned closure, then its branch) is locked
before a till, and a till (or an agent) before anything a payment locks (billing.locks: account → bills)."""

from branches.models import Agent, Branch, PlannedClosure, Till


def lock_branch(branch_id: int) -> Branch:
    return Branch.objects.select_for_update().get(pk=branch_id)


def lock_closure(closure_id: int) -> PlannedClosure:
    return PlannedClosure.objects.select_for_update().get(pk=closure_id)


def lock_closure_with_branch(closure_id: int) -> PlannedClosure:
    """The closure row (its branch is read with it, and locked by the status change that follows)."""
    return PlannedClosure.objects.select_for_update().select_related("branch").get(pk=closure_id)


def lock_till(till_id: int) -> Till | None:
    return Till.objects.select_for_update().select_related("branch").filter(pk=till_id).first()


def lock_agent(agent_id: int):
    """The agent row: held while its float is checked and a payment or a top-up is written, so two
    payments racing for the float's last yuan are decided one after the other (before billing's locks)."""
    return Agent.objects.select_for_update().filter(pk=agent_id).first()
