"""Write one need's change (from :func:`lifecycle.changes.change`) to the session's objects."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from lifecycle.changes import NeedChange, change, history_rows
from lifecycle.states import Action
from store.cycle import append_history
from store.models import Assignment, Need


def apply_change(
    session: Session, c: NeedChange, need: Need, a: Assignment | None, changes: list[NeedChange] | None
) -> None:
    """The need's and the assignment's new status as the transition says, the history row, and the
    change kept in ``changes`` (for its Prefect event once the transaction commits)."""
    need.status = str(c.step.need_to)
    if a is not None and c.step.assignment_to is not None:
        a.status = str(c.step.assignment_to)
    if c.level_to is not None:
        need.escalation_level, need.cycles_unserved = c.level_to, 0
    append_history(session, history_rows([c]))
    if changes is not None:
        changes.append(c)


def change_of(
    action: Action | str,
    need: Need,
    a: Assignment | None,
    *,
    at: datetime,
    actor: str,
    reason: str,
    **extra: object,
) -> NeedChange:
    """The change ``action`` makes to this need (and its assignment), with the event's context:
    cycle, unit, grid, item and urgency. Raises ``IllegalTransition``."""
    context = {"grid_id": need.grid_id, "item_code": need.item_code, "urgency": need.urgency}
    if a is not None:
        context |= {"cycle_id": a.cycle_id, "unit_id": a.unit_id}
    return change(
        action,
        need.id,
        need.status,
        None if a is None else a.status,
        at=at,
        actor=actor,
        reason=reason,
        **(context | extra),
    )
