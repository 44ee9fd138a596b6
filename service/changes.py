"""Write one need's change (from :func:`lifecycle.changes.change`) to the session's objects."""

from __future__ import annotations

from sqlalchemy.orm import Session

from lifecycle.changes import NeedChange, history_rows
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
