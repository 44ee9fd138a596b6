"""Reads for the outcome figures: every need with when it was reported and when it was done."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.db import rows_frame
from store.models import Assignment, Cycle, Grid, Need


def read_need_outcomes(session: Session, done_statuses: Sequence[str]) -> pd.DataFrame:
    """need_id, community_id, urgency, submitted_at, done_on (the completion date of its assignment
    in one of ``done_statuses``, the latest when there are several; NaT while not done)."""
    done = (
        select(Assignment.need_id, func.max(Assignment.completed_on).label("done_on"))
        .where(Assignment.status.in_(list(done_statuses)))
        .group_by(Assignment.need_id)
        .subquery()
    )
    q = (
        select(Need.id.label("need_id"), Grid.community_id, Need.urgency, Need.submitted_at, done.c.done_on)
        .join(Grid, Grid.id == Need.grid_id)
        .outerjoin(done, done.c.need_id == Need.id)
        .order_by(Need.id)
    )
    return rows_frame(session, q)


def first_cycle_start(session: Session) -> date | None:
    """The first day of the first match cycle: outcomes are reported from its quarter on."""
    return session.scalar(select(func.min(Cycle.period_start)))
